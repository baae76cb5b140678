// The audience rule builder (_audience.html): a live count of whom the rule reaches, value
// suggestions for the chosen field, and one blank row at a time behind "Add condition".
// Without this file the form shows its blank rows and counts through its Preview button.
import { api } from "./dashboard.js";

const LISTS = new Set(["in", "not_in"]);

function ruleOf(box) {
  const conditions = [];
  for (const row of box.querySelectorAll("[data-rule-row]")) {
    const field = row.querySelector('[name="rule_field"]').value.trim();
    const op = row.querySelector('[name="rule_op"]').value;
    const raw = row.querySelector('[name="rule_value"]').value.trim();
    if (!field) continue;
    let value = raw;
    if (LISTS.has(op)) value = raw.split(",").map((v) => v.trim()).filter(Boolean);
    else if (op === "within_days" && /^\d+$/.test(raw)) value = Number(raw);
    conditions.push({ field, op, value });
  }
  return { match: box.querySelector('[name="rule_match"]').value, conditions };
}

function suggest(box, row) {
  const field = row.querySelector('[name="rule_field"]').value;
  const input = row.querySelector('[name="rule_value"]');
  const list = [...box.querySelectorAll("datalist[data-values-for]")]
    .find((d) => d.dataset.valuesFor === field);
  if (list) input.setAttribute("list", list.id);
  else input.removeAttribute("list");
}

function setUp(box) {
  const count = box.querySelector("[data-audience-count]");
  const url = box.dataset.previewUrl;
  const rows = [...box.querySelectorAll("[data-rule-row]")];
  let timer = 0;
  let asked = 0;

  async function preview() {
    const mine = ++asked;
    try {
      const found = await api("POST", url, { audience: ruleOf(box) });
      if (mine !== asked) return;
      const pairs = `${found.pairs} pair${found.pairs === 1 ? "" : "s"}`;
      const managers = `${found.managers} manager${found.managers === 1 ? "" : "s"}`;
      count.textContent = `Reaches ${pairs} (${managers})`;
    } catch (error) {
      if (mine === asked) count.textContent = error.message;
    }
  }

  // one blank row shown at a time; "Add condition" reveals the next
  const blank = rows.filter((r) => !r.querySelector('[name="rule_field"]').value);
  const add = document.createElement("button");
  add.type = "button";
  add.className = "button button--small";
  add.textContent = "Add condition";
  blank.slice(1).forEach((r) => { r.hidden = true; });
  add.hidden = blank.length < 2;
  add.addEventListener("click", () => {
    const next = rows.find((r) => r.hidden);
    if (!next) return;
    next.hidden = false;
    next.querySelector("select").focus();
    add.hidden = !rows.some((r) => r.hidden);
  });
  box.querySelector(".actions").prepend(add);
  // the count is live: the form's own Preview button is for pages without this script
  const button = box.querySelector('button[name="intent"][value="preview"]');
  if (url && button) button.hidden = true;

  box.addEventListener("change", (event) => {
    const row = event.target.closest("[data-rule-row]");
    if (row && event.target.name === "rule_field") suggest(box, row);
  });
  box.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(preview, 400);
  });
  rows.forEach((row) => suggest(box, row));
  if (url) preview();
}

document.querySelectorAll("[data-audience]").forEach(setUp);
