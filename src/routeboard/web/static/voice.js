// Staff voice: today's pulse question ("Was today's schedule realistic?") and the open feature
// polls, for the board and the technician app. One tap answers the pulse; a poll is ranked with
// up/down buttons and sent with one more. Built from text nodes only: option names come from
// an admin, never trusted as markup.

import { api, el } from "./page.js";

const SCORES = [
  [1, "No"],
  [2, ""],
  [3, "Partly"],
  [4, ""],
  [5, "Yes"],
];

function failure(result) {
  if (result.status === 0) return "No connection: not sent. Try again.";
  return result.data?.message ?? `Not sent (${result.status}).`;
}

function pulseCard(today, root) {
  const card = el("section", "voice-card voice-pulse");
  card.setAttribute("aria-labelledby", "pulse-question");
  const question = el("h3", "voice-question", today.prompt);
  question.id = "pulse-question";
  card.append(question);
  const note = el("p", "voice-note");
  note.setAttribute("role", "status");
  const row = el("div", "voice-scores");
  for (const [score, word] of SCORES) {
    const button = el("button", "voice-score", word ? `${score} · ${word}` : String(score));
    button.type = "button";
    button.dataset.score = String(score);
    button.setAttribute("aria-label", `${score} out of 5${word ? ` (${word})` : ""}`);
    button.setAttribute("aria-pressed", String(today.answer?.score === score));
    button.addEventListener("click", async () => {
      note.textContent = "Sending…";
      const result = await api("POST", "/api/v1/pulse", { question: today.question, score });
      if (!result.ok) {
        note.textContent = failure(result);
        return;
      }
      card.replaceWith(pulseCard({ ...today, answer: result.data }, root));
    });
    row.append(button);
  }
  card.append(row);
  note.textContent = today.answer
    ? `Thanks: you answered ${today.answer.score} of 5 today. Tap to change it.`
    : "One tap. Your answer helps plan better days.";
  card.append(note);
  return card;
}

function pollCard(poll) {
  const card = el("section", "voice-card voice-poll");
  card.dataset.pollId = String(poll.id);
  card.append(el("h3", "voice-question", poll.question));
  card.append(el("p", "voice-note", "Put what you want most at the top."));
  let order = poll.my_ranking?.length
    ? [...poll.my_ranking, ...poll.options.map((_, i) => i).filter((i) => !poll.my_ranking.includes(i))]
    : poll.options.map((_, i) => i);
  const list = el("ol", "voice-options");
  const note = el("p", "voice-note");
  note.setAttribute("role", "status");

  function move(from, to) {
    if (to < 0 || to >= order.length) return;
    const next = [...order];
    [next[from], next[to]] = [next[to], next[from]];
    order = next;
    draw();
  }

  function draw() {
    list.replaceChildren();
    order.forEach((index, place) => {
      const item = el("li", "voice-option");
      item.dataset.index = String(index);
      item.append(el("span", "voice-option-name", poll.options[index]));
      const up = el("button", "voice-move", "↑");
      up.type = "button";
      up.disabled = place === 0;
      up.setAttribute("aria-label", `Move ${poll.options[index]} up`);
      up.addEventListener("click", () => move(place, place - 1));
      const down = el("button", "voice-move", "↓");
      down.type = "button";
      down.disabled = place === order.length - 1;
      down.setAttribute("aria-label", `Move ${poll.options[index]} down`);
      down.addEventListener("click", () => move(place, place + 1));
      item.append(up, down);
      list.append(item);
    });
  }

  const send = el("button", "voice-send", poll.my_ranking ? "Update my vote" : "Vote");
  send.type = "button";
  send.addEventListener("click", async () => {
    send.disabled = true;
    note.textContent = "Sending…";
    const result = await api("PUT", `/api/v1/polls/${poll.id}/vote`, { ranking: order });
    send.disabled = false;
    if (!result.ok) {
      note.textContent = failure(result);
      return;
    }
    const leader = result.data.results[0];
    send.textContent = "Update my vote";
    note.textContent = `Vote counted (${result.data.voters} so far). Leading: ${leader.option}.`;
  });
  draw();
  card.append(list, send, note);
  return card;
}

/** Fill ``root`` with the pulse and the open polls; quietly empty if they cannot be read. */
export async function mountVoice(root) {
  const [today, polls] = await Promise.all([
    api("GET", "/api/v1/pulse/today"),
    api("GET", "/api/v1/polls?open=true&limit=5"),
  ]);
  root.replaceChildren();
  if (today.ok) root.append(pulseCard(today.data, root));
  if (polls.ok) for (const poll of polls.data.items) root.append(pollCard(poll));
  root.hidden = root.childElementCount === 0;
}
