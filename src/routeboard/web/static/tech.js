/**
 * The technician's phone app: the next job, one big button for the next step, photos, the
 * customer's signature and payment, made for one hand, greasy fingers and no signal.
 *
 * Nothing the technician does waits for the network. Every change goes into the outbox
 * (tech-outbox.js, kept in IndexedDB) and the screen shows it at once, computed from the last
 * day the server sent plus what is still waiting to be sent ("effective" below). A step is not
 * confirmed by a dialog: it is held for a few seconds behind an Undo bar, then sent.
 *
 * Text from the server reaches the page through textContent only, never as HTML.
 */

import { Outbox } from "./tech-outbox.js";
import { resizePhoto, SignaturePad } from "./tech-media.js";
import { getValue, setValue } from "./tech-store.js";
import { CSRF, el } from "./page.js";
import { mountVoice } from "./voice.js";

const page = document.body.dataset;
const TZ = page.timezone || "America/Chicago";
const TECHNICIAN_ID = Number(page.technicianId);
// Tests shorten the undo window through this key; a technician never sees it.
const UNDO_MS = Number(localStorage.getItem("routeboard.tech.undoMs")) || 5_000;
const PAYMENT_POLL_MS = 3_000;
const REFRESH_DEBOUNCE_MS = 250;
const RECONNECT_MS = 5_000;
const DOUBLE_TAP_GUARD_MS = 700; // a second tap of a greasy thumb must not take the next step
const STREAM_EVENTS = [
  "job.created", "job.updated", "job.transitioned", "job.scheduled", "job.evidence",
  "job.payment",
];

const NEXT = { scheduled: "start_travel", en_route: "start_work", in_progress: "complete" };
const AFTER = { start_travel: "en_route", start_work: "in_progress", complete: "completed" };
const BUTTON = {
  start_travel: "Start driving",
  start_work: "Arrived, start work",
  complete: "Finish",
};
const STATES = {
  scheduled: "Scheduled", en_route: "Driving", in_progress: "Working", completed: "Done",
  invoiced: "Done",
};
const SERVICES = {
  windshield_replacement: "Windshield replacement",
  chip_repair: "Chip repair",
  adas_calibration: "ADAS calibration",
  side_back_glass: "Side/back glass",
};
const METHODS = {
  card: "Card payment", cash: "Cash payment", cheque: "Cheque payment",
  insurance_only: "Insurance only",
};
const DONE = new Set(["completed", "invoiced"]);
// The rules Finish needs that the phone can check itself (tech/service.py words them alike).
const EVIDENCE_WORDS = /before photo|after photo|signature/;

const app = {
  day: null, // the server's day (patched with what was sent since)
  fromCache: false, // the day on screen is the phone's copy: no signal
  cachedAt: null,
  screen: "home", // "home" | "list" | "job" | "outbox"
  openJob: null, // the job opened from the list
  focus: null, // a job finished here: its payment screen stays until "Next job"
  payChoice: null, // the job whose Cash/cheque choice is open
  payments: new Map(), // job id → the server's payments
  invoices: new Map(), // job id → the server's invoice
  moneyLoading: new Set(),
  thumbs: new Map(), // job id → [{seq, kind, url, sha256, status}]
  pads: new Map(), // job id → the signature block, kept while the page lives
  undoSeq: null,
  undoTimer: null,
  guardUntil: 0,
  live: "connecting",
  stream: null,
  streamDay: null,
  retryTimer: null,
  refreshTimer: null,
  pollTimer: null,
  sentGen: 0, // how many answers were applied: a day read before one of them is stale
  signinNeeded: false,
  lastKey: "",
  lastPlace: "",
};

const $ = (id) => document.getElementById(id);

function button(text, className, onTap, id) {
  const node = el("button", className, text);
  node.type = "button";
  if (id) node.id = id;
  node.addEventListener("click", onTap);
  return node;
}

function link(text, className, href, id) {
  const node = el("a", className, text);
  node.href = href;
  if (id) node.id = id;
  return node;
}

// ---------------------------------------------------------------------------------------------
// Words and numbers in the shop's time zone.

const clock = new Intl.DateTimeFormat("en-US", { timeZone: TZ, hour: "numeric", minute: "2-digit" });
const money = new Intl.NumberFormat("en-US", {
  style: "currency",
  currency: (document.body.dataset.currency || "usd").toUpperCase(),
});
const dayName = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC", weekday: "long", month: "long", day: "numeric",
});

function timeText(iso) {
  return clock.format(new Date(iso));
}

function rangeText(a, b) {
  return clock.formatRange ? clock.formatRange(new Date(a), new Date(b)) : `${timeText(a)}–${timeText(b)}`;
}

function arrival(job) {
  if (job.window) return `Arrive ${rangeText(job.window.start, job.window.end)}`;
  if (job.scheduled_start) return `Arrive ${timeText(job.scheduled_start)}`;
  return "No time set";
}

function vehicleText(v) {
  return [v.year, v.make, v.model].filter(Boolean).join(" ");
}

function cents(n) {
  return money.format(n / 100);
}

// ---------------------------------------------------------------------------------------------
// The day as the technician sees it: the server's, plus what is waiting in the outbox.

function apply(job, item) {
  if (item.type === "transition" && AFTER[item.body.action]) job.state = AFTER[item.body.action];
  else if (item.type === "photo") job[`${item.body.kind}_photos`] += 1;
  else if (item.type === "signature") job.signed = true;
}

/** The rules in words, recomputed so work taken offline counts (the server's order). */
function missingFor(job, server) {
  if (job.next_action !== "complete") return [];
  const words = [];
  if (job.before_photos < 1) words.push("1 before photo needed");
  if (job.after_photos < 1) words.push("1 after photo needed");
  if (!job.signed) words.push("customer signature needed");
  // Other rules only the server can judge stay as it said them, for the step it judged.
  if (server.next_action === "complete") {
    words.push(...server.missing.filter((w) => !EVIDENCE_WORDS.test(w)));
  }
  return words;
}

function effective(server) {
  const job = { ...server, missing: [...server.missing] };
  job.serverState = server.state;
  job.queued = [];
  for (const item of outbox.items) {
    if (item.job_id !== server.id || item.state === "failed") continue;
    apply(job, item);
    job.queued.push(item);
  }
  job.next_action = NEXT[job.state] ?? null;
  job.missing = missingFor(job, server);
  return job;
}

function jobs() {
  return (app.day?.jobs ?? []).map(effective);
}

/** The job home shows: the one just finished here, else the next with a step, else the last done. */
function homeJob(all) {
  const focused = all.find((j) => j.id === app.focus);
  if (focused) return focused;
  return all.find((j) => j.next_action) ?? [...all].reverse().find((j) => DONE.has(j.state)) ?? null;
}

function shownJob(all) {
  if (app.screen === "job") return all.find((j) => j.id === app.openJob) ?? null;
  return homeJob(all);
}

// ---------------------------------------------------------------------------------------------
// The outbox.

const outbox = new Outbox({
  csrf: CSRF,
  technicianId: TECHNICIAN_ID,
  onChange: () => render(),
  onSent: (item, answer) => sent(item, answer),
});

function itemLabel(item) {
  if (item.label) return item.label;
  if (item.type === "photo") return item.body.kind === "before" ? "Before photo" : "After photo";
  if (item.type === "signature") return "Customer signature";
  if (item.type === "payment") return METHODS[item.body.method] ?? "Payment";
  return BUTTON[item.body.action] ?? item.body.action;
}

/** The server took ``item``: fold its answer into the day until the next read of the day. */
function sent(item, answer) {
  app.sentGen += 1;
  const job = app.day?.jobs.find((j) => j.id === item.job_id);
  if (job) {
    if (item.type === "transition" && answer?.state) {
      job.state = answer.state;
      job.next_action = NEXT[answer.state] ?? null;
    } else if (item.type === "transition") {
      apply(job, item);
    } else if (item.type === "photo" || item.type === "signature") {
      apply(job, item);
    } else if (item.type === "payment" && answer?.status === "succeeded") {
      job.paid_cents += answer.amount_cents;
    }
    saveDay();
  }
  if (item.type === "photo") {
    const thumb = (app.thumbs.get(item.job_id) ?? []).find((t) => t.seq === item.seq);
    // The server says what it stored; it must be byte for byte what this phone made.
    if (thumb) thumb.status = answer?.sha256 === item.body.sha256 ? "sent" : "mismatch";
  }
  if (item.type === "payment" && answer) {
    const list = (app.payments.get(item.job_id) ?? []).filter((p) => p.id !== answer.id);
    app.payments.set(item.job_id, [...list, answer]);
    if (answer.status === "pending") schedulePoll();
  }
  if (item.type === "transition" && item.body.action === "complete") loadMoney(item.job_id);
  refreshSoon();
}

async function act(job) {
  if (Date.now() < app.guardUntil || !job.next_action) return;
  app.guardUntil = Date.now() + DOUBLE_TAP_GUARD_MS;
  const action = job.next_action;
  const words = {
    start_travel: `Driving to ${job.site.address}`,
    start_work: `Working at ${job.customer_first_name || "the customer"}'s`,
    complete: "Job finished",
  }[action];
  if (action === "complete") await setFocus(job.id);
  const item = await outbox.add("transition", job.id, { action }, { holdMs: UNDO_MS, label: words });
  showUndo(item);
}

async function pay(job, method) {
  if (Date.now() < app.guardUntil) return;
  app.guardUntil = Date.now() + DOUBLE_TAP_GUARD_MS;
  app.payChoice = null;
  const owed = owedOf(job);
  const amount = owed !== null && owed > 0 && method !== "insurance_only" ? ` ${cents(owed)}` : "";
  const label = `${METHODS[method]}${amount}`;
  // Money recorded by hand gets the same undo window as a step; a card checkout only shows a
  // QR code for the customer, so it goes at once.
  const holdMs = method === "card" ? 0 : UNDO_MS;
  const item = await outbox.add("payment", job.id, { method }, { holdMs, label });
  if (holdMs) showUndo(item);
}

function showUndo(item) {
  app.undoSeq = item.seq;
  clearTimeout(app.undoTimer);
  app.undoTimer = setTimeout(hideUndo, Math.max(item.hold_until - Date.now(), 0));
  render();
}

function hideUndo() {
  app.undoSeq = null;
  clearTimeout(app.undoTimer);
  render();
}

async function undo() {
  const item = outbox.items.find((i) => i.seq === app.undoSeq);
  const seq = app.undoSeq;
  hideUndo();
  if (seq === null || !(await outbox.undo(seq))) return;
  if (item?.type === "transition" && item.body.action === "complete") await setFocus(null);
}

async function setFocus(jobId) {
  app.focus = jobId;
  await setValue("focus", jobId);
}

async function takePhoto(job, kind, input) {
  const file = input.files?.[0];
  input.value = ""; // the same button can take another
  if (!file) return;
  let made;
  try {
    made = await resizePhoto(file);
  } catch {
    notice("That photo could not be read. Take it again.");
    return;
  }
  const body = { kind, blob: made.blob, sha256: made.sha256, width: made.width, height: made.height };
  const label = kind === "before" ? "Before photo" : "After photo";
  await outbox.add("photo", job.id, body, { label, onStored: addThumb });
}

function addThumb(item) {
  const list = app.thumbs.get(item.job_id) ?? [];
  if (list.some((t) => t.seq === item.seq)) return;
  list.push({
    seq: item.seq,
    kind: item.body.kind,
    url: URL.createObjectURL(item.body.blob),
    sha256: item.body.sha256,
    status: "waiting",
  });
  app.thumbs.set(item.job_id, list);
}

async function saveSignature(job, block) {
  const name = block.name.value.trim();
  if (!block.pad.signed || !name) return;
  const body = { signer_name: name, image_base64: block.pad.toDataUrl() };
  block.signer = name;
  await outbox.add("signature", job.id, body, { label: `Signature of ${name}` });
}

// ---------------------------------------------------------------------------------------------
// Talking to the server (reads only: changes go through the outbox).

async function getJson(url) {
  try {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, data, response };
  } catch {
    return { ok: false, status: 0, data: null, response: null };
  }
}

function saveDay() {
  if (app.day) setValue("day", app.day).catch(() => {});
}

async function refreshDay() {
  const gen = app.sentGen;
  const asked = Date.now();
  const result = await getJson("/api/v1/tech/day");
  const answered = Date.now();
  if (result.status === 401) {
    app.signinNeeded = true;
    render();
    return;
  }
  if (!result.ok || result.data?.technician_id !== TECHNICIAN_ID) {
    if (result.status === 0 || result.data?.error === "offline") app.fromCache = true;
    render();
    return;
  }
  // An answer applied while this read was on its way may be missing from it: read again.
  if (gen !== app.sentGen) {
    refreshSoon();
    return;
  }
  const cached = result.response.headers.get("X-Routeboard-Cache") === "hit";
  if (!cached && result.data.server_time) {
    // The server's clock against ours, at the middle of the round trip: actions are stamped
    // with the server's time, however wrong the phone's clock is.
    outbox.setClockOffset(Date.parse(result.data.server_time) - (asked + answered) / 2);
  }
  app.day = result.data;
  app.fromCache = cached;
  app.cachedAt = cached ? result.response.headers.get("X-Routeboard-Cached-At") : null;
  if (!cached) saveDay();
  if (app.focus !== null && !app.day.jobs.some((j) => j.id === app.focus)) await setFocus(null);
  render();
  if (!cached) connect();
}

function refreshSoon() {
  clearTimeout(app.refreshTimer);
  app.refreshTimer = setTimeout(refreshDay, REFRESH_DEBOUNCE_MS);
}

/** The invoice (who pays what) and the payments of a finished job. */
async function loadMoney(jobId) {
  if (app.moneyLoading.has(jobId)) return;
  app.moneyLoading.add(jobId);
  try {
    const [invoice, payments] = await Promise.all([
      app.invoices.has(jobId) ? null : getJson(`/api/v1/jobs/${jobId}/invoice`),
      getJson(`/api/v1/jobs/${jobId}/payments`),
    ]);
    if (invoice?.ok) app.invoices.set(jobId, invoice.data);
    if (payments.ok && Array.isArray(payments.data)) app.payments.set(jobId, payments.data);
  } finally {
    app.moneyLoading.delete(jobId);
  }
  render();
  schedulePoll();
}

/** While a card checkout is open on screen, ask every few seconds whether it was paid. */
function schedulePoll() {
  clearTimeout(app.pollTimer);
  const job = shownJob(jobs());
  if (!job || !(app.payments.get(job.id) ?? []).some((p) => p.status === "pending")) return;
  app.pollTimer = setTimeout(async () => {
    const before = JSON.stringify(app.payments.get(job.id));
    await loadMoney(job.id);
    if (JSON.stringify(app.payments.get(job.id)) !== before) refreshSoon();
  }, PAYMENT_POLL_MS);
}

// ---------------------------------------------------------------------------------------------
// Live: the office's changes appear by themselves.

function connect() {
  const day = app.day?.date;
  if (!day || (app.stream && app.streamDay === day && app.stream.readyState !== EventSource.CLOSED)) {
    return;
  }
  if (app.stream) app.stream.close();
  clearTimeout(app.retryTimer);
  const source = new EventSource(`/api/v1/stream?${new URLSearchParams({ date: day })}`);
  app.stream = source;
  app.streamDay = day;
  app.live = "connecting";
  source.addEventListener("open", () => setLive(source, "live"));
  source.addEventListener("snapshot", () => source === app.stream && refreshSoon());
  for (const name of STREAM_EVENTS) {
    source.addEventListener(name, (message) => {
      if (source !== app.stream) return;
      refreshSoon();
      const event = JSON.parse(message.data);
      if (name === "job.payment" && event.job_id) loadMoney(event.job_id);
    });
  }
  source.addEventListener("error", () => {
    if (source !== app.stream) return;
    if (source.readyState === EventSource.CONNECTING) {
      setLive(source, "reconnecting");
      return;
    }
    setLive(source, "offline"); // closed for good: the browser will not retry, so we do
    app.retryTimer = setTimeout(() => {
      app.stream = null;
      refreshDay();
    }, RECONNECT_MS);
  });
}

function setLive(source, state) {
  if (source !== app.stream) return;
  app.live = state;
  render();
}

// ---------------------------------------------------------------------------------------------
// Drawing the screen.

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = !text;
  if (text) setTimeout(() => { if (box.textContent === text) box.hidden = true; }, 6_000);
}

function owedOf(job) {
  return job.amount_due_cents === null ? null : job.amount_due_cents - job.paid_cents;
}

/** Everything the screen depends on, so that a render that would change nothing does not. */
function stateKey(all) {
  return JSON.stringify([
    app.screen, app.openJob, app.focus, app.payChoice, app.fromCache, app.signinNeeded,
    app.live, navigator.onLine, app.undoSeq, app.day?.date,
    all.map((job) => ({ ...job, queued: job.queued.map((item) => item.seq) })),
    outbox.items.map((i) => [i.seq, i.state, i.error, i.hold_until > Date.now()]),
    outbox.sending, outbox.signinNeeded, outbox.lastError,
    [...app.payments], [...app.invoices.keys()],
    [...app.thumbs].map(([id, list]) => [id, list.map((t) => [t.seq, t.status])]),
  ]);
}

function render() {
  const all = jobs();
  const key = stateKey(all);
  // A rebuild under the customer's finger would break their stroke: wait for it to lift.
  const signing = [...app.pads.values()].some((b) => b.pad.pointer !== null);
  if (key === app.lastKey || signing) {
    updateProgress();
    return;
  }
  app.lastKey = key;
  renderTop(all);
  renderProblem();
  renderUndo();
  const shown = app.screen === "list" || app.screen === "outbox" ? null : shownJob(all);
  const place = `${app.screen}:${shown?.id}:${shown?.state}`;
  const bar = $("action-bar");
  bar.replaceChildren();
  bar.hidden = true;
  // Built aside and swapped in at once, so the page never shrinks under the thumb meanwhile.
  const screen = document.createDocumentFragment();
  let signature = null;
  if (app.screen === "list") renderList(screen, all);
  else if (app.screen === "outbox") renderOutbox(screen);
  else signature = renderJobScreen(screen, bar, all);
  $("screen").replaceChildren(screen);
  // The signature block lives beside the rebuilt part and is only moved when it changes:
  // the customer's ink, the typed name and the keyboard's focus stay where they are.
  const slot = $("signature-slot");
  if (!signature) slot.replaceChildren();
  else if (slot.firstChild !== signature) slot.replaceChildren(signature);
  // The same screen keeps its place; a new one (another job, the next step) starts at the top.
  if (place !== app.lastPlace) window.scrollTo(0, 0);
  app.lastPlace = place;
  updateProgress();
  if (shownJob(all)?.state && DONE.has(shownJob(all).state)) schedulePoll();
}

function renderTop(all) {
  const today = $("today-button");
  today.textContent = app.screen === "home" ? `Today (${all.length})` : "← Back";
  today.setAttribute("aria-label", app.screen === "home" ? `Today: ${all.length} jobs` : "Back");
  const badge = $("outbox-badge");
  const n = outbox.waiting;
  badge.hidden = n === 0;
  badge.dataset.count = String(n);
  badge.classList.toggle("badge-stopped", outbox.stopped !== null);
  badge.textContent = `Waiting to send (${n})`;
  const net = $("net");
  let state = app.live;
  if (!navigator.onLine || app.fromCache) state = "offline";
  net.dataset.state = state;
  net.textContent = { live: "Live", connecting: "…", reconnecting: "Reconnecting", offline: "Offline" }[state];
}

function renderProblem() {
  const box = $("problem");
  box.replaceChildren();
  const stopped = outbox.stopped;
  if (outbox.signinNeeded || app.signinNeeded) {
    box.append(
      el("p", "problem-text", "Your sign-in has ended. Nothing you did is lost: sign in again and it will be sent."),
      link("Sign in again", "btn btn-danger", "/login?next=/tech", "signin-link"),
    );
  } else if (stopped) {
    box.append(
      el("p", "problem-title", `Not sent: ${itemLabel(stopped)}`),
      el("p", "problem-text", stopped.error?.message ?? ""),
    );
    const row = el("div", "row");
    row.append(
      button("Try again", "btn", () => outbox.retry(stopped.seq), "problem-retry"),
      button("Discard", "btn btn-danger", () => outbox.discard(stopped.seq), "problem-discard"),
    );
    box.append(row);
  }
  box.hidden = box.childElementCount === 0;
}

function renderUndo() {
  const bar = $("undo-bar");
  const item = outbox.items.find((i) => i.seq === app.undoSeq);
  if (!item || item.hold_until <= Date.now()) {
    bar.hidden = true;
    return;
  }
  $("undo-text").textContent = itemLabel(item);
  bar.hidden = false;
}

function renderList(main, all) {
  const title = app.day ? dayName.format(new Date(`${app.day.date}T12:00:00Z`)) : "Today";
  main.append(el("h1", "screen-title", title));
  if (all.length === 0) {
    main.append(el("p", "empty", "No jobs today."));
    return;
  }
  const list = el("ol", "day-list");
  for (const job of all) {
    const row = el("li");
    const open = button("", "day-job", () => {
      app.screen = "job";
      app.openJob = job.id;
      render();
    });
    open.dataset.jobId = String(job.id);
    open.dataset.state = job.state;
    open.append(
      el("span", "day-job-time", job.window ? timeText(job.window.start) : job.scheduled_start ? timeText(job.scheduled_start) : ""),
      el("span", "day-job-who", `${job.customer_first_name} · ${SERVICES[job.service_type] ?? job.service_type}`),
      el("span", `chip chip-${job.state}`, STATES[job.state] ?? job.state),
    );
    row.append(open);
    list.append(row);
  }
  main.append(list);
}

function renderOutbox(main) {
  main.append(el("h1", "screen-title", `Waiting to send (${outbox.waiting})`));
  main.append(
    el("p", "hint", navigator.onLine
      ? "Sent in the order you did them."
      : "No signal. Everything is kept on the phone and sent in order when the signal returns."),
  );
  if (outbox.lastError && navigator.onLine) main.append(el("p", "hint", `Last try: ${outbox.lastError}. Trying again…`));
  const list = el("ol", "outbox-list");
  for (const item of outbox.items) {
    const row = el("li", "outbox-item");
    row.dataset.seq = String(item.seq);
    row.append(el("span", "outbox-what", `${itemLabel(item)} · job ${item.job_id}`));
    row.append(el("span", "outbox-when", timeText(item.occurred_at)));
    let status = "Waiting";
    if (item.state === "failed") status = `Stopped: ${item.error?.message ?? ""}`;
    else if (outbox.sending === item.seq) status = "Sending…";
    else if (item.hold_until > Date.now()) status = "Undo possible";
    row.append(el("span", "outbox-status", status));
    if (item.type === "photo") {
      const bar = el("progress", "progress");
      bar.max = 100;
      bar.value = outbox.progress.get(item.seq) ?? 0;
      bar.dataset.seq = String(item.seq);
      row.append(bar);
    }
    list.append(row);
  }
  main.append(list);
  if (outbox.waiting === 0) main.append(el("p", "empty", "Everything has been sent."));
}

function renderJobScreen(main, bar, all) {
  const job = shownJob(all);
  if (!app.day) {
    main.append(el("p", "loading", "Loading your day…"));
    return null;
  }
  if (!job) {
    main.append(el("h1", "screen-title", "No jobs today"), el("p", "hint", "New jobs appear here as the office assigns them."));
    return null;
  }
  if (app.fromCache) {
    const when = app.cachedAt ? ` (as of ${timeText(app.cachedAt)})` : "";
    main.append(el("p", "stale", `No signal: your day as last loaded${when}.`));
  }
  const card = el("article", "job");
  card.id = "job";
  card.dataset.jobId = String(job.id);
  card.dataset.state = job.state;
  card.append(el("p", `status status-${job.state}`, statusLine(job)));
  card.append(el("p", "when", arrival(job)));
  card.append(el("h1", "who", job.customer_first_name || "Customer"));
  card.append(el("p", "where", job.site.address));
  main.append(card);
  if (DONE.has(job.state)) {
    // Finished: the money comes next, right under the name.
    main.append(renderDone(job));
    // The invoice exists once the server has the job finished, not while Finish is queued.
    const finished = DONE.has(job.serverState);
    if (finished && !app.payments.has(job.id) && !app.fromCache) loadMoney(job.id);
    renderActionBar(bar, job);
    return null;
  }
  const go = el("div", "row");
  const navigate = link("Navigate", "btn btn-go", job.navigate_url, "navigate");
  navigate.target = "_blank";
  navigate.rel = "noopener";
  go.append(navigate);
  if (job.customer_phone) go.append(link("Call", "btn", `tel:${job.customer_phone.replace(/[^+\d]/g, "")}`, "call"));
  card.append(go);
  card.append(el("p", "what", `${vehicleText(job.vehicle)} · ${SERVICES[job.service_type] ?? job.service_type}`));
  if (job.notes) card.append(el("p", "notes", job.notes));
  renderActionBar(bar, job);
  if (job.state !== "in_progress") return null;
  main.append(renderEvidence(job));
  return renderSignature(job);
}

/** The one big button: the next step, or on to the next job. */
function renderActionBar(bar, job) {
  if (job.next_action) {
    if (job.next_action === "complete" && job.missing.length) {
      const need = el("ul", "missing");
      need.id = "missing";
      for (const words of job.missing) need.append(el("li", "", words));
      bar.append(need);
    }
    const primary = button(BUTTON[job.next_action], "btn btn-primary", () => act(job), "primary");
    primary.dataset.action = job.next_action;
    primary.disabled = job.next_action === "complete" && job.missing.length > 0;
    bar.append(primary);
    bar.hidden = false;
  } else if (DONE.has(job.state) && (app.focus === job.id || app.screen === "job")) {
    const next = button("Next job", "btn btn-primary", async () => {
      await setFocus(null);
      app.screen = "home";
      app.openJob = null;
      render();
    }, "next-job");
    bar.append(next);
    bar.hidden = false;
  }
}

function statusLine(job) {
  if (job.state === "scheduled") return app.screen === "job" ? "Scheduled" : "Next job";
  if (job.state === "en_route") return `Driving to ${job.customer_first_name || "the customer"}`;
  if (job.state === "in_progress") return "Working";
  return "Finished";
}

function renderEvidence(job) {
  const box = el("section", "evidence");
  box.append(el("h2", "", "Photos"));
  const row = el("div", "row");
  for (const kind of ["before", "after"]) {
    const id = `${kind}-input`;
    const input = el("input", "visually-hidden");
    input.type = "file";
    input.accept = "image/*";
    input.setAttribute("capture", "environment");
    input.id = id;
    input.addEventListener("change", () => takePhoto(job, kind, input));
    const label = el("label", "btn btn-camera", kind === "before" ? "Before photo" : "After photo");
    label.htmlFor = id;
    label.id = `${kind}-photo`;
    const count = job[`${kind}_photos`];
    if (count) label.append(el("span", "count", ` ✓${count > 1 ? count : ""}`));
    row.append(input, label);
  }
  box.append(row);
  const thumbs = app.thumbs.get(job.id) ?? [];
  if (thumbs.length) {
    const strip = el("div", "thumbs");
    for (const t of thumbs) {
      const fig = el("figure", "thumb");
      fig.dataset.seq = String(t.seq);
      fig.dataset.kind = t.kind;
      fig.dataset.sha256 = t.sha256;
      const image = el("img");
      image.src = t.url;
      image.alt = `${t.kind} photo`;
      const caption = el("figcaption", "thumb-caption");
      const bar = el("progress", "progress");
      bar.max = 100;
      bar.dataset.seq = String(t.seq);
      fig.append(image, caption, bar);
      strip.append(fig);
    }
    box.append(strip);
  }
  return box;
}

function renderSignature(job) {
  if (job.signed) {
    const done = el("section", "sign sign-done");
    const block = app.pads.get(job.id);
    done.append(el("h2", "", "Customer signature"));
    done.append(el("p", "ok", block?.signer ? `Signed by ${block.signer} ✓` : "Signed ✓"));
    return done;
  }
  let block = app.pads.get(job.id);
  if (!block) {
    const root = el("section", "sign");
    root.append(el("h2", "", "Customer signature"));
    const canvas = el("canvas", "signature-pad");
    canvas.id = "signature-pad";
    canvas.width = 640;
    canvas.height = 260;
    canvas.setAttribute("aria-label", "Customer signs here");
    const name = el("input", "input");
    name.id = "signer-name";
    name.type = "text";
    name.autocomplete = "off";
    name.setAttribute("autocapitalize", "words");
    name.maxLength = 120;
    const label = el("label", "field", "Customer's name");
    label.htmlFor = "signer-name";
    const row = el("div", "row");
    const save = button("Save signature", "btn btn-go", () => saveSignature(job, block), "signature-save");
    const clear = button("Clear", "btn", () => block.pad.clear(), "signature-clear");
    row.append(clear, save);
    root.append(el("p", "hint", "Customer signs with a finger:"), canvas, label, name, row);
    const update = () => { save.disabled = !(block.pad?.signed && name.value.trim()); };
    block = { root, name, signer: null, pad: null };
    block.pad = new SignaturePad(canvas, () => { update(); if (block.pad?.pointer === null) render(); });
    name.addEventListener("input", update);
    update();
    app.pads.set(job.id, block);
  }
  return block.root;
}

function renderDone(job) {
  const box = el("section", "done");
  box.id = "done";
  const owed = owedOf(job);
  const payments = app.payments.get(job.id) ?? [];
  const invoice = app.invoices.get(job.id);
  const succeeded = payments.filter((p) => p.status === "succeeded");
  const card = payments.find((p) => p.method === "card" && p.status === "pending");
  const queued = job.queued.find((i) => i.type === "payment");
  const paid = owed !== null && owed <= 0 && (job.amount_due_cents > 0 || succeeded.length > 0);

  if (job.amount_due_cents === null) {
    box.append(el("p", "due due-unknown", "The amount due shows once the office has the job."));
  } else if (paid) {
    const how = succeeded.map((p) => METHODS[p.method] ?? p.method).join(", ");
    const paidBox = el("div", "paid");
    paidBox.id = "paid";
    paidBox.append(el("p", "paid-title", "Paid ✓"));
    if (job.amount_due_cents > 0) paidBox.append(el("p", "", `${cents(job.paid_cents)}${how ? ` · ${how}` : ""}`));
    else paidBox.append(el("p", "", "Nothing to collect: insurance only."));
    box.append(paidBox);
  } else {
    const due = el("p", "due", owed > 0 ? `Customer pays ${cents(owed)}` : "Nothing to collect from the customer");
    due.id = "amount-due";
    box.append(due);
  }
  // From the invoice when the phone has fetched it, else from the day (kept offline).
  const insurer = invoice?.insurer_share_cents ?? job.insurer_share_cents ?? 0;
  if (insurer > 0) box.append(el("p", "insurance", `Insurance pays the rest (${cents(insurer)}).`));

  if (queued) {
    const words = outbox.sending === queued.seq ? "Sending…" : "Waiting to send";
    box.append(el("p", "hint pay-queued", `${itemLabel(queued)}: ${words}`));
  } else if (!paid) {
    if (card) box.append(renderCard(card));
    if (app.payChoice === job.id) {
      const row = el("div", "pay-choices");
      row.append(
        button("Cash", "btn btn-pay", () => pay(job, "cash"), "pay-cash-only"),
        button("Cheque", "btn btn-pay", () => pay(job, "cheque"), "pay-cheque"),
        button("Back", "btn", () => { app.payChoice = null; render(); }, "pay-back"),
      );
      box.append(row);
    } else {
      const nothingOwed = owed !== null && owed <= 0;
      const row = el("div", "pay-choices");
      const cardButton = button("Card", "btn btn-pay", () => pay(job, "card"), "pay-card");
      const cash = button("Cash/cheque", "btn btn-pay", () => { app.payChoice = job.id; render(); }, "pay-cash");
      cardButton.disabled = cash.disabled = nothingOwed;
      // With a checkout open, its code is on screen already: another tap would show the same.
      if (!card) row.append(cardButton);
      row.append(
        cash,
        button("Insurance only", "btn btn-pay", () => pay(job, "insurance_only"), "pay-insurance"),
      );
      if (!card) box.append(row);
      else box.append(el("p", "hint", "Or take it another way:"), row);
    }
  }

  const docs = el("div", "row docs");
  const order = link("Work order (PDF)", "btn", `/api/v1/jobs/${job.id}/documents/work-order.pdf`, "work-order-link");
  const bill = link("Invoice (PDF)", "btn", `/api/v1/jobs/${job.id}/documents/invoice.pdf`, "invoice-link");
  for (const a of [order, bill]) {
    a.target = "_blank";
    a.rel = "noopener";
  }
  docs.append(order, bill);
  box.append(docs);
  return box;
}

function renderCard(payment) {
  const box = el("div", "card-pay");
  box.id = "card-pay";
  box.append(el("p", "card-title", `Customer scans to pay ${cents(payment.amount_cents)}`));
  if (payment.qr_svg) {
    // Shown as an image, never inserted as markup: an image cannot run anything.
    const svg = payment.qr_svg.includes("xmlns=")
      ? payment.qr_svg
      : payment.qr_svg.replace("<svg", '<svg xmlns="http://www.w3.org/2000/svg"');
    const image = el("img", "qr");
    image.id = "card-qr";
    image.alt = "QR code of the payment page";
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    box.append(image);
  }
  if (payment.checkout_url) {
    const open = link("Open the payment page", "btn", payment.checkout_url, "card-link");
    open.target = "_blank";
    open.rel = "noopener";
    box.append(open);
  }
  box.append(el("p", "hint", "Waiting for the payment…"));
  return box;
}

/** Upload progress changes often: it is written in place, without rebuilding the screen. */
function updateProgress() {
  for (const bar of document.querySelectorAll("progress[data-seq]")) {
    const seq = Number(bar.dataset.seq);
    const item = outbox.items.find((i) => i.seq === seq);
    const thumb = [...app.thumbs.values()].flat().find((t) => t.seq === seq);
    const percent = item ? outbox.progress.get(seq) ?? 0 : 100;
    // The highest share the upload events reported (not assumed from the answer).
    if (thumb && item) thumb.progress = Math.max(thumb.progress ?? 0, percent);
    bar.value = percent;
    const fig = bar.closest("figure");
    if (!fig) continue;
    let status = thumb?.status ?? "waiting";
    let words = "Waiting to send";
    if (item?.state === "failed") {
      status = "failed";
      words = "Not sent";
    } else if (item && outbox.sending === seq) {
      status = "sending";
      words = `Uploading ${percent}%`;
    } else if (!item && status === "sent") {
      words = "Sent ✓";
    } else if (!item && status === "mismatch") {
      words = "Sent, but the office got a different file";
    }
    fig.dataset.status = status;
    fig.dataset.progress = String(thumb?.progress ?? 0);
    fig.querySelector("figcaption").textContent = `${fig.dataset.kind === "before" ? "Before" : "After"} · ${words}`;
    bar.hidden = status === "sent";
  }
}

// ---------------------------------------------------------------------------------------------
// Start.

async function start() {
  $("today-button").addEventListener("click", () => {
    app.screen = app.screen === "home" ? "list" : "home";
    app.openJob = null;
    render();
  });
  $("outbox-badge").addEventListener("click", () => {
    app.screen = app.screen === "outbox" ? "home" : "outbox";
    render();
  });
  $("undo").addEventListener("click", undo);
  window.addEventListener("online", () => {
    render();
    refreshDay();
  });
  window.addEventListener("offline", () => render());
  mountVoice($("voice")); // the day's pulse and open polls, below the work; quiet if offline
  // What the phone remembers opens the app at once, signal or not.
  try {
    const [day, focus] = await Promise.all([getValue("day"), getValue("focus")]);
    if (day && day.technician_id === TECHNICIAN_ID) app.day = day; // until the server answers
    app.focus = focus ?? null;
  } catch {
    // Private mode without IndexedDB: the app still works, online only.
  }
  await outbox.start();
  for (const item of outbox.items) if (item.type === "photo") addThumb(item);
  render();
  await refreshDay();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/tech/sw.js", { scope: "/tech" }).catch(() => {});
  }
  document.body.dataset.ready = "true";
}

start();
