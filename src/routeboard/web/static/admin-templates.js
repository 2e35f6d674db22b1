// Saving and resetting message wording on /admin/templates. The server checks each wording
// (it must render, with only the names the message has) and answers with the new preview.

import { api } from "./page.js";

const path = (kind) => `/api/v1/message-templates/${encodeURIComponent(kind)}`;

function show(card, result, done) {
  const error = card.querySelector(".error");
  if (!result.ok) {
    error.textContent = result.status === 0
      ? "The server cannot be reached; nothing was saved."
      : result.data?.message ?? "Not saved.";
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
    show(card, await api("PUT", path(kind), { subject, body }), "Saved.");
    event.target.disabled = false;
  });
  card.querySelector(".reset").addEventListener("click", async (event) => {
    event.target.disabled = true;
    show(card, await api("DELETE", path(kind)), "Back to the default.");
    event.target.disabled = false;
  });
}
