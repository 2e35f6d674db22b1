// Saving and resetting message wording on /admin/templates. The server checks each wording
// (it must render, with only the names the message has) and answers with the new preview.

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

async function send(method, kind, body) {
  const headers = { Accept: "application/json", "X-CSRF-Token": CSRF };
  const init = { method, headers, credentials: "same-origin" };
  if (body) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(`/api/v1/message-templates/${encodeURIComponent(kind)}`, init);
    return { ok: response.ok, data: await response.json().catch(() => null) };
  } catch {
    return { ok: false, data: { message: "The server cannot be reached; nothing was saved." } };
  }
}

function show(card, result, done) {
  const error = card.querySelector(".error");
  if (!result.ok) {
    error.textContent = result.data?.message ?? "Not saved.";
    error.hidden = false;
    card.querySelector(".saved").textContent = "";
    return;
  }
  error.hidden = true;
  const t = result.data;
  card.querySelector(".subject").value = t.subject;
  card.querySelector(".body").value = t.body;
  card.querySelector(".preview").textContent = t.preview;
  card.querySelector(".custom-flag").textContent = t.customized ? "customised" : "default";
  card.querySelector(".saved").textContent = done;
}

for (const card of document.querySelectorAll(".template-card")) {
  const kind = card.dataset.kind;
  card.querySelector(".save").addEventListener("click", async (event) => {
    event.target.disabled = true;
    const subject = card.querySelector(".subject").value;
    const body = card.querySelector(".body").value;
    show(card, await send("PUT", kind, { subject, body }), "Saved.");
    event.target.disabled = false;
  });
  card.querySelector(".reset").addEventListener("click", async (event) => {
    event.target.disabled = true;
    show(card, await send("DELETE", kind), "Back to the default.");
    event.target.disabled = false;
  });
}
