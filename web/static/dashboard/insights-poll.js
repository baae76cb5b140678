// The Insights tab while a run is computing: ask the API for the run's status, and show
// the page again when it has finished. Every 2 s at first, then less often (a run waiting
// for a worker that is down could wait a long time), never while the tab is hidden, and
// not at all once the API refuses (signed out, the run gone). Without this file the
// notice's Refresh link does the same by hand.
import { api, poll } from "./dashboard.js";

const notice = document.querySelector("[data-poll]");

async function check() {
  let run;
  try {
    run = await api("GET", notice.dataset.poll);
  } catch (error) {
    if (error.status >= 400 && error.status < 500) {
      notice.dataset.polling = "stopped";
      return "stop"; // refused: the Refresh link is still there
    }
    throw error;
  }
  if (run.status === "queued" || run.status === "running") return "same";
  window.location.assign(run.status === "failed" ? `${notice.dataset.done}?run=${run.id}`
                                                 : notice.dataset.done);
  return "stop";
}

if (notice) poll(check, { first: 2000, most: 60000 });
