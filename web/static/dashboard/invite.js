// Inviting one person: as HR types a name or an email, suggest people from the directory
// (GET /people?q=, debounced) and fill in the other field when one is picked. Without this
// module the lists hold the first people of the directory.
import { api } from "./dashboard.js";

function setUp(form) {
  const name = form.querySelector("[name=name]");
  const email = form.querySelector("[name=email]");
  const names = document.getElementById(name.getAttribute("list"));
  const emails = document.getElementById(email.getAttribute("list"));
  let timer = null;
  let asked = 0;

  function fill(people) {
    names.replaceChildren(...people.filter((p) => p.name).map((p) => {
      const option = new Option(p.name);
      option.dataset.email = p.email ?? "";
      return option;
    }));
    emails.replaceChildren(...people.filter((p) => p.email).map((p) => {
      const option = new Option(p.name, p.email);
      return option;
    }));
  }

  async function search(text) {
    const mine = ++asked;
    try {
      const found = await api("GET", `/people?q=${encodeURIComponent(text)}&limit=20`);
      if (mine === asked) fill(found.people);
    } catch {
      // the lists keep what they had; the form still works
    }
  }

  function complete() {
    const byName = [...names.options].find((o) => o.value === name.value);
    if (byName?.dataset.email && !email.value) email.value = byName.dataset.email;
    const byEmail = [...emails.options].find((o) => o.value === email.value);
    if (byEmail && !name.value) name.value = byEmail.textContent;
  }

  for (const input of [name, email]) {
    input.addEventListener("input", () => {
      clearTimeout(timer);
      const text = input.value.trim();
      if (text.length >= 2) timer = setTimeout(() => search(text), 250);
      complete();
    });
    input.addEventListener("change", complete);
  }
  complete(); // what was typed before this module ran
  form.dataset.autofill = "on";
}

document.querySelectorAll("form[data-invite]").forEach(setUp);
