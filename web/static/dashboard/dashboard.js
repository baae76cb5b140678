// What every dashboard page shares: confirmation before a destructive action, and `api`,
// the fetch helper that sends the sign-in's CSRF token (pages work without this file).

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

/** Call the REST API as the signed-in user; resolves to the JSON, rejects with the API's message (and `status`). */
export async function api(method, path, body) {
  const response = await fetch(`/api/v1${path}`, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error(data?.error?.message ?? `${response.status} ${response.statusText}`);
    error.status = response.status; // 4xx: asking again will not help
    throw error;
  }
  return data;
}

// <form data-confirm="Delete this interview?">: ask before it posts.
document.addEventListener("submit", (event) => {
  const question = event.target.closest("form")?.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

/**
 * Ask `check` again and again, politely: `first` ms after the page loads, then each wait
 * 1.5× the last up to `most` (back to `first` when `check` returns "changed"), doubling
 * after an error, never while the tab is hidden (`first` ms after it shows again), one
 * check at a time, and no more once `check` returns "stop".
 */
export function poll(check, { first = 3000, most = 30000 } = {}) {
  let delay = first;
  let timer = null;
  let busy = false;
  let stopped = false;
  const later = () => {
    clearTimeout(timer);
    timer = document.hidden || stopped || busy ? null : setTimeout(run, delay);
  };
  async function run() {
    timer = null;
    busy = true;
    try {
      const said = await check();
      if (said === "stop") stopped = true;
      delay = said === "changed" ? first : Math.min(delay * 1.5, most);
    } catch {
      delay = Math.min(delay * 2, most);
    } finally {
      busy = false;
    }
    later();
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) delay = first;
    later(); // while a check runs, it schedules the next itself
  });
  later();
}
