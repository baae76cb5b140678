// The live view: polls the API's list of interviews in progress and redraws the table.
// Polite to the server: every 3 s while things change, slowing to 30 s while nothing does,
// backing off to 2 min on errors, and not at all while the tab is hidden. Without this
// file the page is the same table with a Refresh link.

import { api } from "./dashboard.js";

const root = document.getElementById("live");
const FAST = 3000;
const IDLE_MAX = 30000;
const ERROR_MAX = 120000;

if (root) {
  const source = root.dataset.source;
  const base = root.dataset.conversationUrl;
  const rowsEl = document.getElementById("live-rows");
  const table = document.getElementById("live-table");
  const empty = document.getElementById("live-empty");
  const statusEl = document.getElementById("live-status");
  let delay = FAST;
  let timer = null;
  let busy = false;
  let last = null;
  let polls = 0;

  const cell = (label, ...children) => {
    const td = document.createElement("td");
    td.dataset.label = label;
    td.append(...children);
    return td;
  };
  const span = (className, text) => {
    const el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  };
  const when = (iso) => {
    if (!iso) return document.createTextNode("—");
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = `${iso.slice(0, 16).replace("T", " ")} UTC`;
    return time;
  };

  function row(r) {
    const tr = document.createElement("tr");
    tr.dataset.id = String(r.id);
    const link = document.createElement("a");
    link.className = "convo-person";
    link.href = `${base}${r.id}`;
    link.textContent = r.person.name || "Erased person";
    const state = span(`badge badge--${r.state.replaceAll("_", "-")}`, r.state.replaceAll("_", " "));
    const turns = cell("Turns", String(r.turns));
    turns.className = "num";
    const body = span("live-latest__body", "");
    if (r.last_turn) {
      const who = r.last_turn.role === "interviewer" ? "Interviewer" : (r.person.name || "Participant");
      body.append(span("live-latest__who", `${who}:`), ` ${r.last_turn.text}`);
    } else {
      body.append(span("muted", "Nothing said yet"));
    }
    const latestCell = cell("Latest turn", body);
    latestCell.className = "live-latest";
    tr.append(cell("Person", link), cell("Session", r.session.name), cell("Status", state),
              turns, latestCell, cell("Updated", when(r.updated_at)));
    return tr;
  }

  function render(data) {
    rowsEl.replaceChildren(...data.interviews.map(row));
    const n = data.interviews.length;
    table.hidden = n === 0;
    empty.hidden = n !== 0;
    const now = new Date().toISOString().slice(11, 19);
    statusEl.textContent = `${n}${data.next ? "+" : ""} in progress · updated ${now} UTC`;
  }

  function schedule() {
    clearTimeout(timer);
    timer = document.hidden ? null : setTimeout(poll, delay);
  }

  async function poll() {
    clearTimeout(timer); // a poll out of turn (Refresh, the tab shown) replaces the waiting one
    timer = null;
    if (busy || document.hidden) return;
    busy = true;
    try {
      const data = await api("GET", source);
      const signature = JSON.stringify(data.interviews.map(
        (r) => [r.id, r.state, r.turns, r.updated_at, r.last_turn && r.last_turn.id]));
      if (signature !== last) {
        last = signature;
        render(data);
        delay = FAST;
      } else {
        delay = Math.min(delay * 1.5, IDLE_MAX);
      }
    } catch (error) {
      delay = Math.min(Math.max(delay, FAST) * 2, ERROR_MAX);
      statusEl.textContent = `Could not update (${error.message}); trying again in ${Math.round(delay / 1000)} s.`;
    } finally {
      busy = false;
      polls += 1;
      root.dataset.polls = String(polls); // what a test (or a curious reader) can see
      root.dataset.delay = String(delay);
      schedule();
    }
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
    } else {
      delay = FAST;
      poll();
    }
  });
  document.getElementById("live-refresh")?.addEventListener("click", (event) => {
    event.preventDefault();
    delay = FAST;
    poll();
  });
  root.dataset.live = "on";
  schedule();
}
