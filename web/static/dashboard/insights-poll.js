// The Insights tab while a run is computing: ask the API for the run's status every few
// seconds, and show the page again when it has finished. Without this file the notice's
// Refresh link does the same by hand.
import { api } from "./dashboard.js";

const notice = document.querySelector("[data-poll]");

async function check() {
  try {
    const run = await api("GET", notice.dataset.poll);
    if (run.status !== "queued" && run.status !== "running") {
      const next = run.status === "failed" ? `${notice.dataset.done}?run=${run.id}` : notice.dataset.done;
      window.location.assign(next);
      return;
    }
  } catch {
    // a network hiccup: try again at the next tick
  }
  window.setTimeout(check, 2000);
}

if (notice) window.setTimeout(check, 1500);
