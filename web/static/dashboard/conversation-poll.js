// A conversation still going on: watch it through the API and say when it has moved on
// (new messages, a new status), with a link that shows them. The page is not redrawn under
// the reader; they choose when. Stops when the API refuses (signed out, the interview
// deleted) and once the interview has ended. Without this file the page is as it loaded.
import { api, poll } from "./dashboard.js";

const notice = document.getElementById("convo-updates");
const LIVE = ["consent", "in_progress", "paused"];
let last = `${notice?.dataset.turns}:${notice?.dataset.state}`;

async function check() {
  let interview;
  try {
    interview = await api("GET", notice.dataset.watch);
  } catch (error) {
    if (error.status >= 400 && error.status < 500) return "stop";
    throw error;
  }
  const turns = interview.turns ?? [];
  if (`${turns.length}:${interview.state}` === last) return "same";
  last = `${turns.length}:${interview.state}`;
  const fresh = turns.length - Number(notice.dataset.turns);
  const moved = interview.state !== notice.dataset.state;
  const parts = [];
  if (fresh > 0) parts.push(fresh === 1 ? "1 new message" : `${fresh} new messages`);
  if (moved) parts.push(`now ${interview.state.replaceAll("_", " ")}`);
  // the region stays in the page and its words change, so a screen reader says them
  const shown = notice.querySelector(".notice");
  shown.querySelector("[data-said]").textContent =
    `Since this page loaded: ${parts.join("; ") || "it changed"}.`;
  // a new query makes it a new page: a link that differed only by its #turn would not load
  const anchor = turns.length ? `#turn-${turns.at(-1).id}` : "";
  const link = shown.querySelector("a");
  link.href = `${window.location.pathname}?seen=${turns.length}${anchor}`;
  link.textContent = fresh > 0 ? "Show them" : "Show it";
  shown.hidden = false;
  notice.dataset.seen = String(turns.length); // what a test can read
  return LIVE.includes(interview.state) ? "changed" : "stop";
}

if (notice) poll(check);
