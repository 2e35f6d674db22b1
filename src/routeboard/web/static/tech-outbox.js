/**
 * The outbox: every change the technician makes (a step, a photo, the signature, a payment) is
 * stored here first, with the time it was taken and an Idempotency-Key made at that moment, and
 * sent from here, strictly in the order taken.
 *
 * - A step waits out its undo window in the outbox ("hold"): Undo deletes it before it is sent.
 * - Network errors, 5xx, 408 and 429 are retried with backoff (and at once when the browser says
 *   it is back online); the key makes a repeat harmless if an answer was lost on the way.
 * - Any other 4xx stops that item (and so the queue behind it, which may depend on it) until the
 *   technician discards it or tries again: the server's message says why.
 * - 401 (or a CSRF refusal) means the sign-in has ended: nothing is discarded, the queue waits
 *   for the technician to sign in again, and the next page load sends it.
 */

import { addItem, allItems, deleteItem, getValue, putItem, setValue } from "./tech-store.js";

const JSON_TIMEOUT_MS = 30_000;
const UPLOAD_TIMEOUT_MS = 180_000;
const BACKOFF_FIRST_MS = 1_000;
const BACKOFF_MAX_MS = 60_000;
// navigator.onLine can miss an 'online' event (a captive portal, a flaky radio): look anyway.
const OFFLINE_POLL_MS = 30_000;
const CLOCK_NOISE_MS = 5_000;

const PATHS = {
  transition: (job) => `/api/v1/jobs/${job}/transitions`,
  photo: (job) => `/api/v1/jobs/${job}/photos`,
  signature: (job) => `/api/v1/jobs/${job}/signature`,
  payment: (job) => `/api/v1/jobs/${job}/payments`,
};

/** A key the server accepts (8–100 of [A-Za-z0-9_.:-]), unique to this action. */
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What to do with an answer: "ok", "retry", "signin" or "stop". */
export function verdict(status, body) {
  if (status >= 200 && status < 300) return "ok";
  if (status === 0 || status >= 500 || status === 408 || status === 429) return "retry";
  if (status === 401 || (status === 403 && body?.error === "csrf_failed")) return "signin";
  return "stop";
}

function parse(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export class Outbox {
  /**
   * @param {object} options
   * @param {string} options.csrf the page session's CSRF token
   * @param {number} options.technicianId whose actions these are (a shared phone keeps others')
   * @param {() => void} options.onChange the list, a state or a progress changed
   * @param {(item: object, answer: object) => void} options.onSent the server accepted ``item``
   */
  constructor({ csrf, technicianId, onChange, onSent }) {
    this.csrf = csrf;
    this.technicianId = technicianId;
    this.onChange = onChange;
    this.onSent = onSent;
    this.items = []; // this technician's items, oldest first (mirrors IndexedDB)
    this.sending = null; // seq of the item on the wire
    this.progress = new Map(); // seq → percent uploaded
    this.signinNeeded = false;
    this.lastError = ""; // why the last attempt did not get through (shown as a hint)
    this.timer = null;
    this.running = false;
    this.again = false;
    this.failures = 0; // consecutive retryable failures: the backoff's exponent
    this.clockOffset = 0; // server clock minus the phone's, ms (see setClockOffset)
  }

  async start() {
    this.clockOffset = (await getValue("clock_offset").catch(() => 0)) || 0;
    await this.reload();
    window.addEventListener("online", () => this.wake());
    setInterval(() => this.drain(), OFFLINE_POLL_MS);
    this.drain();
  }

  async reload() {
    const all = await allItems();
    this.items = all.filter((item) => item.technician_id === this.technicianId);
    this.onChange();
  }

  /**
   * Keep an action: ``holdMs`` > 0 gives it an undo window before it may be sent;
   * ``onStored(item)`` runs once it is kept and before it can be sent.
   */
  /** How far the server's clock is ahead of the phone's (ms); kept for use offline. */
  setClockOffset(ms) {
    // A second or two is the round trip's noise, not a wrong clock.
    this.clockOffset = Math.abs(ms) < CLOCK_NOISE_MS ? 0 : Math.round(ms);
    setValue("clock_offset", this.clockOffset).catch(() => {});
  }

  async add(type, jobId, body, { holdMs = 0, label = "", onStored = null } = {}) {
    const now = Date.now();
    const item = {
      technician_id: this.technicianId,
      type,
      job_id: jobId,
      body,
      label,
      key: newKey(),
      occurred_at: new Date(now + this.clockOffset).toISOString(),
      hold_until: holdMs > 0 ? now + holdMs : 0,
      state: "waiting",
      error: null,
    };
    item.seq = await addItem(item);
    this.items.push(item);
    onStored?.(item);
    this.onChange();
    this.drain();
    return item;
  }

  /** Cancel a held action before it is sent; false when it is already on its way. */
  async undo(seq) {
    const item = this.items.find((i) => i.seq === seq);
    if (!item || this.sending === seq || item.hold_until <= Date.now()) return false;
    item.hold_until = Number.POSITIVE_INFINITY; // never picked up while being deleted
    await deleteItem(seq);
    this.items = this.items.filter((i) => i.seq !== seq);
    this.onChange();
    this.wake(); // its hold timer would only delay what comes after it
    return true;
  }

  /** Give up on a stopped item (the technician read why); the queue behind it moves on. */
  async discard(seq) {
    if (this.sending === seq) return;
    await deleteItem(seq);
    this.items = this.items.filter((i) => i.seq !== seq);
    this.onChange();
    this.wake();
  }

  /** Send a stopped item again, as it is (same key: the server never applies it twice). */
  async retry(seq) {
    const item = this.items.find((i) => i.seq === seq);
    if (!item) return;
    item.state = "waiting";
    item.error = null;
    await putItem(item);
    this.onChange();
    this.wake();
  }

  /** Try now: the connection is back, or the queue was unblocked. */
  wake() {
    this.failures = 0;
    clearTimeout(this.timer);
    this.timer = null;
    this.drain();
  }

  /** The items still to send (held ones included), and the one the queue is stopped at. */
  get waiting() {
    return this.items.length;
  }

  get stopped() {
    return this.items.find((item) => item.state === "failed") ?? null;
  }

  later(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.drain();
    }, Math.max(ms, 0));
  }

  /** Send what can be sent, oldest first, one at a time. */
  async drain() {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.again = false;
        await this.sendAll();
      } while (this.again);
    } finally {
      this.running = false;
    }
  }

  async sendAll() {
    while (this.items.length > 0 && !this.signinNeeded) {
      const item = this.items[0];
      if (item.state === "failed") return; // strictly in order: wait for the technician
      const wait = item.hold_until - Date.now();
      if (wait > 0) {
        if (wait !== Number.POSITIVE_INFINITY) this.later(wait);
        return;
      }
      if (!navigator.onLine) {
        this.lastError = "No signal";
        this.onChange();
        return; // the 'online' event (or the poll) wakes us
      }
      if (this.timer !== null) return; // a backoff is running: its timer calls us
      this.sending = item.seq;
      this.onChange();
      let answer;
      try {
        answer = await this.send(item);
      } finally {
        this.sending = null;
      }
      const what = verdict(answer.status, answer.body);
      if (what === "ok") {
        this.failures = 0;
        this.lastError = "";
        this.progress.delete(item.seq);
        await deleteItem(item.seq);
        this.items = this.items.filter((i) => i.seq !== item.seq);
        this.onSent(item, answer.body);
        this.onChange();
        continue;
      }
      if (what === "signin") {
        this.signinNeeded = true;
        this.onChange();
        return;
      }
      if (what === "stop") {
        item.state = "failed";
        item.error = {
          status: answer.status,
          code: answer.body?.error ?? "",
          message: answer.body?.message ?? `The server refused it (${answer.status}).`,
        };
        this.progress.delete(item.seq);
        await putItem(item);
        this.onChange();
        return;
      }
      // Retry later: exponential, a little random so a crew's phones do not retry in step.
      this.failures += 1;
      this.lastError = answer.status === 0 ? "No connection" : `Server busy (${answer.status})`;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.failures - 1));
      const hinted = Number(answer.retryAfter) * 1000 || 0;
      this.later(Math.max(backoff * (0.75 + Math.random() / 2), hinted));
      this.onChange();
      return;
    }
  }

  headers(item) {
    return {
      Accept: "application/json",
      "X-CSRF-Token": this.csrf,
      "Idempotency-Key": item.key,
      // When it really happened: the server records that time (and when it arrived).
      "X-Occurred-At": item.occurred_at,
    };
  }

  /** One attempt; resolves with {status (0: no answer), body, retryAfter}. */
  send(item) {
    const url = PATHS[item.type](item.job_id);
    if (item.type === "photo") return this.upload(url, item);
    return this.post(url, item);
  }

  async post(url, item) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), JSON_TIMEOUT_MS);
    try {
      const response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { ...this.headers(item), "Content-Type": "application/json" },
        body: JSON.stringify(item.body),
        signal: controller.signal,
      });
      const body = parse(await response.text());
      return { status: response.status, body, retryAfter: response.headers.get("Retry-After") };
    } catch {
      return { status: 0, body: null, retryAfter: null };
    } finally {
      clearTimeout(timer);
    }
  }

  /** A photo, through XMLHttpRequest: fetch cannot report upload progress. */
  upload(url, item) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.timeout = UPLOAD_TIMEOUT_MS;
      for (const [name, value] of Object.entries(this.headers(item))) {
        xhr.setRequestHeader(name, value);
      }
      const show = (loaded, total) => {
        if (!total) return;
        const percent = Math.min(100, Math.round((loaded / total) * 100));
        if (percent >= (this.progress.get(item.seq) ?? 0)) {
          this.progress.set(item.seq, percent);
          this.onChange();
        }
      };
      xhr.upload.addEventListener("progress", (event) => show(event.loaded, event.total));
      xhr.upload.addEventListener("load", () => show(1, 1));
      const fail = () => resolve({ status: 0, body: null, retryAfter: null });
      xhr.addEventListener("error", fail);
      xhr.addEventListener("abort", fail);
      xhr.addEventListener("timeout", fail);
      xhr.addEventListener("load", () =>
        resolve({
          status: xhr.status,
          body: parse(xhr.responseText),
          retryAfter: xhr.getResponseHeader("Retry-After"),
        }),
      );
      const form = new FormData();
      form.append("kind", item.body.kind);
      form.append("file", item.body.blob, `${item.body.kind}-${item.key}.jpg`);
      this.progress.set(item.seq, 0);
      this.onChange();
      xhr.send(form);
    });
  }
}
