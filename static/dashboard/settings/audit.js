// Settings → Audit log (admins): GET /audit?limit=&before=, newest first, "Load more" with next_cursor.
// Each event in words ("Alex Morgan invited sam@x.com", "… changed the widget colour"), its time (the full
// date on hover) and its details, all as text.

import {query} from "../api.js";
import {fmtDateTime, setText} from "../dom.js";

const PAGE = 50;

const WIDGET_WORDS = {
  color: "colour", colour: "colour", position: "position", greetings: "greeting", greeting: "greeting",
  prechat: "pre-chat form", launcher: "launcher", title: "title", logo: "logo", offline: "offline message",
  theme: "theme", language: "language", languages: "languages", text: "texts", texts: "texts",
};
const FIELD_WORDS = {
  name: "the workspace name", allowed_origins: "the allowed websites", routing: "the routing",
  require_name: "the pre-chat name setting", require_email: "the pre-chat e-mail setting", greeting: "the greeting",
  max_upload_bytes: "the upload limit", ai_enabled: "the AI assistant", ai: "the AI assistant",
  business_hours: "the business hours", offline_message: "the offline message", retention_days: "data retention",
};

const words = (s) => String(s).replace(/[._]+/g, " ").trim();

function list(items) {
  if (items.length <= 1) return items.join("");
  return items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
}

function fieldWord(field) {
  const f = String(field);
  if (f.startsWith("widget.")) return "the widget " + (WIDGET_WORDS[f.slice(7)] || words(f.slice(7)));
  if (f.startsWith("ai.") || f.startsWith("ai_")) return "the AI assistant's " + words(f.replace(/^ai[._]/, ""));
  return FIELD_WORDS[f] || "the " + words(f);
}

/** "invited sam@x.com" and the like: what the actor did, in words (never markup). */
export function describe(ev, agentName) {
  const d = ev.details && typeof ev.details === "object" ? ev.details : {};
  const self = ev.actor && ev.target_type === "agent" && String(ev.actor.id) === String(ev.target_id);
  const target = () => d.name || agentName(ev.target_id) || d.email || "an agent";
  const targetWithEmail = () => d.email || d.name || agentName(ev.target_id) || "an agent";
  switch (ev.action) {
    case "agent.invited":
      return "invited " + targetWithEmail() + (d.role === "admin" ? " as an admin" : "");
    case "agent.invitation_renewed":
      return "sent a new invitation link to " + targetWithEmail();
    case "agent.invitation_accepted":
      return "joined the team";
    case "agent.password_reset":
      return "reset the password of " + targetWithEmail();
    case "agent.password_changed":
      return self ? "set a new password" : "changed the password of " + target();
    case "agent.role_changed":
      return "changed the role of " + (self ? "themselves" : target())
        + (d.from && d.to ? " from " + d.from + " to " + d.to : d.to ? " to " + d.to : "");
    case "agent.updated": {
      const fields = Array.isArray(d.fields) ? d.fields : [];
      if (fields.length === 1 && fields[0] === "name") return self ? "changed their name" : "renamed " + target();
      return "changed " + (self ? "their profile" : target() + "'s profile");
    }
    case "agent.deactivated":
      return "deactivated " + target();
    case "agent.activated":
      return "reactivated " + target();
    case "tenant.updated": {
      const fields = Array.isArray(d.fields) ? d.fields : [];
      if (!fields.length) return "changed the workspace settings";
      const widget = fields.filter((f) => String(f).startsWith("widget."));
      const other = fields.filter((f) => !String(f).startsWith("widget."));
      const parts = other.map(fieldWord);
      if (widget.length) {
        parts.push("the widget " + list(widget.map((f) => WIDGET_WORDS[String(f).slice(7)] || words(String(f).slice(7)))));
      }
      return "changed " + list(parts);
    }
    case "canned_response.created":
      return "added the canned response" + (d.shortcut ? " /" + d.shortcut : "");
    case "canned_response.updated":
      return "changed the canned response" + (d.shortcut ? " /" + d.shortcut : "");
    case "canned_response.deleted":
      return "deleted a canned response" + (d.shortcut ? " (/" + d.shortcut + ")" : "");
    case "label.created":
      return "created the label " + (d.name ? "“" + d.name + "”" : "");
    case "label.updated":
      return "changed the label " + (d.name ? "“" + d.name + "”" : "");
    case "label.deleted":
      return "deleted a label" + (d.name ? " (“" + d.name + "”)" : "");
    case "webhook.created":
      return "added a webhook" + (d.url ? " to " + d.url : "");
    case "webhook.updated":
      return "changed a webhook" + (d.url ? " (" + d.url + ")" : "");
    case "webhook.deleted":
      return "deleted a webhook" + (d.url ? " (" + d.url + ")" : "");
    case "webhook.secret_rotated":
    case "webhook.rotated":
      return "rotated a webhook's signing secret";
    case "ai.settings_updated":
    case "ai.updated":
      return "changed the AI assistant settings";
    default: {
      const [kind, verb] = String(ev.action || "").split(".", 2);
      return verb ? words(verb) + " (" + words(kind) + ")" : words(ev.action || "did something");
    }
  }
}

/** The details as "key: value" text. */
function detailText(details) {
  if (!details || typeof details !== "object") return "";
  const parts = [];
  for (const [key, value] of Object.entries(details)) {
    if (value === null || value === undefined || value === "") continue;
    if (Array.isArray(value) && !value.length) continue;
    const shown = Array.isArray(value) ? value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ")
      : typeof value === "object" ? JSON.stringify(value) : String(value);
    parts.push(words(key) + ": " + shown);
  }
  return parts.join(" · ");
}

function fullDate(iso) {
  try {
    return new Date(iso).toLocaleString([], {weekday: "long", year: "numeric", month: "long", day: "numeric",
                                             hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"});
  } catch (e) {
    return new Date(iso).toString();
  }
}

export async function render(ctx) {
  const {app, root, api, h} = ctx;
  let destroyed = false;
  let cursor = null;
  const seen = new Set();
  const agentName = (id) => {
    const a = app.agents.get(Number(id));
    return a ? a.name : null;
  };

  const items = h("ol", {id: "au-list", class: "au-list", "aria-label": "Audit events, newest first"});
  const empty = h("p", {id: "au-empty", class: "st-empty", hidden: true},
                  "Nothing here yet. Invitations, role changes, deactivations and settings changes are listed here.");
  const more = h("button", {id: "au-more", type: "button", hidden: true}, "Load more");
  const status = h("p", {id: "au-status", class: "st-form-status", role: "status"});
  const err = h("p", {id: "au-error", class: "error-text", role: "alert"});

  function item(ev) {
    const actor = (ev.actor && ev.actor.name) || "Someone";
    const details = detailText(ev.details);
    const when = ev.created_at
      ? h("time", {class: "au-time", datetime: ev.created_at, title: fullDate(ev.created_at)}, fmtDateTime(ev.created_at))
      : null;
    return h("li", {class: "au-item", dataset: {action: ev.action || "", eventId: ev.id}},
      h("div", {class: "au-line"},
        h("p", {class: "au-text"}, h("b", {class: "au-actor"}, actor), " ", describe(ev, agentName)),
        when),
      details ? h("p", {class: "au-details muted small"}, details) : null);
  }

  function add(events) {
    for (const ev of events) {
      if (seen.has(ev.id)) continue;
      seen.add(ev.id);
      items.append(item(ev));
    }
    empty.hidden = seen.size > 0;
    items.hidden = seen.size === 0;
  }

  async function fetchPage() {
    return api("GET", "/audit" + query({limit: PAGE, before: cursor}));
  }

  more.addEventListener("click", async () => {
    more.disabled = true;
    setText(more, "Loading…");
    setText(err, "");
    try {
      const res = await fetchPage();
      if (destroyed) return;
      add(res.events || []);
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      setText(status, seen.size + " events shown");
    } catch (e) {
      if (!destroyed) setText(err, "Could not load more: " + e.message);
    } finally {
      more.disabled = false;
      setText(more, "Load more");
    }
  });

  const first = await fetchPage();
  cursor = first.next_cursor || null;
  root.append(h("section", {class: "st-card au", "aria-labelledby": "au-title"},
    h("h4", {id: "au-title"}, "Changes to the team and settings"),
    h("p", {class: "muted small st-card-help"}, "Newest first. Hover a time for the full date."),
    items, empty, err, h("div", {class: "au-foot"}, status, more)));
  add(first.events || []);
  more.hidden = !cursor;
  return {destroy() { destroyed = true; }};
}
