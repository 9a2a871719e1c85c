// Routing: the team's load against capacity ("3 / 5") and the queue (auto mode) with its longest wait, from
// GET /routing at sign-in and chat.routing.updated frames (the same document) afterwards. The queue chip sits
// in the conversation list's header; the loads go on the team panel (team.js reads them with loadOf) and on an
// open Settings → Team page (a callcenter:routing event). The longest wait ticks here; once it passes the
// tenant's queue_alert_secs the chip turns to a warning and one toast says so (one per crossing).

import {api} from "./api.js";
import {$, h, setText} from "./dom.js";
import {t} from "./i18n.js";
import {setFilter} from "./session-list.js";
import {showSection} from "./sections.js";
import {renderTeam} from "./team.js";
import {toast} from "./toast.js";

const TICK_MS = 15000;

/** "40 s", "6 min", "1 h 20 min": how long the oldest conversation has waited. */
export function fmtWait(millis) {
  const s = Math.max(0, Math.floor(millis / 1000));
  if (s < 60) return t("wait.s", {n: s});
  const m = Math.floor(s / 60);
  if (m < 60) return t("wait.min", {n: m});
  const hrs = Math.floor(m / 60);
  return t("wait.h", {n: hrs}) + (m % 60 ? " " + t("wait.min", {n: m % 60}) : "");
}

/** An agent's load from the routing document: {open, max}, or null when it does not list them. */
export function loadOf(app, agentId) {
  const doc = app.routing;
  if (!doc || !Array.isArray(doc.agents)) return null;
  const a = doc.agents.find((x) => x.agent_id === agentId);
  if (!a || typeof a.open_conversations !== "number" || typeof a.max_conversations !== "number") return null;
  return {open: a.open_conversations, max: a.max_conversations};
}

/** How long the queue's oldest has waited (ms), or null when nothing waits. */
function oldestWait(doc, now = Date.now()) {
  if (!doc || !doc.queue_length || !doc.oldest_queued_at) return null;
  const since = Date.parse(doc.oldest_queued_at);
  return Number.isFinite(since) ? Math.max(0, now - since) : null;
}

function overThreshold(doc, wait) {
  return doc.mode === "auto" && wait !== null && typeof doc.queue_alert_secs === "number"
    && wait > doc.queue_alert_secs * 1000;
}

/** At sign-in and after a reconnect. An answer older than a frame that came meanwhile is dropped. */
export async function loadRouting(app) {
  const me = app.me;
  const framesBefore = app.routingFrames;
  try {
    const doc = await api("GET", "/routing");
    if (app.me !== me || !app.signedIn || app.routingFrames !== framesBefore) return;
    takeRouting(app, doc);
  } catch (err) { /* the next frame (or reconnect) brings it */ }
}

/** chat.routing.updated */
export function onRoutingFrame(app, data) {
  if (!data || typeof data !== "object") return;
  app.routingFrames++;
  takeRouting(app, data);
}

/** A routing document (GET /routing's answer, a frame's data) is the dashboard's now. */
export function takeRouting(app, doc) {
  app.routing = doc;
  paintQueue(app);
  renderTeam(app);
  window.dispatchEvent(new CustomEvent("callcenter:routing", {detail: {routing: doc}}));
  if (!app.routingTicker) app.routingTicker = setInterval(() => paintQueue(app), TICK_MS);
}

/** Signed out: forget it all. */
export function resetRouting(app) {
  clearInterval(app.routingTicker);
  app.routingTicker = null;
  app.routing = null;
  app.routingAlerted = false;
  app.routingFrames = 0;
  paintQueue(app);
}

/** The chip: hidden in manual mode (the Unassigned filter is the queue there); "Queue: 4 · longest 6 min",
 *  a warning past the threshold (and a toast when it first gets there). */
export function paintQueue(app) {
  const chip = $("queue-chip");
  const doc = app.routing;
  if (!doc || doc.mode !== "auto" || !app.signedIn) {
    chip.hidden = true;
    app.routingAlerted = false;
    return;
  }
  chip.hidden = false;
  const n = Math.max(0, Number(doc.queue_length) || 0);
  const wait = oldestWait(doc);
  const over = overThreshold(doc, wait);
  chip.dataset.state = over ? "alert" : n ? "waiting" : "empty";
  setText($("queue-chip-text"), wait !== null ? t("queue.chip_longest", {n, wait: fmtWait(wait)}) : t("queue.chip", {n}));
  const warn = $("queue-chip-warn");
  warn.hidden = !over;
  setText(warn, over ? t("queue.over", {wait: fmtWait(doc.queue_alert_secs * 1000)}) : "");
  $("queue-chip").title = n ? t("queue.title", {count: n}) : t("queue.title_none");
  if (over && !app.routingAlerted) {
    toast(t("queue.alert", {wait: fmtWait(wait), limit: fmtWait(doc.queue_alert_secs * 1000), n}), "warn",
          {label: t("queue.show"), onClick: () => showQueue(app)});
  }
  app.routingAlerted = over;
}

function showQueue(app) {
  if (showSection(app, "conversations") === false) return;
  setFilter(app, "unassigned");
  $("app").dataset.view = "list";
}

/** The chip shows the queue (the unassigned conversations). */
export function bindQueue(app) {
  $("queue-chip").addEventListener("click", () => showQueue(app));
}

/** "3 / 5" with a title saying what it is. */
export function loadText(load) {
  return load.open + " / " + load.max;
}

export function loadChip(load, extraClass = "") {
  const full = load.open >= load.max;
  return h("span", {class: "load" + (full ? " full" : "") + (extraClass ? " " + extraClass : ""),
                    title: t(full ? "load.title_full" : "load.title", {open: load.open, max: load.max}),
                    text: loadText(load)});
}
