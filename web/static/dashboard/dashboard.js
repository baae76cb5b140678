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
