// The Insights tab while a run is computing: ask the API for the run's status, and show
// the page again when it has finished. Every 2 s at first, then less often (a run waiting
// for a worker that is down could wait a long time), never while the tab is hidden, and
// not at all once the API refuses (signed out, the run gone). Without this file the
// notice's Refresh link does the same by hand.
import { api } from "./dashboard.js";

const notice = document.querySelector("[data-poll]");
const FIRST = 2000;
const MOST = 60000;
let delay = FIRST;
let timer = null;

function later() {
  clearTimeout(timer);
  timer = document.hidden ? null : setTimeout(check, delay);
}

async function check() {
  clearTimeout(timer);
  timer = null;
  try {
    const run = await api("GET", notice.dataset.poll);
    if (run.status !== "queued" && run.status !== "running") {
      const next = run.status === "failed" ? `${notice.dataset.done}?run=${run.id}` : notice.dataset.done;
      window.location.assign(next);
      return;
    }
  } catch (error) {
    if (error.status >= 400 && error.status < 500) {
      notice.dataset.polling = "stopped";
      return; // refused: the Refresh link is still there
    }
  }
  delay = Math.min(delay * 1.5, MOST);
  later();
}

if (notice) {
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) delay = FIRST;
    later();
  });
  timer = setTimeout(check, 1500);
}
