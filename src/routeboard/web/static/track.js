/**
 * The customer's tracking page: opened from a text or an email, no sign-in, the link's token is
 * the only credential. It shows where the job is (booked → on the way → arrived → working →
 * done), when the technician should arrive, the receipt once done, and asks two short questions.
 *
 * The server is the source of truth: every stream event but one makes the page read the job
 * again (GET /api/v1/track/{token}); ``job.eta`` carries its figures and is applied as is.
 * The page's skeleton is in track.html; drawing only fills text and toggles ``hidden``, so a
 * redraw never loses a half-typed comment or a picked rating.
 *
 * Text from the server reaches the page through textContent only, never as HTML.
 */

import { el } from "./page.js";

const page = document.body.dataset;
const TOKEN = page.token ?? "";
const BASE = `/api/v1/track/${encodeURIComponent(TOKEN)}`;
const REFRESH_DEBOUNCE_MS = 250; // a burst of events reads the job once
const RECONNECT_AFTER_FRAME_MS = 1_000; // the server asked for a fresh stream
const RETRY_MS = [5_000, 10_000, 30_000]; // once the browser has given up on the stream
const REFETCH_EVENTS = [
  "snapshot", "job.transitioned", "job.scheduled", "job.updated", "job.payment",
  "technician.geofence",
];
const STEPS = ["queued", "on_the_way", "arrived", "working", "done"];
const SERVICES = {
  windshield_replacement: "Windshield replacement",
  chip_repair: "Chip repair",
  adas_calibration: "ADAS calibration",
  side_back_glass: "Side/back glass",
};
const LIVE = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…" };

const app = {
  data: null, // the last answer of GET /api/v1/track/{token}
  over: false, // the link is dead (invalid, expired, revoked): nothing more is asked
  stream: null,
  retries: 0,
  retryTimer: null,
  refreshTimer: null,
  readSeq: 0, // answers to older reads are dropped
  rating: null, // the rating picked, not yet sent
  sendingRating: false,
  sendingArrival: false,
  arrivalThanked: false,
  problemFrom: null, // "read" | "send": a good read clears only its own problem
};

const $ = (id) => document.getElementById(id);

function show(node, visible) {
  node.hidden = !visible;
}

/** Written only when it changed: a live region must not re-announce the same words. */
function setText(node, text) {
  const words = text ?? "";
  if (node.textContent !== words) node.textContent = words;
}

// ---------------------------------------------------------------------------------------------
// Words and numbers, in the shop's time zone and the receipt's currency.

const formats = new Map();

function format(kind) {
  const tz = app.data?.timezone || page.timezone || undefined;
  const key = `${kind}|${tz}`;
  if (!formats.has(key)) {
    const options = kind === "clock"
      ? { hour: "numeric", minute: "2-digit" }
      : { weekday: "short", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" };
    let made;
    try {
      made = new Intl.DateTimeFormat("en-US", { ...options, timeZone: tz });
    } catch {
      made = new Intl.DateTimeFormat("en-US", options); // an unknown zone: the phone's own
    }
    formats.set(key, made);
  }
  return formats.get(key);
}

function clockText(iso) {
  return format("clock").format(new Date(iso));
}

function rangeText(start, end) {
  const f = format("day");
  const a = new Date(start);
  if (!end) return f.format(a);
  const b = new Date(end);
  return f.formatRange ? f.formatRange(a, b) : `${f.format(a)} – ${clockText(end)}`;
}

/** The promised arrival: the window, else the scheduled start (its end is when work ends). */
function promisedText(job) {
  if (job.window) return rangeText(job.window.start, job.window.end);
  if (job.scheduled_start) return rangeText(job.scheduled_start, null);
  return "";
}

function moneyText(cents, currency) {
  let f;
  try {
    f = new Intl.NumberFormat("en-US", { style: "currency", currency: (currency || "usd").toUpperCase() });
  } catch {
    f = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  }
  return f.format((cents ?? 0) / 100);
}

function vehicleText(v) {
  return v ? [v.year, v.make, v.model].filter(Boolean).join(" ") : "";
}

function serviceText(type) {
  if (!type) return "";
  const words = SERVICES[type] ?? type.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function shopPhone() {
  return app.data?.shop_phone || page.shopPhone || "";
}

function shopName() {
  return app.data?.shop_name || page.shopName || "the shop";
}

/** A phone number as a dialler wants it: digits and a leading +. */
function dialable(phone) {
  const digits = phone.replace(/[^\d+]/g, "");
  return digits.charAt(0) + digits.slice(1).replaceAll("+", "");
}

/** Only http(s) links, on this site or another: never a javascript: URL from a payload. */
function safeLink(url) {
  try {
    const { protocol } = new URL(url, window.location.href);
    return protocol === "https:" || protocol === "http:";
  } catch {
    return false;
  }
}

/** The refusal's words (errors.py: {"error": code, "message": text}), as a sentence. */
function errorMessage(data, fallback) {
  const error = data?.error;
  let words = fallback;
  if (error && typeof error === "object" && error.message) words = error.message;
  else if (typeof data?.message === "string" && data.message) words = data.message;
  return words.charAt(0).toUpperCase() + words.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Talking to the server. The link is the credential: no cookies are sent, so a signed-in
// dispatcher opening a customer's link sees exactly what the customer sees.

async function call(method, path, body) {
  const init = { method, credentials: "omit", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const response = await fetch(`${BASE}${path}`, init);
    const data = await response.json().catch(() => null);
    return { ok: response.ok, status: response.status, data };
  } catch {
    return { ok: false, status: 0, data: null };
  }
}

async function read() {
  const seq = ++app.readSeq;
  const result = await call("GET", "");
  if (seq !== app.readSeq || app.over) return;
  if (result.status === 401 || result.status === 404) {
    linkDead("This tracking link is invalid or has expired.");
    return;
  }
  if (!result.ok || !result.data?.job) {
    const fallback = result.status === 0
      ? "We couldn't reach the shop. Check your connection; the page will keep trying."
      : "We couldn't load your appointment. Please try again in a moment.";
    problem(errorMessage(result.data, fallback), "read");
    return;
  }
  app.data = result.data;
  if (app.problemFrom === "read") problem(null);
  render();
}

function readSoon() {
  clearTimeout(app.refreshTimer);
  app.refreshTimer = setTimeout(read, REFRESH_DEBOUNCE_MS);
}

async function sendFeedback(body) {
  const result = await call("POST", "/feedback", body);
  if (result.status === 401) {
    linkDead("This tracking link is invalid or has expired.");
    return null;
  }
  if (!result.ok) {
    const fallback = result.status === 0
      ? "That wasn't sent: no connection. Please try again."
      : "That wasn't sent. Please try again.";
    problem(errorMessage(result.data, fallback), "send");
    return null;
  }
  problem(null);
  // A read on its way may predate this answer: drop it and read again.
  app.readSeq += 1;
  readSoon();
  return result.data ?? {};
}

async function answerArrival(onTime) {
  if (app.sendingArrival) return;
  app.sendingArrival = true;
  render();
  const answer = await sendFeedback({ kind: "arrival", on_time: onTime });
  app.sendingArrival = false;
  if (answer && app.data) {
    app.data.survey = { ...app.data.survey, on_time: answer.on_time ?? onTime };
    app.arrivalThanked = true;
  }
  render();
}

async function sendRating() {
  if (app.sendingRating || !app.rating) return;
  app.sendingRating = true;
  render();
  const comment = $("comment").value.trim();
  const answer = await sendFeedback({ kind: "rating", rating: app.rating, comment });
  app.sendingRating = false;
  if (answer && app.data) {
    app.data.survey = {
      ...app.data.survey,
      rating: answer.rating ?? app.rating,
      comment: answer.comment ?? comment,
    };
  }
  render();
  if (answer) $("survey-thanks").focus();
}

// ---------------------------------------------------------------------------------------------
// Live: the stream says something changed; the page reads the job again.

function connect() {
  if (app.over) return;
  if (app.stream) app.stream.close();
  clearTimeout(app.retryTimer);
  const source = new EventSource(`${BASE}/stream`);
  app.stream = source;
  const mine = (handler) => (message) => {
    if (source !== app.stream) return;
    app.retries = 0;
    setLive("live");
    handler(message);
  };
  source.addEventListener("open", mine(() => {}));
  for (const name of REFETCH_EVENTS) source.addEventListener(name, mine(readSoon));
  source.addEventListener("job.eta", mine(applyEta));
  source.addEventListener("reconnect", mine(() => {
    // A fresh EventSource sends no Last-Event-ID: it opens with a snapshot, which reads again.
    source.close();
    setLive("reconnecting");
    app.retryTimer = setTimeout(connect, RECONNECT_AFTER_FRAME_MS);
  }));
  source.addEventListener("revoked", mine(() => linkDead("This link is no longer active. Call the shop.")));
  source.addEventListener("error", () => {
    if (source !== app.stream) return;
    setLive("reconnecting");
    if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
    // Refused for good (a dead link answers 401): the read says which, then try again.
    read();
    const wait = RETRY_MS[Math.min(app.retries, RETRY_MS.length - 1)];
    app.retries += 1;
    app.retryTimer = setTimeout(connect, wait);
  });
}

function applyEta(message) {
  let event;
  try {
    event = JSON.parse(message.data);
  } catch {
    return;
  }
  const job = app.data?.job;
  if (!job || (event.job_id != null && event.job_id !== job.id)) return;
  if (event.eta) job.eta = event.eta;
  if (typeof event.late_minutes === "number") job.late_minutes = event.late_minutes;
  render();
}

function setLive(state) {
  const live = $("live");
  if (live.dataset.state === state) return;
  live.dataset.state = state;
  live.textContent = LIVE[state];
}

/** A phone wakes with a stream the browser gave up on: start again at once. */
function onVisible() {
  if (document.visibilityState !== "visible" || app.over) return;
  if (!app.stream || app.stream.readyState === EventSource.CLOSED) {
    app.retries = 0;
    connect();
  }
  readSoon();
}

/** The link opens nothing any more: say so, stop asking, leave the shop's number. */
function linkDead(words) {
  app.over = true;
  clearTimeout(app.retryTimer);
  clearTimeout(app.refreshTimer);
  if (app.stream) app.stream.close();
  app.stream = null;
  const live = $("live");
  live.hidden = true;
  problem(null);
  show($("loading"), false);
  show($("content"), false);
  show($("more"), false);
  let box = $("invalid");
  if (!box) {
    box = el("section", "card gone");
    box.id = "invalid";
    $("contact").before(box);
  }
  const phone = shopPhone();
  const text = words.endsWith("Call the shop.")
    ? words
    : `${words} Please call ${shopName()}${phone ? ` at ${phone}` : ""}.`;
  box.replaceChildren(el("p", "gone-text", text));
  drawContact();
}

// ---------------------------------------------------------------------------------------------
// Drawing.

function problem(text, from = null) {
  const box = $("problem");
  box.textContent = text ?? "";
  show(box, Boolean(text));
  app.problemFrom = text ? from : null;
}

function drawContact() {
  const phone = shopPhone();
  show($("contact"), Boolean(phone));
  if (!phone) return;
  const number = dialable(phone);
  $("call-shop").href = `tel:${number}`;
  $("text-shop").href = `sms:${number}`;
  setText($("shop-phone"), phone);
}

function drawProgress(progress) {
  const cancelled = progress === "cancelled";
  show($("cancelled"), cancelled);
  show($("progress"), !cancelled);
  const at = STEPS.indexOf(progress);
  for (const item of $("progress").children) {
    const index = STEPS.indexOf(item.dataset.step);
    const status = index < at ? "done" : index === at ? "current" : "todo";
    item.dataset.status = status;
    if (status === "current") item.setAttribute("aria-current", "step");
    else item.removeAttribute("aria-current");
    setText(item.querySelector(".step-state"), status === "done" ? ", done" : "");
  }
}

function drawNow(job) {
  const who = job.technician?.first_name || "Your technician";
  const vehicle = vehicleText(job.vehicle) || "vehicle";
  const onTheWay = job.progress === "on_the_way";
  const lines = {
    queued: () => {
      const when = promisedText(job);
      return when ? `Booked for ${when}` : "You're booked. We'll confirm the time soon.";
    },
    arrived: () => `${who} has arrived`,
    working: () => `${who} is working on your ${vehicle}`,
    done: () => "All done",
  };
  const headline = $("headline");
  setText(headline, lines[job.progress]?.() ?? "");
  show(headline, !onTheWay && Boolean(headline.textContent));

  const eta = $("eta");
  setText(eta, job.eta
    ? `${who} is on the way — arriving around ${clockText(job.eta)}`
    : `${who} is on the way`);
  show(eta, onTheWay);

  const late = Math.round(job.late_minutes ?? 0);
  const showLate = late >= 1 && (onTheWay || job.progress === "queued");
  setText($("late"), showLate ? `Running about ${late} min late` : "");
  show($("late"), showLate);
}

function drawDetails(job) {
  const technician = job.progress === "cancelled" ? "" : job.technician?.first_name ?? "";
  setText($("technician"), technician);
  show($("technician-row"), Boolean(technician));
  setText($("vehicle"), vehicleText(job.vehicle));
  setText($("service"), serviceText(job.service_type));
  setText($("address"), job.site_address ?? "");
  const when = promisedText(job);
  setText($("window"), when);
  show($("window-row"), Boolean(when));
}

function drawArrival(survey) {
  const asking = Boolean(survey?.arrival_open) && survey.on_time == null;
  const thanked = app.arrivalThanked && Boolean(survey?.arrival_open);
  show($("arrival-survey"), asking || thanked);
  show($("arrival-ask"), asking);
  show($("arrival-thanks"), !asking && thanked);
  for (const id of ["arrival-yes", "arrival-no"]) $(id).disabled = app.sendingArrival;
}

function drawReceipt(receipt, done) {
  show($("receipt"), Boolean(done && receipt));
  if (!done || !receipt) return;
  const money = (cents) => moneyText(cents, receipt.currency);
  setText($("receipt-number"), receipt.number ? `#${receipt.number}` : "");
  setText($("receipt-total"), money(receipt.total_cents));
  const insured = (receipt.insurer_share_cents ?? 0) > 0;
  setText($("receipt-insurer"), money(receipt.insurer_share_cents));
  setText($("receipt-share"), money(receipt.customer_share_cents));
  show($("receipt-insurer-row"), insured);
  show($("receipt-share-row"), insured);
  setText($("receipt-paid"), money(receipt.paid_cents));
  setText($("receipt-balance"), (receipt.balance_cents ?? 0) > 0
    ? money(receipt.balance_cents)
    : `${money(0)} · Paid in full`);
  const pdf = $("receipt-pdf");
  const linked = Boolean(receipt.pdf_url) && safeLink(receipt.pdf_url);
  if (linked) pdf.href = receipt.pdf_url;
  show(pdf, linked);
}

function drawSurvey(survey, done) {
  const rated = survey?.rating != null;
  show($("survey"), Boolean(done && (survey?.rating_open || rated)));
  show($("survey-form"), !rated);
  show($("survey-thanks"), rated);
  if (rated) {
    const given = $("survey-given");
    const stars = "★".repeat(survey.rating) + "☆".repeat(Math.max(0, 5 - survey.rating));
    setText(given, `You rated us ${survey.rating} out of 5 ${stars}`);
    show(given, true);
    return;
  }
  for (const star of document.querySelectorAll("#survey [data-rating]")) {
    const value = Number(star.dataset.rating);
    star.setAttribute("aria-pressed", String(value === app.rating));
    star.dataset.lit = String(app.rating !== null && value <= app.rating);
    star.disabled = app.sendingRating;
  }
  $("comment").disabled = app.sendingRating;
  const send = $("send-rating");
  send.disabled = app.sendingRating || !app.rating;
  setText(send, app.sendingRating ? "Sending…" : "Send");
}

function render() {
  if (app.over || !app.data) return;
  const { job, receipt, survey } = app.data;
  show($("loading"), false);
  show($("content"), true);
  show($("more"), true);
  setText($("shop-name"), shopName());
  document.title = `Your appointment · ${shopName()}`;
  const done = job.progress === "done";
  const cancelled = job.progress === "cancelled";
  drawProgress(job.progress);
  drawNow(job);
  drawArrival(cancelled ? null : survey);
  drawReceipt(receipt, done);
  drawSurvey(survey, done);
  drawDetails(job);
  drawContact();
}

// ---------------------------------------------------------------------------------------------
// Start.

function start() {
  for (const button of document.querySelectorAll("#arrival-survey [data-on-time]")) {
    button.addEventListener("click", () => answerArrival(button.dataset.onTime === "true"));
  }
  for (const star of document.querySelectorAll("#survey [data-rating]")) {
    star.addEventListener("click", () => {
      app.rating = Number(star.dataset.rating);
      render();
    });
  }
  $("send-rating").addEventListener("click", sendRating);
  $("survey-thanks").tabIndex = -1; // focused after sending, so a screen reader hears it
  document.addEventListener("visibilitychange", onVisible);
  drawContact();
  read().then(() => {
    connect();
    document.body.dataset.ready = "true";
  });
}

start();
