// The audience rule builder (_audience.html), on a rollout and on an assigned topic: add
// and remove conditions, suggest the values people have for the chosen field, and show a
// live count of whom the rule reaches (debounced POST to the builder's data-preview-url).
// Without this module the form still posts its fixed rows and counts through its button.
import { api } from "./dashboard.js";

const LIST_OPS = ["in", "not_in"];

function rule(box) {
  const conditions = [];
  for (const row of box.querySelectorAll("[data-row]")) {
    const field = row.querySelector("[name=rule_field]").value.trim();
    const op = row.querySelector("[name=rule_op]").value;
    const raw = row.querySelector("[name=rule_value]").value.trim();
    if (!field) continue;
    let value = raw;
    if (LIST_OPS.includes(op)) value = raw.split(",").map((v) => v.trim()).filter(Boolean);
    if (op === "within_days") value = /^\d+$/.test(raw) ? Number(raw) : null;
    conditions.push({ field, op, value });
  }
  return { match: box.querySelector("[name=rule_match]").value, conditions };
}

/** The count in words: people (a rollout's preview) or pairs (an assigned topic's). */
function reach(found) {
  if (found.pairs !== undefined) {
    const pairs = `${found.pairs} pair${found.pairs === 1 ? "" : "s"}`;
    return `Reaches ${pairs} (${found.managers} manager${found.managers === 1 ? "" : "s"})`;
  }
  return found.count === 1 ? "1 person matches" : `${found.count} people match`;
}

function renumber(rows) {
  rows.querySelectorAll("[data-row]").forEach((row, n) => {
    for (const control of row.querySelectorAll("select, input")) {
      const id = control.id.replace(/-\d+$/, `-${n}`);
      row.querySelector(`label[for="${control.id}"]`)?.setAttribute("for", id);
      control.id = id;
    }
    for (const hidden of row.querySelectorAll(".sr-only")) {
      hidden.textContent = hidden.textContent.replace(/\d+/, String(n + 1));
    }
    const remove = row.querySelector("[data-remove]");
    if (remove) remove.setAttribute("aria-label", `Remove condition ${n + 1}`);
  });
}

function setUp(box) {
  const rows = box.querySelector("[data-rows]");
  const count = box.querySelector("[data-count]");
  let fields = null;
  let timer = null;
  let asked = 0;

  async function suggest(row) {
    fields ??= api("GET", "/directory/fields").then((d) => d.fields).catch(() => []);
    const key = row.querySelector("[name=rule_field]").value;
    const input = row.querySelector("[name=rule_value]");
    const found = (await fields).find((f) => f.key === key);
    let list = row.querySelector("datalist");
    if (!list) {
      list = document.createElement("datalist");
      list.id = `${input.id}-values`;
      row.append(list);
    }
    list.id = `${input.id}-values`;
    input.setAttribute("list", list.id);
    list.replaceChildren(...(found?.values ?? []).map((v) => new Option(v.value)));
  }

  async function preview() {
    const mine = ++asked;
    const audience = rule(box);
    if (audience.conditions.some((c) => c.value === null || c.value === "" ||
                                       (Array.isArray(c.value) && !c.value.length))) {
      count.textContent = "Finish each condition to see who it reaches.";
      return;
    }
    count.textContent = "Counting…";
    try {
      const found = await api("POST", box.dataset.previewUrl, { audience });
      if (mine !== asked) return;
      count.replaceChildren(reach(found));
      for (const warning of found.warnings ?? []) {
        const line = document.createElement("span");
        line.className = "warning";
        line.textContent = warning;
        count.append(line);
      }
    } catch (error) {
      if (mine === asked) count.textContent = `Can't count yet: ${error.message}`;
    }
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  }

  function addRemove(row) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small";
    button.dataset.remove = "";
    button.textContent = "Remove";
    row.append(button);
  }

  // the count is live: no "Count people" (disabled too, so Enter in a condition, which
  // presses the form's first button, neither counts nor schedules)
  const countButton = box.querySelector("[data-count-button]");
  if (countButton) Object.assign(countButton, { hidden: true, disabled: true });
  rows.querySelectorAll("[data-row]").forEach(addRemove);
  const add = document.createElement("button");
  add.type = "button";
  add.className = "button button--small";
  add.textContent = "Add condition";
  rows.after(add);
  add.addEventListener("click", () => {
    const last = rows.querySelector("[data-row]:last-child");
    const row = last.cloneNode(true);
    row.querySelectorAll("input").forEach((i) => { i.value = ""; i.removeAttribute("list"); });
    row.querySelectorAll("select").forEach((s) => { s.selectedIndex = 0; });
    row.querySelector("datalist")?.remove();
    rows.append(row);
    renumber(rows);
    row.querySelector("select").focus();
  });
  rows.addEventListener("click", (event) => {
    const button = event.target.closest("[data-remove]");
    if (!button) return;
    const row = button.closest("[data-row]");
    if (rows.querySelectorAll("[data-row]").length > 1) {
      row.remove();
    } else {
      row.querySelectorAll("input").forEach((i) => { i.value = ""; });
      row.querySelectorAll("select").forEach((s) => { s.selectedIndex = 0; });
    }
    renumber(rows);
    add.focus();
    later();
  });
  box.addEventListener("change", (event) => {
    if (event.target.matches("[name=rule_field]")) suggest(event.target.closest("[data-row]"));
    if (event.target.closest("[data-row], [name=rule_match]")) later();
  });
  box.addEventListener("input", (event) => {
    if (event.target.matches("[name=rule_value]")) later();
  });
  box.querySelectorAll("[data-row]").forEach((row) => {
    if (row.querySelector("[name=rule_field]").value) suggest(row);
  });
  preview();
}

document.querySelectorAll("[data-audience]").forEach(setUp);
