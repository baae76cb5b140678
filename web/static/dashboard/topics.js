// The topic editor without a round trip: Move up / Move down reorder the topics in place
// (and Alt+ArrowUp / Alt+ArrowDown anywhere in a topic does the same); "Save topics" keeps
// the order. Without this module each Move button posts the form and the server moves it.

const ATTRS = ["name", "id", "for", "aria-describedby"];

function renumber(list) {
  const items = [...list.querySelectorAll(":scope > [data-topic]")];
  items.forEach((item, n) => {
    item.id = `topic-${n}`;
    for (const el of item.querySelectorAll("*")) {
      for (const attr of ATTRS) {
        const value = el.getAttribute(attr);
        if (value) el.setAttribute(attr, value.replace(/^topic-\d+-/, `topic-${n}-`));
      }
    }
    const number = item.querySelector(".topic__num");
    if (number) number.textContent = `${n + 1}.`;
    for (const button of item.querySelectorAll("[data-move]")) {
      button.value = `${n}:${button.dataset.move}`;
      button.disabled = button.dataset.move === "up" ? n === 0 : n === items.length - 1;
    }
  });
  return items;
}

function move(item, direction, status) {
  const list = item.parentElement;
  const other = direction === "up" ? item.previousElementSibling : item.nextElementSibling;
  if (!other) return false;
  if (direction === "up") other.before(item); else other.after(item);
  const items = renumber(list);
  const label = item.querySelector("input[name$='-label']")?.value || "Topic";
  status.textContent = `${label} is now ${items.indexOf(item) + 1} of ${items.length}. ` +
    "Save topics to keep this order.";
  item.closest("form").dataset.dirty = "1";
  return true;
}

function setUp(form) {
  const status = form.querySelector("[data-topics-status]");
  const hint = form.querySelector(".editor-bar .hint");
  if (hint) hint.textContent = "Topics are asked in this order. Move them with the buttons or " +
    "Alt+↑ / Alt+↓, then save.";
  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-move]");
    if (!button) return;
    event.preventDefault();
    const item = button.closest("[data-topic]");
    if (move(item, button.dataset.move, status)) {
      const again = item.querySelector(`[data-move="${button.dataset.move}"]`);
      (again.disabled ? item.querySelector("[data-move]:not([disabled])") : again)?.focus();
    }
  });
  form.addEventListener("keydown", (event) => {
    if (!event.altKey || !["ArrowUp", "ArrowDown"].includes(event.key)) return;
    const item = event.target.closest("[data-topic]");
    if (!item) return;
    event.preventDefault();
    if (move(item, event.key === "ArrowUp" ? "up" : "down", status)) event.target.focus();
  });
  form.addEventListener("submit", () => { delete form.dataset.dirty; });
  window.addEventListener("beforeunload", (event) => {
    if (form.dataset.dirty) event.preventDefault();
  });
}

document.querySelectorAll("form[data-topics]").forEach(setUp);
