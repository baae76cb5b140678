// The topic editor without a round trip: Move up / Move down reorder the topics in place
// (and Alt+ArrowUp / Alt+ArrowDown anywhere in a topic, or dragging its handle, does the
// same); "Save topics" keeps the order. Without this module each Move button posts the form and the server moves it.

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

function moved(item, status) {
  const items = renumber(item.parentElement);
  const label = item.querySelector("input[name$='-label']")?.value || "Topic";
  status.textContent = `${label} is now ${items.indexOf(item) + 1} of ${items.length}. ` +
    "Save topics to keep this order.";
  item.closest("form").dataset.dirty = "1";
}

function move(item, direction, status) {
  const other = direction === "up" ? item.previousElementSibling : item.nextElementSibling;
  if (!other) return false;
  if (direction === "up") other.before(item); else other.after(item);
  moved(item, status);
  return true;
}

/** Drag a topic by its handle (a mouse's way; the buttons and keys are the others). */
function draggable(list, status) {
  let dragged = null;
  for (const item of list.querySelectorAll(":scope > [data-topic]")) {
    const handle = document.createElement("span");
    handle.className = "topic__handle";
    handle.title = "Drag to reorder";
    handle.setAttribute("aria-hidden", "true");
    handle.textContent = "⠿";
    handle.draggable = true;
    item.querySelector("legend").prepend(handle);
  }
  list.addEventListener("dragstart", (event) => {
    if (!event.target.classList?.contains("topic__handle")) return;
    dragged = event.target.closest("[data-topic]");
    dragged?.classList.add("is-dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", "");
  });
  list.addEventListener("dragover", (event) => {
    const over = event.target.closest("[data-topic]");
    if (!dragged || !over || over === dragged) return;
    event.preventDefault();
    const box = over.getBoundingClientRect();
    if (event.clientY < box.top + box.height / 2) over.before(dragged); else over.after(dragged);
  });
  function done(event) {
    if (!dragged) return;
    event.preventDefault();
    dragged.classList.remove("is-dragging");
    moved(dragged, status);
    dragged = null;
  }
  list.addEventListener("drop", done);
  list.addEventListener("dragend", done);
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
  draggable(form.querySelector(".topic-list"), status);
  form.addEventListener("submit", () => { delete form.dataset.dirty; });
  window.addEventListener("beforeunload", (event) => {
    if (form.dataset.dirty) event.preventDefault();
  });
}

document.querySelectorAll("form[data-topics]").forEach(setUp);
