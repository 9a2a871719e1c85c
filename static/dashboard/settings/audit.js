// Settings → Audit log (admins): GET /audit?limit=&before=, newest first, "Load more" with next_cursor.
// Each event in words ("Alex Morgan invited sam@x.com", "… changed the widget colour"), its time (the full
// date on hover) and its details, all as text.

import {query} from "../api.js";
import {setText} from "../dom.js";
import {formatDateTime as fmtDateTime, formatList, t} from "../i18n.js";

const PAGE = 50;

// A changed field's words: the catalogue's "au.widget.<name>" (a widget setting) and "au.field.<name>"; others
// as their own words ("max_upload_bytes" → "the max upload bytes").
const WIDGET_FIELDS = ["color", "colour", "position", "greetings", "greeting", "prechat", "launcher", "title", "logo",
                       "offline", "theme", "language", "languages", "text", "texts"];
const OTHER_FIELDS = ["name", "allowed_origins", "routing", "require_name", "require_email", "greeting",
                      "max_upload_bytes", "ai_enabled", "ai", "business_hours", "offline_message", "retention_days"];

const words = (s) => String(s).replace(/[._]+/g, " ").trim();

const widgetWord = (f) => (WIDGET_FIELDS.includes(f) ? t("au.widget." + f) : words(f));

function fieldWord(field) {
  const f = String(field);
  if (f.startsWith("widget.")) return t("au.field.widget_x", {what: widgetWord(f.slice(7))});
  if (f.startsWith("ai.") || f.startsWith("ai_")) return t("au.field.ai_x", {what: words(f.replace(/^ai[._]/, ""))});
  return OTHER_FIELDS.includes(f) ? t("au.field." + f) : t("au.field.other", {what: words(f)});
}

const roleWord = (r) => (r === "admin" || r === "agent" ? t("au.role." + r) : String(r));
const shortcut = (d) => (d.shortcut ? "/" + d.shortcut : "");

/** "invited sam@x.com" and the like: what the actor did, in words (never markup), in the dashboard's language. */
export function describe(ev, agentName) {
  const d = ev.details && typeof ev.details === "object" ? ev.details : {};
  const self = ev.actor && ev.target_type === "agent" && String(ev.actor.id) === String(ev.target_id);
  const target = () => d.name || agentName(ev.target_id) || d.email || t("au.an_agent");
  const targetWithEmail = () => d.email || d.name || agentName(ev.target_id) || t("au.an_agent");
  switch (ev.action) {
    case "agent.invited":
      return t(d.role === "admin" ? "au.invited_admin" : "au.invited", {who: targetWithEmail()});
    case "agent.invitation_renewed":
      return t("au.invitation_renewed", {who: targetWithEmail()});
    case "agent.invitation_accepted":
      return t("au.joined");
    case "agent.password_reset":
      return t("au.password_reset", {who: targetWithEmail()});
    case "agent.password_changed":
      return self ? t("au.password_set") : t("au.password_changed", {who: target()});
    case "agent.role_changed": {
      const who = self ? t("au.themselves") : target();
      if (d.from && d.to) return t("au.role_changed_from_to", {who, from: roleWord(d.from), to: roleWord(d.to)});
      return d.to ? t("au.role_changed_to", {who, to: roleWord(d.to)}) : t("au.role_changed", {who});
    }
    case "agent.updated": {
      const fields = Array.isArray(d.fields) ? d.fields : [];
      if (fields.length === 1 && fields[0] === "name") return self ? t("au.renamed_self") : t("au.renamed", {who: target()});
      return self ? t("au.profile_self") : t("au.profile", {who: target()});
    }
    case "agent.deactivated":
      return t("au.deactivated", {who: target()});
    case "agent.activated":
      return t("au.activated", {who: target()});
    case "tenant.updated": {
      const fields = Array.isArray(d.fields) ? d.fields : [];
      if (!fields.length) return t("au.tenant_updated");
      const widget = fields.filter((f) => String(f).startsWith("widget."));
      const other = fields.filter((f) => !String(f).startsWith("widget."));
      const parts = other.map(fieldWord);
      if (widget.length) {
        parts.push(t("au.field.widget_x", {what: formatList(widget.map((f) => widgetWord(String(f).slice(7))))}));
      }
      return t("au.changed", {what: formatList(parts)});
    }
    case "canned_response.created":
      return t("au.canned_created", {shortcut: shortcut(d)}).trim();
    case "canned_response.updated":
      return t("au.canned_updated", {shortcut: shortcut(d)}).trim();
    case "canned_response.deleted":
      return d.shortcut ? t("au.canned_deleted_x", {shortcut: shortcut(d)}) : t("au.canned_deleted");
    case "label.created":
      return t("au.label_created", {name: d.name ? "“" + d.name + "”" : ""}).trim();
    case "label.updated":
      return t("au.label_updated", {name: d.name ? "“" + d.name + "”" : ""}).trim();
    case "label.deleted":
      return d.name ? t("au.label_deleted_x", {name: "“" + d.name + "”"}) : t("au.label_deleted");
    case "webhook.created":
      return d.url ? t("au.webhook_created_x", {url: d.url}) : t("au.webhook_created");
    case "webhook.updated":
      return d.url ? t("au.webhook_updated_x", {url: d.url}) : t("au.webhook_updated");
    case "webhook.deleted":
      return d.url ? t("au.webhook_deleted_x", {url: d.url}) : t("au.webhook_deleted");
    case "webhook.secret_rotated":
    case "webhook.rotated":
      return t("au.webhook_rotated");
    case "ai.settings_updated":
    case "ai.updated":
      return t("au.ai_updated");
    default: {
      const [kind, verb] = String(ev.action || "").split(".", 2);
      return verb ? words(verb) + " (" + words(kind) + ")" : ev.action ? words(ev.action) : t("au.did_something");
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
    return fmtDateTime(iso, {weekday: "long", year: "numeric", month: "long", day: "numeric",
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

  const items = h("ol", {id: "au-list", class: "au-list", "aria-label": t("au.list")});
  const empty = h("p", {id: "au-empty", class: "st-empty", hidden: true}, t("au.empty"));
  const more = h("button", {id: "au-more", type: "button", hidden: true}, t("au.more"));
  const status = h("p", {id: "au-status", class: "st-form-status", role: "status"});
  const err = h("p", {id: "au-error", class: "error-text", role: "alert"});

  function item(ev) {
    const actor = (ev.actor && ev.actor.name) || t("au.someone");
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
    setText(more, t("loading"));
    setText(err, "");
    try {
      const res = await fetchPage();
      if (destroyed) return;
      add(res.events || []);
      cursor = res.next_cursor || null;
      more.hidden = !cursor;
      setText(status, t("au.shown", {count: seen.size}));
    } catch (e) {
      if (!destroyed) setText(err, t("au.more_error", {error: e.message}));
    } finally {
      more.disabled = false;
      setText(more, t("au.more"));
    }
  });

  const first = await fetchPage();
  cursor = first.next_cursor || null;
  root.append(h("section", {class: "st-card au", "aria-labelledby": "au-title"},
    h("h4", {id: "au-title"}, t("au.title")),
    h("p", {class: "muted small st-card-help"}, t("au.help")),
    items, empty, err, h("div", {class: "au-foot"}, status, more)));
  add(first.events || []);
  more.hidden = !cursor;
  return {destroy() { destroyed = true; }};
}
