/**
 * The dispatcher board: one column per technician, the day as a vertical timeline.
 *
 * The server is the source of truth. This page holds the board as the event stream describes it
 * (a snapshot, then each event applied exactly like events/board.py::apply_event) and asks the
 * schedule API for what only the server can work out: drive times and projected lateness.
 * Nothing is saved by dragging: a drop is checked first (POST /api/v1/schedule/check), shown in
 * words, and only a confirmation schedules it.
 *
 * Text from the server reaches the page through textContent only, never as HTML; positions and
 * sizes are set through element.style, which the page's Content-Security-Policy allows.
 */

import { api, el } from "./page.js";
import { mountVoice } from "./voice.js";

const page = document.body.dataset;
const TZ = page.timezone;
const SNAP_MINUTES = 15;
const DRAG_THRESHOLD_PX = 5;
const MIN_MINUTE_PX = 0.75; // below this a 30-minute job is too short to read: scroll instead
const COLUMN_HEAD_PX = 34; // keep in step with .column-head in board.css
const SCROLLBAR_ALLOWANCE_PX = 16;
const PLAN_REFRESH_MS = 60_000; // projected lateness drifts as time passes, even without events
const PLAN_DEBOUNCE_MS = 150; // a burst of events asks for each technician's plan once
const RECONNECT_MS = 5_000; // only once the browser has given up; EventSource retries by itself
const MOVABLE = new Set(["quoted", "scheduled"]); // the states the schedule endpoint accepts
const STREAM_EVENTS = [
  "job.created", "job.updated", "job.transitioned", "job.scheduled", "quote.changed",
  "job.evidence",
];
const SERVICES = {
  windshield_replacement: "Windshield",
  chip_repair: "Chip repair",
  adas_calibration: "ADAS calibration",
  side_back_glass: "Side/back glass",
};
const STATES = {
  quoted: "Unassigned", scheduled: "Scheduled", en_route: "En route", in_progress: "Working",
  completed: "Completed", invoiced: "Invoiced", cancelled: "Cancelled",
};
const LIVE = {
  connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…",
  offline: "Offline, retrying…", signed_out: "Signed out",
};

const board = {
  day: page.date, // the business-local day shown, "YYYY-MM-DD"
  cards: new Map(), // job id → JobCard, as the stream describes the board
  columns: [], // {technician_id, name, hours_start, hours_end, known} from GET /schedule
  plan: new Map(), // job id → ScheduledJob (+ technician_id): drive and lateness
  now: null, // the server's clock at the last schedule answer
  clockOffset: 0, // the server's clock minus this browser's, in ms (the demo runs on its own day)
  range: { start: 0, end: 0 }, // the timeline, in minutes after local midnight
  minutePx: 1,
  loaded: false, // a snapshot for this day has arrived
  stream: null,
  lastEventId: null,
  retryTimer: null,
  stale: new Set(), // technicians whose plan must be asked for again
  staleTimer: null,
  drag: null,
  proposal: null, // the drop waiting in the confirm panel
  statuses: new Map(), // technician id → {status, since, last_seen_at} from the stream
  delayed: new Map(), // job id → seconds its last step reached us after it happened (offline)
  skills: new Map(), // technician id → their skills, for the skill filter
  branches: new Map(), // technician id → their branch id, for the branch filter
  filter: { skill: "", state: "", branch: "" },
};

// An unassigned job whose window opens within this long is an alert.
const SOON_MS = 2 * 60 * 60 * 1000;

// After this long without a tap or a position, a technician is shown as gone quiet.
const QUIET_MS = 5 * 60 * 1000;

const $ = (id) => document.getElementById(id);
const px = (n) => `${n}px`;

// ---------------------------------------------------------------------------------------------
// Time in the business time zone (the browser's own zone may be another one).

const zoneFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: TZ, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** The business-local day ("YYYY-MM-DD") and wall-clock minutes of an instant. */
function zoned(instant) {
  const p = {};
  for (const { type, value } of zoneFormat.formatToParts(instant)) p[type] = Number(value);
  const day = `${String(p.year).padStart(4, "0")}-${two(p.month)}-${two(p.day)}`;
  const wallMs = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return { day, minutes: p.hour * 60 + p.minute + p.second / 60, wallMs };
}

/** The instant at which the business-local clock on ``day`` shows ``minutes`` after midnight. */
function instantAt(day, minutes) {
  const [y, m, d] = day.split("-").map(Number);
  const wanted = Date.UTC(y, m - 1, d, 0, minutes);
  let guess = wanted;
  // The zone's offset depends on the instant itself (daylight saving): correct twice.
  for (let i = 0; i < 2; i += 1) guess += wanted - zoned(new Date(guess)).wallMs;
  return new Date(guess);
}

function two(n) {
  return String(n).padStart(2, "0");
}

function clockText(minutes) {
  const m = Math.round(minutes);
  return `${two(Math.floor(m / 60) % 24)}:${two(m % 60)}`;
}

function daysBetween(a, b) {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

function shiftDay(day, delta) {
  const date = new Date(Date.parse(`${day}T00:00:00Z`) + delta * 86_400_000);
  return date.toISOString().slice(0, 10);
}

/** Wall-clock minutes of an instant on the board's day (negative or past 1440 off the day). */
function minutesOf(iso) {
  const z = zoned(new Date(iso));
  return z.minutes + 1440 * daysBetween(board.day, z.day);
}

// ---------------------------------------------------------------------------------------------
// The board's contents: the same rules as events/board.py.

/** Whether a card is on this day's board (``belongs`` for a day filter). */
function belongs(card) {
  if (card.technician_id === null) return card.state === "quoted";
  if (card.scheduled_start === null) return false;
  return zoned(new Date(card.scheduled_start)).day === board.day;
}

/** Apply one streamed event like ``apply_event``; returns the columns it touched (null: tray). */
function applyEvent(event) {
  const card = event.job;
  if (!card) return [];
  if (event.type === "job.transitioned") {
    // Sent late from a phone's offline queue: true, but news only now.
    if ((event.delayed_seconds ?? 0) >= 60) board.delayed.set(card.id, event.delayed_seconds);
    else board.delayed.delete(card.id);
  }
  const before = board.cards.get(card.id);
  if (belongs(card)) board.cards.set(card.id, card);
  else board.cards.delete(card.id);
  return [before ? before.technician_id : null, card.technician_id];
}

/** The server's plan for a card, if it describes the card as it is now (not before a move). */
function planFor(card) {
  const plan = board.plan.get(card.id);
  if (!plan || plan.technician_id !== card.technician_id) return null;
  return Date.parse(plan.start) === Date.parse(card.scheduled_start) ? plan : null;
}

/** Columns in the server's order, plus any technician a card names that the schedule did not. */
function allColumns() {
  const wanted = board.filter.skill || board.filter.branch;
  const columns = board.columns.filter(
    (c) =>
      (!board.filter.skill || (board.skills.get(c.technician_id) || []).includes(board.filter.skill)) &&
      (!board.filter.branch || String(board.branches.get(c.technician_id)) === board.filter.branch),
  );
  const known = new Set(columns.map((c) => c.technician_id));
  for (const card of board.cards.values()) {
    const id = card.technician_id;
    if (id === null || known.has(id) || wanted) continue;
    known.add(id);
    columns.push({ technician_id: id, name: `Technician ${id}`, known: false });
  }
  return columns;
}

function columnFor(technicianId) {
  return allColumns().find((c) => c.technician_id === technicianId) ?? null;
}

function cardsOf(technicianId) {
  return [...board.cards.values()]
    .filter((c) => c.technician_id === technicianId)
    .sort((a, b) => Date.parse(a.scheduled_start) - Date.parse(b.scheduled_start) || a.id - b.id);
}

// ---------------------------------------------------------------------------------------------
// Geometry: the timeline covers the working day and stretches to fit any job outside it.

function computeGeometry() {
  let start = Number(page.dayStart) * 60;
  let end = Number(page.dayEnd) * 60;
  for (const card of board.cards.values()) {
    if (card.technician_id === null) continue;
    const s = minutesOf(card.scheduled_start);
    start = Math.min(start, Math.floor(s / 60) * 60);
    end = Math.max(end, Math.ceil((s + card.duration_minutes) / 60) * 60);
  }
  board.range = { start: Math.max(0, start), end: Math.min(24 * 60, end) };
  const height = $("board").clientHeight - COLUMN_HEAD_PX - SCROLLBAR_ALLOWANCE_PX;
  board.minutePx = Math.max(MIN_MINUTE_PX, height / (board.range.end - board.range.start));
}

function rangeFits(technicianIds) {
  return technicianIds.every((id) =>
    cardsOf(id).every((card) => {
      const s = minutesOf(card.scheduled_start);
      return s >= board.range.start && s + card.duration_minutes <= board.range.end;
    }),
  );
}

function yOf(minutes) {
  return (minutes - board.range.start) * board.minutePx;
}

function placeAt(node, fromMinutes, toMinutes) {
  const top = Math.max(0, yOf(fromMinutes));
  node.style.top = px(top);
  node.style.height = px(Math.max(2, yOf(toMinutes) - top));
}

// ---------------------------------------------------------------------------------------------
// Drawing.

/** Draw the whole board: after a snapshot, a new day, a new plan or a resize. */
function render() {
  computeGeometry();
  const root = $("board");
  const columns = allColumns();
  if (!board.loaded) {
    root.replaceChildren(el("p", "board-empty", "Loading the board…"));
  } else if (columns.length === 0) {
    root.replaceChildren(el("p", "board-empty", "No active technicians."));
  } else {
    root.replaceChildren(renderAxis(), ...columns.map(renderColumn));
  }
  root.dataset.rangeStart = String(board.range.start);
  root.dataset.minutePx = String(board.minutePx);
  root.setAttribute("aria-busy", String(!board.loaded));
  renderTray();
}

/** Draw again only the columns an event touched (and the tray); the rest stays as it is. */
function rerender(technicianIds) {
  const ids = [...new Set(technicianIds.filter((id) => id !== null && id !== undefined))];
  if (!rangeFits(ids)) return render();
  for (const id of ids) {
    const old = $("board").querySelector(`.column[data-technician-id="${Number(id)}"]`);
    const column = columnFor(id);
    if (!old || !column) return render(); // a column appears or goes: lay out everything
    old.replaceWith(renderColumn(column));
  }
  renderTray();
}

function renderAxis() {
  const axis = el("div", "axis");
  const body = el("div", "axis-body");
  body.style.height = px(yOf(board.range.end));
  for (let m = board.range.start; m <= board.range.end; m += 60) {
    const label = el("span", "axis-label", clockText(m));
    label.style.top = px(Math.max(7, Math.min(yOf(m), yOf(board.range.end) - 7)));
    body.append(label);
  }
  axis.append(el("div", "axis-head"), body);
  return axis;
}

function renderColumn(column) {
  const node = el("div", "column");
  node.dataset.technicianId = String(column.technician_id);
  const head = el("div", "column-head");
  const name = el("span", "column-name", column.name);
  name.title = column.name;
  head.append(name, el("span", "column-hours", hoursText(column)), statusLine(column));
  const body = el("div", "column-body");
  body.style.height = px(yOf(board.range.end));
  body.style.setProperty("--hour", px(60 * board.minutePx));
  body.append(...offHours(column), ...drives(column), ...blocks(column), ...nowLine());
  const preview = board.proposal && board.proposal.technicianId === column.technician_id;
  if (preview) body.append(previewBlock(board.proposal));
  node.append(head, body);
  return node;
}

/** "● en route · 3 min ago": what the technician last told us, and how long ago. */
function statusLine(column) {
  const status = board.statuses.get(column.technician_id);
  const line = el("span", "column-status");
  if (!status || !status.last_seen_at) {
    line.textContent = "not heard from today";
    line.classList.add("status-unknown");
    return line;
  }
  const ago = Math.max(0, serverNow() - Date.parse(status.last_seen_at));
  const quiet = ago > QUIET_MS;
  line.classList.add(`status-${status.status.replace("_", "-")}`);
  if (quiet) line.classList.add("status-quiet");
  const minutes = Math.round(ago / 60000);
  line.textContent = `● ${status.status.replace("_", " ")} · ${minutes < 1 ? "now" : `${minutes} min ago`}`;
  line.title = `Last heard from ${new Date(status.last_seen_at).toLocaleTimeString()}`;
  return line;
}

function hoursText(column) {
  if (!column.known) return "";
  if (!column.hours_start || !column.hours_end) return "Off today";
  return `${clockText(minutesOf(column.hours_start))}–${clockText(minutesOf(column.hours_end))}`;
}

/** Shading outside the technician's working hours, so a drop there is expected to conflict. */
function offHours(column) {
  if (!column.known) return [];
  const { start, end } = board.range;
  const shade = (from, to) => {
    const node = el("div", "off-hours");
    placeAt(node, from, to);
    return node;
  };
  if (!column.hours_start || !column.hours_end) return [shade(start, end)];
  const open = minutesOf(column.hours_start);
  const close = minutesOf(column.hours_end);
  const out = [];
  if (open > start) out.push(shade(start, open));
  if (close < end) out.push(shade(close, end));
  return out;
}

/** The drive before each job, ending where the job starts; red when it does not fit the gap. */
function drives(column) {
  const out = [];
  for (const card of cardsOf(column.technician_id)) {
    const plan = planFor(card);
    if (!plan || plan.drive_minutes_before < 1) continue;
    const start = minutesOf(card.scheduled_start);
    const drive = plan.drive_minutes_before;
    const short = drive > plan.gap_minutes_before + 0.5;
    const node = el("div", "drive");
    node.dataset.jobId = String(card.id);
    placeAt(node, start - drive, start);
    if (short) node.classList.add("drive-short");
    if (drive * board.minutePx < 11) node.classList.add("drive-tiny");
    const minutes = Math.round(drive);
    node.append(el("span", "drive-label", `${minutes} min`));
    node.title = short
      ? `${minutes} min drive to #${card.id}, but only ${Math.round(plan.gap_minutes_before)} min free before it`
      : `${minutes} min drive to #${card.id}`;
    out.push(node);
  }
  return out;
}

function blocks(column) {
  const items = cardsOf(column.technician_id).map((card) => {
    const start = minutesOf(card.scheduled_start);
    return { card, start, end: start + card.duration_minutes };
  });
  assignLanes(items);
  return items.map(({ card, start, end, lane, lanes }) => {
    const block = jobBlock(card, planFor(card));
    placeAt(block, start, end);
    block.style.left = `calc(${(100 * lane) / lanes}% + 2px)`;
    block.style.width = `calc(${100 / lanes}% - 4px)`;
    return block;
  });
}

/** Side-by-side lanes for blocks that overlap in time (a forced double booking, a cancelled job
 *  under its replacement), so that no block hides another. */
function assignLanes(items) {
  let cluster = [];
  let clusterEnd = -Infinity;
  let laneEnds = [];
  const close = () => {
    for (const item of cluster) item.lanes = laneEnds.length;
    cluster = [];
    laneEnds = [];
  };
  for (const item of items) {
    if (item.start >= clusterEnd) close();
    let lane = laneEnds.findIndex((end) => end <= item.start);
    if (lane === -1) lane = laneEnds.push(item.end) - 1;
    else laneEnds[lane] = item.end;
    item.lane = lane;
    cluster.push(item);
    clusterEnd = Math.max(clusterEnd, item.end);
  }
  close();
}

/** One job as a block: time and number, service, address; lateness flagged from the plan. */
function jobBlock(card, plan) {
  const block = el("div", `job state-${card.state}`);
  block.dataset.jobId = String(card.id);
  block.dataset.state = card.state;
  if (MOVABLE.has(card.state)) block.classList.add("movable");
  if (card.override_reason) block.classList.add("forced");
  if (board.filter.state && card.state !== board.filter.state) block.classList.add("filtered-out");
  const first = el("span", "job-line");
  if (card.scheduled_start) {
    first.append(el("span", "job-time", clockText(minutesOf(card.scheduled_start))), " ");
  }
  first.append(el("span", "job-id", `#${card.id}`));
  block.append(
    first,
    el("span", "job-line", SERVICES[card.service_type] ?? card.service_type),
    el("span", "job-line job-place", card.site_address),
  );
  const late = plan ? Math.round(plan.late_minutes) : 0;
  if (late >= 1) {
    block.classList.add("late");
    block.dataset.lateMinutes = String(late);
    block.append(el("span", "badge", `+${late}m`));
  } else if (plan && plan.misses_window) {
    block.classList.add("late");
    block.append(el("span", "badge", "window"));
  }
  const delayed = board.delayed.get(card.id);
  if (delayed) {
    block.classList.add("delayed");
    block.dataset.delayedSeconds = String(delayed);
    block.append(el("span", "badge badge-delayed", `sent ${Math.round(delayed / 60)}m late`));
  }
  block.title = describe(card, plan);
  return block;
}

/** The block's tooltip: everything about the job that does not fit in ~100 pixels. */
function describe(card, plan) {
  const lines = [`#${card.id} ${SERVICES[card.service_type] ?? card.service_type}`];
  const state = STATES[card.state] ?? card.state;
  if (card.scheduled_start) {
    const start = minutesOf(card.scheduled_start);
    lines.push(`${clockText(start)}–${clockText(start + card.duration_minutes)} · ${state}`);
  } else {
    lines.push(`${card.duration_minutes} min · ${state}`);
  }
  lines.push(card.site_address);
  if (card.window_start && card.window_end) {
    lines.push(`Window ${clockText(minutesOf(card.window_start))}–${clockText(minutesOf(card.window_end))}`);
  }
  if (plan) {
    const arrival = clockText(minutesOf(plan.projected_arrival));
    const late = Math.round(plan.late_minutes);
    lines.push(late >= 1 ? `Projected arrival ${arrival}: ${late} min late` : `Projected arrival ${arrival}`);
  }
  if (card.override_reason) lines.push(`Forced: ${card.override_reason}`);
  if (MOVABLE.has(card.state)) lines.push("Drag to move");
  return lines.join("\n");
}

function nowLine() {
  if (!board.now || zoned(new Date(board.now)).day !== board.day) return [];
  const minutes = minutesOf(board.now);
  if (minutes < board.range.start || minutes > board.range.end) return [];
  const line = el("div", "now");
  line.style.top = px(yOf(minutes));
  line.title = `Now ${clockText(minutes)}`;
  return [line];
}

/** What needs the dispatcher now, newest concerns first, in words. */
function alerts() {
  const out = [];
  const now = board.now ? Date.parse(board.now) : serverNow();
  const name = (id) => (columnFor(id) || { name: `Technician ${id}` }).name;
  for (const card of board.cards.values()) {
    if (card.technician_id === null && card.window_start) {
      const opens = Date.parse(card.window_start) - now;
      if (opens < SOON_MS) {
        out.push(["soon", `Job #${card.id} is unassigned; its window opens at ${clockText(minutesOf(card.window_start))}`]);
      }
    }
    if (card.override_reason && card.state !== "cancelled") {
      out.push(["override", `Job #${card.id} was forced: ${card.override_reason}`]);
    }
  }
  for (const plan of board.plan.values()) {
    const late = Math.round(plan.late_minutes);
    if (late >= 1) {
      out.push(["late", `Job #${plan.job_id} (${name(plan.technician_id)}) projected ${late} min late`]);
    } else if (plan.misses_window) {
      out.push(["late", `Job #${plan.job_id} (${name(plan.technician_id)}) misses the customer's window`]);
    }
  }
  for (const column of board.columns) {
    for (const c of column.conflicts || []) {
      const card = board.cards.get(c.job_id);
      // conflictText speaks about a proposed placement: the job where it stands is one.
      const placed = card && card.scheduled_start
        ? { name: column.name, card, start: new Date(card.scheduled_start) }
        : null;
      const text = placed ? conflictText(c, placed) : `Conflict: ${c.kind}`;
      out.push(["conflict", `Job #${c.job_id} (${column.name}) — ${text}`]);
    }
  }
  for (const [id, status] of board.statuses) {
    if (status.status === "off_duty" || !status.last_seen_at) continue;
    const quiet = Math.round((serverNow() - Date.parse(status.last_seen_at)) / 60000);
    if (quiet * 60000 > QUIET_MS) out.push(["silent", `${name(id)} not heard from for ${quiet} min`]);
  }
  return out;
}

function renderAlerts() {
  const items = alerts();
  $("alerts-count").textContent = items.length ? `(${items.length})` : "";
  $("alerts-list").replaceChildren(
    ...items.map(([kind, text]) => el("li", `alert alert-${kind}`, text)),
  );
}

function renderTray() {
  const tray = [...board.cards.values()]
    .filter((c) => c.technician_id === null && inBranch(c))
    .sort((a, b) => a.id - b.id);
  $("tray-count").textContent = tray.length ? `(${tray.length})` : "";
  renderAlerts();
  $("tray-list").replaceChildren(
    ...tray.map((card) => {
      const item = el("li");
      const block = jobBlock(card, null);
      block.append(el("span", "job-line", `${card.duration_minutes} min`));
      item.append(block);
      return item;
    }),
  );
}

function setLive(kind) {
  const live = $("live");
  live.className = `live live-${kind}`;
  live.dataset.live = kind;
  live.textContent = LIVE[kind];
  if (kind === "signed_out") {
    const link = el("a", "", "sign in");
    link.href = "/login?next=/board";
    live.append(" — ", link);
  }
}

// ---------------------------------------------------------------------------------------------
// Talking to the server.

function failureText(result) {
  if (result.status === 0) return "The server cannot be reached; nothing was changed.";
  if (result.status === 401) return "Your session has ended: sign in again.";
  return result.data?.message ?? `The server answered ${result.status}; nothing was changed.`;
}

/** Ask for the day's plan (all technicians, or one); false when the answer is of no use. */
async function loadSkills() {
  const result = await api("GET", "/api/v1/technicians?active=true&limit=200");
  if (!result.ok) return;
  board.skills = new Map(result.data.items.map((t) => [t.id, t.skills]));
  board.branches = new Map(result.data.items.map((t) => [t.id, t.branch_id]));
  if (board.filter.skill || board.filter.branch) render();
}

/** The branch filter's choices: hidden when the business has one shop. */
async function loadBranches() {
  const result = await api("GET", "/api/v1/branches?active=true&limit=200");
  if (!result.ok || result.data.items.length < 2) return;
  const select = $("filter-branch");
  for (const b of result.data.items) {
    const option = el("option", "", b.name);
    option.value = String(b.id);
    select.append(option);
  }
  select.closest("label").hidden = false;
}

/** A tray card belongs to the chosen branch, or to none yet (any shop may take it). */
function inBranch(card) {
  return !board.filter.branch || card.branch_id == null || String(card.branch_id) === board.filter.branch;
}

async function loadPlan(technicianId = null) {
  const day = board.day;
  const query = new URLSearchParams({ date: day });
  if (technicianId !== null) query.set("technician_id", String(technicianId));
  const result = await api("GET", `/api/v1/schedule?${query}`);
  if (!result.ok || day !== board.day) return false; // the dispatcher moved on to another day
  mergePlan(result.data, technicianId);
  return true;
}

/** The server's time now: "how long ago" is measured on the clock that stamped the report. */
function serverNow() {
  return Date.now() + board.clockOffset;
}

function mergePlan(schedule, onlyTechnician) {
  board.now = schedule.generated_at;
  board.clockOffset = Date.parse(schedule.generated_at) - Date.now();
  const columns = schedule.technicians.map((t) => ({
    technician_id: t.technician_id,
    name: t.name,
    hours_start: t.hours_start,
    hours_end: t.hours_end,
    conflicts: t.conflicts,
    known: true,
  }));
  if (onlyTechnician === null) {
    board.columns = columns;
    board.plan.clear();
  } else {
    const at = board.columns.findIndex((c) => c.technician_id === onlyTechnician);
    if (at === -1) board.columns.push(...columns);
    else board.columns.splice(at, 1, ...columns);
    for (const [id, plan] of board.plan) {
      if (plan.technician_id === onlyTechnician) board.plan.delete(id);
    }
  }
  for (const t of schedule.technicians) {
    for (const job of t.jobs) board.plan.set(job.job_id, { ...job, technician_id: t.technician_id });
  }
}

/** Events change cards at once; drive times and lateness follow once the server has them. */
function refreshPlanSoon(technicianIds) {
  for (const id of technicianIds) if (id !== null && id !== undefined) board.stale.add(id);
  if (board.staleTimer !== null || board.stale.size === 0) return;
  board.staleTimer = setTimeout(refreshStalePlans, PLAN_DEBOUNCE_MS);
}

async function refreshStalePlans() {
  board.staleTimer = null;
  const ids = [...board.stale];
  board.stale.clear();
  if (ids.length > 3) {
    // Many technicians at once (an optimisation applied): one request for the whole day.
    if (await loadPlan()) render();
    return;
  }
  const loaded = await Promise.all(ids.map((id) => loadPlan(id)));
  if (loaded.some(Boolean)) rerender(ids);
}

async function reloadPlan() {
  if (board.drag) return; // never pull the board from under a dragging hand
  if (await loadPlan()) render();
}

// ---------------------------------------------------------------------------------------------
// The live stream.

function connect() {
  disconnect();
  setLive("connecting");
  const query = new URLSearchParams({ date: board.day });
  // After the browser gave up on a stream, resume from the last event seen instead of
  // starting over; the server replays what was missed (or sends a fresh snapshot).
  if (board.lastEventId !== null) query.set("last_event_id", board.lastEventId);
  const source = new EventSource(`/api/v1/stream?${query}`);
  board.stream = source;
  source.addEventListener("open", () => source === board.stream && setLive("connected"));
  source.addEventListener("error", () => onStreamError(source));
  source.addEventListener("snapshot", (message) => onSnapshot(source, message));
  for (const name of STREAM_EVENTS) {
    source.addEventListener(name, (message) => onEvent(source, message));
  }
  source.addEventListener("revoked", () => source === board.stream && signedOut());
  source.addEventListener("technician.status", (message) => onStatus(source, message));
}

function disconnect() {
  clearTimeout(board.retryTimer);
  if (board.stream) board.stream.close();
  board.stream = null;
}

async function onSnapshot(source, message) {
  if (source !== board.stream) return;
  const snapshot = JSON.parse(message.data);
  board.lastEventId = message.lastEventId;
  board.cards = new Map(snapshot.jobs.map((card) => [card.id, card]));
  board.statuses = new Map(
    (snapshot.technicians || []).map((t) => [t.technician_id, t]),
  );
  await loadPlan();
  board.loaded = true;
  if (source === board.stream) render();
}

function onEvent(source, message) {
  if (source !== board.stream) return;
  board.lastEventId = message.lastEventId;
  const touched = applyEvent(JSON.parse(message.data));
  if (touched.length === 0) return;
  rerender(touched);
  refreshPlanSoon(touched);
}

function onStatus(source, message) {
  if (source !== board.stream) return;
  board.lastEventId = message.lastEventId;
  const event = JSON.parse(message.data);
  board.statuses.set(event.technician_id, event);
  rerender([event.technician_id]);
}

function onStreamError(source) {
  if (source !== board.stream) return;
  if (source.readyState === EventSource.CONNECTING) {
    setLive("reconnecting"); // the browser retries by itself, sending Last-Event-ID
    return;
  }
  // Closed for good (an error status): EventSource will not try again, so we do.
  setLive("offline");
  clearTimeout(board.retryTimer);
  board.retryTimer = setTimeout(reconnectIfSignedIn, RECONNECT_MS);
}

async function reconnectIfSignedIn() {
  const me = await api("GET", "/api/v1/me");
  if (me.status === 401) signedOut();
  else connect();
}

function signedOut() {
  disconnect();
  setLive("signed_out");
}

// ---------------------------------------------------------------------------------------------
// Dragging a block onto a technician and time.

function onPointerDown(event) {
  const block = event.target.closest(".job.movable");
  if (!block || event.button !== 0 || board.proposal || block.classList.contains("ghost")) return;
  const card = board.cards.get(Number(block.dataset.jobId));
  if (!card) return;
  const box = block.getBoundingClientRect();
  const fromTray = card.technician_id === null;
  board.drag = {
    card,
    pointerId: event.pointerId,
    x0: event.clientX,
    y0: event.clientY,
    grabX: Math.min(event.clientX - box.left, 90),
    // A tray card is not drawn to scale: hold it by its top edge.
    grabY: fromTray ? 4 : event.clientY - box.top,
    ghost: null,
    target: null,
  };
  event.preventDefault(); // no text selection while dragging
}

function onPointerMove(event) {
  const drag = board.drag;
  if (!drag || event.pointerId !== drag.pointerId) return;
  if (!drag.ghost) {
    // A click or a shaky hand is not a drag.
    if (Math.hypot(event.clientX - drag.x0, event.clientY - drag.y0) < DRAG_THRESHOLD_PX) return;
    drag.ghost = ghostOf(drag.card);
  }
  drag.ghost.style.left = px(event.clientX - drag.grabX);
  drag.ghost.style.top = px(event.clientY - drag.grabY);
  showDropTarget(dropTargetAt(event.clientX, event.clientY, event.clientY - drag.grabY));
}

function onPointerUp(event) {
  const drag = board.drag;
  if (!drag || event.pointerId !== drag.pointerId) return;
  board.drag = null;
  drag.ghost?.remove();
  showDropTarget(null);
  const target = drag.ghost ? drag.target : null;
  if (target && !samePlace(drag.card, target)) propose(drag.card, target);
}

function cancelDrag() {
  if (!board.drag) return;
  board.drag.ghost?.remove();
  board.drag = null;
  showDropTarget(null);
}

/** A copy of the block that follows the pointer, sized to the job's length at this scale. */
function ghostOf(card) {
  const ghost = jobBlock(card, null);
  ghost.classList.add("ghost");
  ghost.classList.remove("movable");
  const column = $("board").querySelector(".column-body");
  ghost.style.width = px(column ? column.clientWidth - 4 : 96);
  ghost.style.height = px(Math.max(14, card.duration_minutes * board.minutePx));
  document.body.append(ghost);
  return ghost;
}

/** Which technician and (snapped) start the block's top edge is over, if any. */
function dropTargetAt(x, pointerY, topY) {
  const under = document.elementFromPoint(x, pointerY);
  const column = under?.closest(".column");
  if (!column) return null;
  const body = column.querySelector(".column-body");
  const card = board.drag.card;
  const raw = board.range.start + (topY - body.getBoundingClientRect().top) / board.minutePx;
  const latest = board.range.end - card.duration_minutes;
  const snapped = Math.round(raw / SNAP_MINUTES) * SNAP_MINUTES;
  const minutes = Math.max(board.range.start, Math.min(latest, snapped));
  return { technicianId: Number(column.dataset.technicianId), minutes };
}

function showDropTarget(target) {
  for (const old of document.querySelectorAll(".drop-target")) old.classList.remove("drop-target");
  document.querySelector(".ghost-preview")?.remove();
  if (board.drag) board.drag.target = target;
  if (!target) return;
  const body = $("board").querySelector(
    `.column[data-technician-id="${target.technicianId}"] .column-body`,
  );
  if (!body) return;
  body.classList.add("drop-target");
  const preview = previewBlock({ card: board.drag.card, minutes: target.minutes });
  preview.classList.add("ghost-preview");
  body.append(preview);
}

/** The outline of where a job would go, with its start time. */
function previewBlock(proposal) {
  const node = el("div", "drop-preview", clockText(proposal.minutes));
  placeAt(node, proposal.minutes, proposal.minutes + proposal.card.duration_minutes);
  if (proposal.conflicts?.length) node.classList.add("conflicted");
  return node;
}

function samePlace(card, target) {
  if (card.technician_id !== target.technicianId || !card.scheduled_start) return false;
  return Date.parse(card.scheduled_start) === instantAt(board.day, target.minutes).getTime();
}

// ---------------------------------------------------------------------------------------------
// The confirm panel: a drop is checked and described before anything is saved.

async function propose(card, target) {
  const column = columnFor(target.technicianId);
  const proposal = {
    card,
    technicianId: target.technicianId,
    minutes: target.minutes,
    start: instantAt(board.day, target.minutes),
    name: column ? column.name : `technician ${target.technicianId}`,
    conflicts: [],
    checked: false,
  };
  board.proposal = proposal;
  rerender([proposal.technicianId]); // draws the preview where the job would go
  openConfirm(proposal);
  const result = await api("POST", "/api/v1/schedule/check", {
    job_id: card.id,
    technician_id: proposal.technicianId,
    start: proposal.start.toISOString(),
  });
  if (board.proposal !== proposal) return; // cancelled or replaced while the server answered
  if (!result.ok) {
    $("confirm-summary").textContent = "";
    $("confirm-error").textContent = failureText(result);
    return;
  }
  proposal.checked = true;
  showConflicts(proposal, result.data.conflicts);
}

function openConfirm(proposal) {
  const verb = proposal.card.technician_id === null ? "Schedule" : "Move";
  $("confirm-title").textContent =
    `${verb} #${proposal.card.id} to ${proposal.name} at ${clockText(proposal.minutes)}?`;
  $("confirm-summary").textContent = "Checking travel, hours and the customer's window…";
  $("confirm-conflicts").replaceChildren();
  $("confirm-error").textContent = "";
  $("override").hidden = true;
  $("override-reason").value = "";
  $("confirm-ok").textContent = "Schedule";
  $("confirm-ok").disabled = true;
  $("confirm").classList.remove("conflicted");
  $("confirm").dataset.jobId = String(proposal.card.id);
  $("confirm").hidden = false;
}

function showConflicts(proposal, conflicts) {
  proposal.conflicts = conflicts;
  const blocked = conflicts.length > 0;
  $("confirm").classList.toggle("conflicted", blocked);
  $("confirm-summary").textContent = blocked
    ? `This does not fit ${proposal.name}'s day:`
    : `No conflicts: ${proposal.name} can make it.`;
  $("confirm-conflicts").replaceChildren(
    ...conflicts.map((c) => el("li", "", conflictText(c, proposal))),
  );
  // A placement with conflicts can only be forced, with a reason that goes into the audit log.
  $("override").hidden = !blocked;
  $("confirm-ok").textContent = blocked ? "Force with override" : "Schedule";
  updateConfirmButton();
  rerender([proposal.technicianId]); // the preview turns red when it conflicts
}

function updateConfirmButton() {
  const proposal = board.proposal;
  const reason = $("override-reason").value.trim();
  $("confirm-ok").disabled =
    !proposal || !proposal.checked || (proposal.conflicts.length > 0 && !reason);
}

/** One conflict in words, e.g. "Travel: needs 45 min from job 12, only 30 available — 15 min
 *  short". */
function conflictText(conflict, proposal) {
  const estimated = conflict.approximate ? " (estimated)" : "";
  const round = (n) => Math.round(n ?? 0);
  switch (conflict.kind) {
    case "travel": {
      const needs = round(conflict.travel_minutes);
      const free = round(conflict.available_minutes);
      const where = travelEnd(conflict, proposal);
      if (free < 0) {
        return `Travel: needs ${needs} min ${where}, with no time between them — ${round(conflict.shortfall_minutes)} min short${estimated}`;
      }
      const short = needs - free >= 1 ? `${needs - free} min` : "under a minute";
      return `Travel: needs ${needs} min ${where}, only ${free} available — ${short} short${estimated}`;
    }
    case "overlap":
      return `Overlap: job ${conflict.other_job_id} is booked at that time — ${round(conflict.shortfall_minutes)} min overlap`;
    case "outside_hours":
      return conflict.shortfall_minutes === null
        ? `Hours: ${proposal.name} does not work that day`
        : `Hours: ${round(conflict.shortfall_minutes)} min outside ${proposal.name}'s working hours`;
    case "outside_window":
      return `Window: ${round(conflict.shortfall_minutes)} min outside the customer's arrival window`;
    case "skill": {
      const service = SERVICES[proposal.card.service_type] ?? proposal.card.service_type;
      return `Skill: ${proposal.name} is not trained for ${service.toLowerCase()} work`;
    }
    default:
      return `Conflict: ${conflict.kind}`;
  }
}

/** "from job 12" when the other job comes first, "to job 14" when it comes after. */
function travelEnd(conflict, proposal) {
  if (conflict.other_job_id === null) return "from home base";
  const other = board.cards.get(conflict.other_job_id);
  const before = other && Date.parse(other.scheduled_start) < proposal.start.getTime();
  return `${before || !other ? "from" : "to"} job ${conflict.other_job_id}`;
}

async function confirmProposal() {
  const proposal = board.proposal;
  if (!proposal || !proposal.checked) return;
  const body = { technician_id: proposal.technicianId, start: proposal.start.toISOString() };
  if (proposal.conflicts.length > 0) {
    body.override_reason = $("override-reason").value.trim();
    if (!body.override_reason) return;
  }
  $("confirm-ok").disabled = true;
  $("confirm-error").textContent = "";
  const result = await api("POST", `/api/v1/jobs/${proposal.card.id}/schedule`, body);
  if (board.proposal !== proposal) return;
  if (result.ok) {
    closeConfirm(); // the stream brings the change to every board, this one included
    return;
  }
  const conflicts = result.data?.details?.conflicts;
  if (result.status === 409 && Array.isArray(conflicts) && conflicts.length > 0) {
    showConflicts(proposal, conflicts); // the day changed between the check and the click
  } else {
    updateConfirmButton();
  }
  $("confirm-error").textContent = failureText(result);
}

function closeConfirm() {
  const proposal = board.proposal;
  board.proposal = null;
  $("confirm").hidden = true;
  if (proposal) rerender([proposal.technicianId]);
}

// ---------------------------------------------------------------------------------------------
// The day picker.

function showDay(day) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day) || day === board.day) return;
  closeConfirm();
  cancelDrag();
  board.day = day;
  board.loaded = false;
  board.cards = new Map();
  board.plan.clear();
  board.lastEventId = null; // another day needs its own snapshot, not a replay
  $("day").value = day;
  history.replaceState(null, "", `/board?date=${day}`);
  render();
  connect();
}

// ---------------------------------------------------------------------------------------------
// Start.

function start() {
  $("day").addEventListener("change", (event) => showDay(event.target.value));
  for (const button of document.querySelectorAll(".day-step")) {
    button.addEventListener("click", () => showDay(shiftDay(board.day, Number(button.dataset.step))));
  }
  $("today").addEventListener("click", () => showDay(page.today));
  $("confirm-cancel").addEventListener("click", closeConfirm);
  $("confirm-ok").addEventListener("click", confirmProposal);
  $("override-reason").addEventListener("input", updateConfirmButton);
  const root = $("board");
  root.addEventListener("pointerdown", onPointerDown);
  $("tray-list").addEventListener("pointerdown", onPointerDown);
  document.addEventListener("pointermove", onPointerMove);
  document.addEventListener("pointerup", onPointerUp);
  document.addEventListener("pointercancel", cancelDrag);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    cancelDrag();
    closeConfirm();
  });
  let resizing = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(resizing);
    resizing = requestAnimationFrame(() => board.drag || render());
  });
  for (const [key, id] of [["skill", "filter-skill"], ["state", "filter-state"], ["branch", "filter-branch"]]) {
    $(id).addEventListener("change", (event) => {
      board.filter[key] = event.target.value;
      render();
    });
  }
  loadSkills();
  loadBranches();
  mountVoice($("voice"));
  setInterval(reloadPlan, PLAN_REFRESH_MS);
  // "n min ago" and the gone-quiet warning age by themselves; redraw between drags.
  setInterval(() => board.loaded && !board.drag && render(), 60 * 1000);
  connect();
}

start();
