// One message of the open conversation as a chat line: an avatar and the sender's name once per group
// (consecutive messages of one sender), the bubble, a short time (the full date on hover) and, on the
// team's messages, the read ticks; system events as small centred lines; private notes in yellow.
// Day separators ("Today", "Yesterday", a date) go between the days. Everything is text (h()).

import {avatarColor} from "./colors.js";
import {h, icon, initials} from "./dom.js";
import {formatDate, formatDateTime as fmtDateTime, formatTime, t} from "./i18n.js";

const KINDS = new Set(["visitor", "agent", "ai", "system", "note"]);
// Messages of one sender further apart than this start a new group (their name shows again).
const GROUP_GAP_MS = 10 * 60e3;

export function kindOf(m) {
  return KINDS.has(m.sender_type) ? m.sender_type : "system";
}

function dayKey(iso) {
  const d = new Date(iso);
  return d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate();
}

export function sameDay(a, b) {
  return dayKey(a.created_at) === dayKey(b.created_at);
}

/** "Today", "Yesterday", "Monday, March 3" (this year) or "March 3, 2023". */
export function dayLabel(iso, now = new Date()) {
  const d = new Date(iso);
  if (dayKey(iso) === dayKey(now.toISOString())) return t("day.today");
  const y = new Date(now);
  y.setDate(y.getDate() - 1);
  if (dayKey(iso) === dayKey(y.toISOString())) return t("day.yesterday");
  return d.getFullYear() === now.getFullYear()
    ? formatDate(d, {weekday: "long", month: "long", day: "numeric"})
    : formatDate(d, {year: "numeric", month: "long", day: "numeric"});
}

export function shortTime(iso) {
  return iso ? formatTime(iso, {hour: "2-digit", minute: "2-digit"}) : "";
}

export function daySeparator(iso) {
  const el = h("div", {class: "day-sep", dataset: {day: dayKey(iso)}},
               h("span", {class: "day-sep-text", text: dayLabel(iso)}));
  el.dataset.iso = iso;
  return el;
}

export function refreshDaySeparator(el) {
  const text = el.querySelector(".day-sep-text");
  const label = dayLabel(el.dataset.iso);
  if (text.textContent !== label) text.textContent = label;
}

/** Who wrote it, for grouping: null for system lines (never grouped). */
function senderKey(m) {
  const kind = kindOf(m);
  if (kind === "system") return null;
  if (kind === "visitor") return "visitor";
  return kind + ":" + (m.sender_id || 0) + ":" + (m.sender_id ? "" : m.sender_name || "");
}

/** `m` continues the group `prev` started (same sender, same day, close in time). */
export function continues(prev, m) {
  const key = senderKey(m);
  return !!prev && key !== null && key === senderKey(prev) && sameDay(prev, m)
    && Math.abs(Date.parse(m.created_at) - Date.parse(prev.created_at)) < GROUP_GAP_MS;
}

export function senderName(m) {
  const kind = kindOf(m);
  if (kind === "ai") return m.sender_name || t("msg.ai_assistant");
  if (kind === "visitor") return m.sender_name || t("msg.visitor");
  return m.sender_name || (kind === "note" && !m.sender_id ? t("msg.ai_assistant") : t("msg.agent"));
}

function avatar(m, name) {
  const kind = kindOf(m);
  const ai = kind === "ai" || (kind === "note" && !m.sender_id);
  const el = h("div", {class: "msg-avatar" + (ai ? " ai" : ""), "aria-hidden": "true", text: ai ? t("msg.ai") : initials(name)});
  if (!ai) el.style.backgroundColor = avatarColor(name);
  return el;
}

/** The read mark of a team message: ticks (an icon) and, for screen readers, "Sent" / "Seen". */
export function paintReceipt(el, seen) {
  const state = seen ? "seen" : "sent";
  if (el.dataset.state === state) return;
  el.dataset.state = state;
  el.classList.toggle("seen", seen);
  el.title = seen ? t("msg.seen.title") : t("msg.sent");
  el.replaceChildren(h("span", {class: "tick", "aria-hidden": "true", text: seen ? "✓✓" : "✓"}),
                     h("span", {class: "sr-only", text: " " + (seen ? t("msg.seen") : t("msg.sent"))}));
}

/** A note's body with its @mentions of known agents marked (as text: spans around the names). */
function noteBody(m, agents) {
  const body = h("div", {class: "msg-body"});
  const names = (m.mentions || []).map((id) => agents.get(id)).filter(Boolean).map((a) => a.name)
    .sort((a, b) => b.length - a.length);
  const text = m.body || "";
  if (!names.length) {
    body.textContent = text;
    return body;
  }
  const lower = text.toLowerCase();
  let i = 0, from = 0;
  while (i < text.length) {
    const at = lower.indexOf("@", i);
    if (at < 0) break;
    const name = names.find((n) => lower.startsWith(n.toLowerCase(), at + 1));
    if (name) {
      if (at > from) body.append(text.slice(from, at));
      body.append(h("span", {class: "mention", text: text.slice(at, at + 1 + name.length)}));
      from = i = at + 1 + name.length;
    } else {
      i = at + 1;
    }
  }
  if (from < text.length) body.append(text.slice(from));
  return body;
}

/**
 * The element of one stored message. ctx: {meId, agents (Map id → agent), files: Element|null}.
 * Keeps data-seq and data-sender (tests and the view find messages by them).
 */
export function renderMessage(m, ctx) {
  const kind = kindOf(m);
  const full = fmtDateTime(m.created_at);
  const time = h("time", {class: "msg-time", datetime: m.created_at, title: full, text: shortTime(m.created_at)});
  if (kind === "system") {
    return h("div", {class: "msg msg-system", dataset: {seq: m.seq, sender: kind}},
             // (In the agent's language when the server says what the line is: "Ann joined the conversation".)
             h("span", {class: "msg-body", text: m.system ? t("system." + m.system.kind, m.system) : m.body}), time);
  }
  const mine = (kind === "agent" || kind === "note") && !!m.sender_id && m.sender_id === ctx.meId;
  const name = senderName(m);
  const files = ctx.files || null;
  const meta = h("div", {class: "msg-meta"},
    kind === "note" ? h("span", {class: "msg-kind kind-note", title: t("msg.note.title"),
                                 text: t("msg.note")}) : null,
    h("span", {class: "msg-who", text: mine ? t("you") : name}),
    kind === "ai" ? h("span", {class: "msg-kind kind-ai", text: t("msg.ai")}) : null);
  const bodyEl = kind === "note" ? noteBody(m, ctx.agents) : h("div", {class: "msg-body", text: m.body});
  const bubble = h("div", {class: "msg-bubble" + (files ? " has-files" : "")}, m.body || !files ? bodyEl : null, files);
  const foot = h("div", {class: "msg-foot"}, time,
                 kind === "note" ? h("span", {class: "msg-private"}, icon("lock", 11), t("msg.private")) : null);
  if (kind === "agent" || kind === "ai") {
    const receipt = h("span", {class: "msg-receipt"});
    paintReceipt(receipt, false);
    foot.appendChild(receipt);
  }
  const el = h("div", {class: "msg msg-" + kind + (mine ? " mine" : ""), dataset: {seq: m.seq, sender: kind}},
               mine ? null : avatar(m, name),
               h("div", {class: "msg-main"}, meta, bubble, foot));
  return el;
}

/** A message being sent (not stored yet): like one of mine, with its state and a Retry button. */
export function renderPendingMessage(p, filesEl, onRetry) {
  const note = p.kind === "note";
  return h("div", {class: "msg " + (note ? "msg-note" : "msg-agent") + " mine pending", dataset: {clientMsgId: p.cid}},
    h("div", {class: "msg-main"},
      note ? h("div", {class: "msg-meta"}, h("span", {class: "msg-kind kind-note", text: t("msg.note")}),
               h("span", {class: "msg-who", text: t("you")})) : null,
      h("div", {class: "msg-bubble" + (p.attachments.length ? " has-files" : "")},
        p.text || !p.attachments.length ? h("div", {class: "msg-body", text: p.text}) : null, filesEl),
      h("div", {class: "msg-foot"},
        h("span", {class: "msg-receipt"}, h("span", {class: "pending-state"}),
          h("button", {type: "button", class: "link-btn retry", text: t("msg.retry"), on: {click: onRetry}})))));
}
