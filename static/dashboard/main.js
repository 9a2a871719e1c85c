// The agent dashboard: sign-in, the conversation list, the live socket, the customer and
// team panels. The open conversation lives in conversation.js.

import {AnalyticsView} from "./analytics.js";
import {api, ApiError, onUnauthorized, query, remembered, tokenStore} from "./api.js";
import {DEFAULT_MAX_UPLOAD_BYTES, filesSummary} from "./attachments.js";
import {ConversationView} from "./conversation.js";
import {$, clear, customerLabel, debounce, describeUserAgent, fmtAgo, fmtDateTime, fmtDuration, h, icon, initials,
        ms, safeHttpUrl, setText} from "./dom.js";
import {VirtualList} from "./list.js";
import {Notifier} from "./notify.js";
import {PushControl} from "./push.js";
import {LiveSocket} from "./socket.js";

const PAGE_SIZE = 50;
// A search call reads a bounded part of a big tenant's conversations; with fewer matches than a page
// the list asks for the next part by itself this many times, then offers "Search older".
const SEARCH_AUTO_CALLS = 5;
const ROW_HEIGHT = 78;
const BASE_TITLE = "Callcenter · Agent dashboard";
const FILTER_KEY = "cc.dashboard.filter";
const SECTION_KEY = "cc.dashboard.section";

const FILTERS = {
  mine: {label: "Mine", params: (me) => ({status: "active", assigned: "me"}),
         match: (s, me) => s.assigned_agent_id === me.id && s.status !== "resolved"},
  unassigned: {label: "Unassigned", params: () => ({status: "open", assigned: "none"}),
               match: (s) => s.assigned_agent_id == null && s.status === "open"},
  open: {label: "All open", params: () => ({status: "active"}), match: (s) => s.status !== "resolved"},
  resolved: {label: "Resolved", params: () => ({status: "resolved"}), match: (s) => s.status === "resolved"},
  all: {label: "All", params: () => ({}), match: () => true},
};

// ---- state ---------------------------------------------------------------------------

const app = {
  me: null,
  tenant: null,
  signedIn: false,
  sessions: new Map(),      // id → session (merged from lists and events)
  versions: new Map(),      // id → change counter (list rows rebuild when it moves)
  agents: new Map(),        // id → agent (with open_sessions)
  presence: new Map(),      // agent id → online | away | offline
  visitorOnline: new Map(), // session id → bool
  typing: new Map(),        // session id → Map(key → {sender, name, agent_id, until})
  drafts: new Map(),
  filter: "open",
  agentFilter: null,        // admin: an agent's conversations
  q: "",
  listIds: [],
  nextCursor: null,
  searchedUntil: null,      // a search stopped at this activity time (older ones not searched yet)
  searchAutoCalls: 0,
  listLoading: false,
  listGen: 0,
  listError: "",
  firstListRendered: false,
  pendingSession: null,     // a conversation to open once signed in (/?session=…, a notification click)
};

let socket;
let list;
let conv;
let notifier;
let analytics;
let push;

// ---- small services used by the conversation view ------------------------------------

app.toast = function toast(text, kind = "info") {
  const el = h("div", {class: "toast " + kind, role: kind === "error" ? "alert" : "status", text});
  $("toasts").appendChild(el);
  setTimeout(() => el.classList.add("leaving"), 4200);
  setTimeout(() => el.remove(), 4600);
};

app.agentName = function agentName(id) {
  const agent = app.agents.get(id);
  return agent ? agent.name : "Agent #" + id;
};

app.fmtWaiting = (iso) => fmtDuration(Date.now() - ms(iso));

app.typingFor = function typingFor(sessionId) {
  const entries = app.typing.get(sessionId);
  if (!entries) return [];
  const now = Date.now();
  const out = [];
  for (const [key, t] of entries) {
    if (t.until > now) out.push(t); else entries.delete(key);
  }
  return out;
};

app.clearTyping = function clearTyping(sessionId, sender, agentId) {
  const entries = app.typing.get(sessionId);
  if (!entries) return;
  const key = sender === "visitor" || sender === "ai" ? sender : "agent:" + agentId;
  if (entries.delete(key)) typingChanged(sessionId);
};

function bump(id) {
  app.versions.set(id, (app.versions.get(id) || 0) + 1);
}

function sortKey(s) {
  return ms(s.updated_at);
}

/** Newer first; ties by id descending (the server's order). */
function before(a, b) {
  const ka = sortKey(a), kb = sortKey(b);
  return ka !== kb ? ka > kb : a.id > b.id;
}

function matchesFilter(s, alreadyListed) {
  const me = app.me;
  if (app.agentFilter !== null) {
    if (s.assigned_agent_id !== app.agentFilter || s.status === "resolved") return false;
  } else if (!FILTERS[app.filter].match(s, me)) {
    return false;
  }
  if (!app.q) return true;
  if (alreadyListed) return true; // it matched the server's search (maybe on an older message)
  const q = app.q.toLowerCase();
  return [s.customer_name, s.customer_email, s.last_message_preview].some((v) => (v || "").toLowerCase().includes(q));
}

/** Merge a session from an event or a response; place it in (or out of) the list. */
app.upsertSession = function upsertSession(incoming) {
  if (!incoming || !incoming.id) return null;
  const old = app.sessions.get(incoming.id);
  if (old && sortKey(incoming) < sortKey(old)) return old; // an older copy than ours
  const merged = old ? Object.assign({}, old, incoming) : Object.assign({}, incoming);
  app.sessions.set(merged.id, merged);
  bump(merged.id);
  placeInList(merged);
  if (conv) conv.onSessionChanged(merged);
  return merged;
};

/** Change a few fields in place (read marks): the order does not change. */
app.patchSession = function patchSession(id, fields) {
  const s = app.sessions.get(id);
  if (!s) return;
  Object.assign(s, fields);
  bump(id);
  list.schedule();
  if (conv) conv.onSessionChanged(s);
};

function placeInList(s) {
  const ids = app.listIds;
  const idx = ids.indexOf(s.id);
  const match = matchesFilter(s, idx >= 0);
  if (idx >= 0) ids.splice(idx, 1);
  if (match) {
    let pos = 0;
    while (pos < ids.length && !before(s, app.sessions.get(ids[pos]))) pos++;
    // Past the end of what is loaded: the next page brings it in its place.
    if (!(pos === ids.length && app.nextCursor)) ids.splice(pos, 0, s.id);
  }
  list.setItems(ids);
  updateListStatus();
}

// ---- the conversation list -------------------------------------------------------------

function renderRow(id) {
  const s = app.sessions.get(id);
  const me = app.me;
  const selected = conv.id === id;
  const typing = app.typingFor(id).filter((t) => t.sender === "visitor");
  let preview;
  if (typing.length) {
    preview = h("span", {class: "row-typing", text: "typing…"});
  } else {
    const prefix = {agent: "Agent: ", ai: "AI: ", system: ""}[s.last_message_sender] || "";
    preview = [prefix ? h("span", {class: "row-prefix", text: prefix}) : null,
               s.last_message_preview || (s.last_seq ? "" : "New conversation")];
  }
  const assignee = s.assigned_agent_id ? (s.assigned_agent_id === me.id ? "You" : app.agentName(s.assigned_agent_id))
    : "Unassigned";
  const waiting = s.waiting_since && s.status !== "resolved" ? Date.now() - ms(s.waiting_since) : null;
  const online = app.visitorOnline.get(id);
  return h("div", {class: "row" + (selected ? " selected" : "") + (s.unread ? " has-unread" : ""),
                   role: "option", "aria-selected": selected ? "true" : "false", dataset: {id},
                   on: {click: () => openConversation(id)}},
    h("div", {class: "avatar" + (online ? " online" : ""), "aria-hidden": "true", text: initials(customerLabel(s))}),
    h("div", {class: "row-main"},
      h("div", {class: "row-top"},
        h("span", {class: "row-name", text: customerLabel(s)}),
        h("time", {class: "row-time", datetime: s.updated_at, title: fmtDateTime(s.updated_at),
                   text: fmtAgo(s.updated_at)})),
      h("div", {class: "row-preview"}, preview),
      h("div", {class: "row-meta"},
        h("span", {class: "row-assignee" + (s.assigned_agent_id ? "" : " none"), text: assignee}),
        s.status === "resolved" ? h("span", {class: "chip resolved", text: "Resolved"}) : null,
        s.handoff && !s.assigned_agent_id && s.status !== "resolved"
          ? h("span", {class: "chip handoff", title: "The AI handed this conversation over", text: "Needs a person"})
          : null,
        waiting !== null ? h("span", {class: "chip waiting" + (waiting > 15 * 60e3 ? " urgent" : waiting > 5 * 60e3
                                                                ? " warn" : ""),
                                      title: "Waiting for a reply since " + fmtDateTime(s.waiting_since),
                                      }, icon("clock", 11), " " + fmtDuration(waiting)) : null,
        s.unread ? h("span", {class: "unread", title: s.unread + " unread", text: String(s.unread)}) : null)));
}

function filterParams() {
  const base = app.agentFilter !== null ? {status: "active", assigned: String(app.agentFilter)}
    : FILTERS[app.filter].params(app.me);
  return Object.assign({}, base, {q: app.q || null, limit: PAGE_SIZE});
}

async function loadList({more = false} = {}) {
  if (more && (!app.nextCursor || app.listLoading)) return;
  const gen = more ? app.listGen : ++app.listGen;
  let searchOn = false;
  if (!more) {
    app.searchedUntil = null;
    app.searchAutoCalls = 0;
  }
  app.listLoading = true;
  updateListStatus();
  const params = filterParams();
  if (more) params.cursor = app.nextCursor;
  try {
    const res = await api("GET", "/chat/sessions" + query(params));
    if (gen !== app.listGen) return;
    app.listError = "";
    const ids = more ? app.listIds.slice() : [];
    const have = new Set(ids);
    for (const s of res.sessions) {
      const merged = app.upsertSessionQuiet(s);
      if (!have.has(merged.id) && matchesFilter(merged, true)) {
        ids.push(merged.id);
        have.add(merged.id);
      }
    }
    app.listIds = ids;
    app.nextCursor = res.next_cursor;
    app.searchedUntil = app.q && res.next_cursor ? res.searched_until || null : null;
    searchOn = !!app.searchedUntil && ids.length < PAGE_SIZE && app.searchAutoCalls < SEARCH_AUTO_CALLS;
    list.setItems(ids);
    list.render();
    document.body.dataset.listLoads = String((Number(document.body.dataset.listLoads) || 0) + 1);
    if (!more && !app.firstListRendered) {
      app.firstListRendered = true;
      performance.mark("cc-list-rendered");
      document.body.dataset.listReady = "1";
      // The frame that shows it (rAF runs just before that frame is painted).
      requestAnimationFrame(() => performance.mark("cc-list-frame"));
    }
  } catch (err) {
    if (gen === app.listGen) app.listError = err.status === 401 ? "" : "Could not load conversations: " + err.message;
  } finally {
    if (gen === app.listGen) {
      app.listLoading = false;
      updateListStatus();
      if (searchOn) {
        app.searchAutoCalls++;
        loadList({more: true});
      }
    }
  }
}

/** "Search older": the next part of a search that stopped (counts as a new round of calls). */
function searchOlder() {
  app.searchAutoCalls = 0;
  loadList({more: true});
}

/** Merge without touching the list order (the page itself is in the server's order). */
app.upsertSessionQuiet = function upsertSessionQuiet(incoming) {
  const old = app.sessions.get(incoming.id);
  if (old && sortKey(incoming) < sortKey(old)) return old;
  const merged = old ? Object.assign({}, old, incoming) : Object.assign({}, incoming);
  app.sessions.set(merged.id, merged);
  bump(merged.id);
  if (conv) conv.onSessionChanged(merged);
  return merged;
};

function updateListStatus() {
  const n = app.listIds.length;
  let footer = "";
  if (app.listError) footer = app.listError;
  else if (app.listLoading) footer = app.searchedUntil ? "Searching older conversations…" : "Loading…";
  else if (app.searchedUntil) footer = "";  // #search-more says how far the search got
  else if (app.nextCursor) footer = "Scroll for more";
  else if (n) footer = "End of list";
  list.setFooter(footer);
  const empty = $("list-empty");
  empty.hidden = n > 0 || app.listLoading || !!app.listError;
  setText(empty, !app.q ? "No conversations here."
    : app.searchedUntil ? "No matches yet for “" + app.q + "”."
      : "No conversations match “" + app.q + "”.");
  // A search that stopped before the oldest conversation: how far it got, and a way on.
  const more = $("search-more");
  more.hidden = !app.searchedUntil || app.listLoading || !!app.listError;
  if (app.searchedUntil) setText($("search-more-text"), "Searched conversations active since "
                                                         + fmtDateTime(app.searchedUntil) + ".");
  const count = $("list-count");
  setText(count, n ? String(n) + (app.nextCursor ? "+" : "") : "");
}

function setFilter(name, {agentId = null} = {}) {
  app.filter = name;
  app.agentFilter = agentId;
  try { sessionStorage.setItem(FILTER_KEY, name); } catch (e) { /* ignore */ }
  for (const btn of document.querySelectorAll("[data-filter]")) {
    const on = agentId === null && btn.dataset.filter === name;
    btn.classList.toggle("active", on);
    btn.setAttribute("aria-pressed", on ? "true" : "false");
  }
  const chip = $("agent-filter");
  chip.hidden = agentId === null;
  if (agentId !== null) setText($("agent-filter-name"), app.agentName(agentId));
  app.listIds = [];
  app.nextCursor = null;
  list.setItems([]);
  list.scrollToTop();
  loadList();
}

// ---- open a conversation --------------------------------------------------------------

function openConversation(id) {
  showSection("conversations");
  $("app").dataset.view = "conv";
  if (conv.id !== id) {
    conv.open(id);
    list.invalidate();
  } else {
    conv.markRead(); // back to it (a phone shows one pane at a time): what came meanwhile is read now
  }
  notifier.seen(id);
}

function closeConversation() {
  $("app").dataset.view = "list";
}

// ---- sections: conversations (the panes) or analytics ------------------------------------

/** The Analytics view covers the conversation: its messages are not being read (no read marks, alerts stay on). */
app.analyticsShown = () => $("app").dataset.section === "analytics";

/** The open conversation is not on screen: the Analytics view covers it, or (a phone) another pane shows. */
app.conversationHidden = () => app.analyticsShown() || !document.querySelector(".conv-pane").getClientRects().length;

/** Show the conversations (list · conversation · context panes) or the Analytics view in the main area. */
function showSection(name, {focus = false, remember = true} = {}) {
  const toAnalytics = name === "analytics";
  const root = $("app");
  const was = root.dataset.section || "conversations";
  root.dataset.section = toAnalytics ? "analytics" : "conversations";
  $("analytics-btn").setAttribute("aria-pressed", toAnalytics ? "true" : "false");
  if (remember) {
    try { sessionStorage.setItem(SECTION_KEY, root.dataset.section); } catch (e) { /* ignore */ }
  }
  if (toAnalytics) {
    root.classList.remove("ctx-open");
    if (!analytics.visible) analytics.show();
    if (focus) $("analytics-title").focus();
  } else if (was === "analytics") {
    analytics.hide();
    if (focus) $("analytics-btn").focus();
    if (conv.id && document.visibilityState === "visible") conv.markRead(); // what came meanwhile is read now
  }
}

// ---- customer context and team -----------------------------------------------------------

function field(label, value) {
  return [h("dt", {text: label}), h("dd", null, value)];
}

app.renderCustomer = function renderCustomer(detail, sessionId) {
  const box = $("customer");
  box.hidden = !sessionId;
  const body = clear($("customer-body"));
  if (!sessionId) return;
  if (!detail) {
    body.appendChild(h("p", {class: "muted", text: "Loading…"}));
    return;
  }
  const s = Object.assign({}, detail.session, app.sessions.get(sessionId) || {});
  const online = app.visitorOnline.get(sessionId);
  const pageUrl = safeHttpUrl(s.page_url);
  const firstSeen = [s, ...detail.previous_sessions].reduce((min, x) => Math.min(min, ms(x.created_at)), Infinity);
  body.append(
    h("div", {class: "cust-head"},
      h("div", {class: "avatar big" + (online ? " online" : ""), "aria-hidden": "true",
                text: initials(customerLabel(s))}),
      h("div", null,
        h("div", {class: "cust-name", text: s.customer_name || "Anonymous visitor"}),
        h("div", {class: "cust-presence " + (online ? "on" : "off"), id: "visitor-presence",
                  text: online === undefined ? "" : online ? "Online now" : "Offline"}))),
    h("dl", {class: "facts"},
      field("Email", s.customer_email ? h("span", {class: "selectable", text: s.customer_email})
                                      : h("span", {class: "muted", text: "not given"})),
      field("Channel", s.channel || "web"),
      field("Page", pageUrl ? h("a", {href: pageUrl, target: "_blank", rel: "noopener noreferrer nofollow",
                                      class: "page-url", title: s.page_url, text: s.page_url})
                            : h("span", {class: s.page_url ? "page-url" : "muted", text: s.page_url || "unknown"})),
      field("Browser", h("span", {title: s.user_agent || "", text: describeUserAgent(s.user_agent)})),
      field("First seen", isFinite(firstSeen) ? fmtDateTime(new Date(firstSeen).toISOString()) : "—"),
      field("This chat", h("span", {id: "cust-chat"})),
      field("Assigned", h("span", {id: "cust-assigned"}))));
  app.updateCustomer(s);
  const prev = detail.previous_sessions;
  body.appendChild(h("h4", {text: "Previous conversations (" + prev.length + ")"}));
  if (!prev.length) {
    body.appendChild(h("p", {class: "muted", text: "None: this is their first conversation."}));
  } else {
    body.appendChild(h("ul", {class: "prev-list"}, prev.map((p) => h("li", null,
      h("button", {type: "button", class: "prev", on: {click: () => openConversation(p.id)}},
        h("span", {class: "prev-top"},
          h("span", {text: fmtDateTime(p.created_at)}),
          h("span", {class: "chip status-" + p.status, text: p.status})),
        h("span", {class: "prev-preview", text: p.last_message_preview || "(no messages)"}))))));
  }
};

/** The parts of the customer panel that change while it is open. */
app.updateCustomer = function updateCustomer(s) {
  const chat = $("cust-chat");
  const assigned = $("cust-assigned");
  if (!chat || !assigned || !s) return;
  setText(chat, "Started " + fmtDateTime(s.created_at) + " · " + s.last_seq + (s.last_seq === 1 ? " message" : " messages")
          + (s.status === "resolved" ? " · resolved" : ""));
  setText(assigned, s.assigned_agent_id ? (s.assigned_agent_id === app.me.id ? "You" : app.agentName(s.assigned_agent_id))
                                        : "nobody");
};

function renderTeam() {
  const box = clear($("team-list"));
  const me = app.me;
  if (!me) return;
  const isAdmin = me.role === "admin";
  const agents = [...app.agents.values()].filter((a) => a.active !== false);
  const rank = {online: 0, away: 1, offline: 2};
  agents.sort((a, b) => (rank[app.presence.get(a.id) || "offline"] - rank[app.presence.get(b.id) || "offline"])
    || a.name.localeCompare(b.name));
  let online = 0;
  for (const a of agents) {
    const status = app.presence.get(a.id) || "offline";
    if (status === "online") online++;
    const showLoad = isAdmin || a.id === me.id;
    const label = h("span", {class: "team-name"}, a.name + (a.id === me.id ? " (you)" : ""));
    const load = showLoad && typeof a.open_sessions === "number"
      ? h("span", {class: "load", title: "Assigned conversations", text: a.open_sessions + " open"}) : null;
    const inner = [h("span", {class: "dot " + status, title: status}, h("span", {class: "sr-only", text: status})), label,
                   h("span", {class: "team-status", text: status === "online" ? "" : status}), load];
    const item = isAdmin
      ? h("button", {type: "button", class: "team-item", dataset: {agentId: a.id},
                     title: "Show " + a.name + "'s conversations", on: {click: () => {
                       setFilter(app.filter, {agentId: a.id});
                       showSection("conversations");
                       $("app").dataset.view = "list";
                     }}}, inner)
      : h("div", {class: "team-item", dataset: {agentId: a.id}}, inner);
    box.appendChild(h("li", null, item));
  }
  setText($("team-count"), online + " online");
}

async function loadAgents() {
  try {
    const res = await api("GET", "/agents");
    app.agents = new Map(res.agents.map((a) => [a.id, a]));
    renderTeam();
    list.invalidate();
    if (conv.id) conv.renderHeader();
    if (app.agentFilter !== null) setText($("agent-filter-name"), app.agentName(app.agentFilter));
  } catch (err) { /* retried on the next change */ }
}

app.refreshAgentsSoon = debounce(loadAgents, 400);

// ---- transfer dialog -------------------------------------------------------------------

app.openTransferDialog = function openTransferDialog(session) {
  if (!session) return;
  const dialog = $("transfer-dialog");
  const select = clear($("transfer-agent"));
  const assigned = !!session.assigned_agent_id;
  setText($("transfer-title"), (assigned ? "Transfer " : "Assign ") + customerLabel(session));
  setText($("transfer-submit"), assigned ? "Transfer" : "Assign");
  $("transfer-note-row").hidden = !assigned;
  $("transfer-note").value = "";
  setText($("transfer-error"), "");
  const candidates = [...app.agents.values()].filter((a) => a.active !== false && a.id !== session.assigned_agent_id);
  for (const a of candidates) {
    const status = app.presence.get(a.id) || "offline";
    select.appendChild(h("option", {value: a.id, text: a.name + (a.id === app.me.id ? " (you)" : "") + " · " + status
                                     + (typeof a.open_sessions === "number" ? " · " + a.open_sessions + " open" : "")}));
  }
  if (!candidates.length) select.appendChild(h("option", {value: "", text: "No other agent", disabled: true}));
  dialog.dataset.sessionId = session.id;
  dialog.showModal();
};

async function submitTransfer(ev) {
  ev.preventDefault();
  const dialog = $("transfer-dialog");
  const id = dialog.dataset.sessionId;
  const agentId = parseInt($("transfer-agent").value, 10);
  if (!id || !agentId) return;
  const session = app.sessions.get(id);
  const assigned = session && session.assigned_agent_id;
  const btn = $("transfer-submit");
  btn.disabled = true;
  try {
    const res = assigned
      ? await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/transfer",
                  {agent_id: agentId, note: $("transfer-note").value.trim()})
      : await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/assign", {agent_id: agentId});
    app.upsertSession(res.session);
    app.refreshAgentsSoon();
    dialog.close();
    app.toast((assigned ? "Transferred to " : "Assigned to ") + app.agentName(agentId) + ".");
  } catch (err) {
    setText($("transfer-error"), err.message);
  } finally {
    btn.disabled = false;
  }
}

// ---- live events -----------------------------------------------------------------------------

function attended(sessionId) {
  return conv.id === sessionId && document.visibilityState === "visible" && document.hasFocus()
    && !app.conversationHidden();
}

function typingChanged(sessionId) {
  bump(sessionId);
  list.schedule();
  if (conv.id === sessionId) conv.renderTyping();
}

function onFrame(type, data) {
  switch (type) {
    case "chat.message.new": {
      const msg = data.message;
      if (!msg) return;
      const session = data.session ? app.upsertSession(data.session) : app.sessions.get(msg.session_id);
      conv.onMessage(msg);
      if (!data.replayed && msg.sender_type === "visitor" && session && session.assigned_agent_id === app.me.id) {
        notifier.alert(msg.session_id, customerLabel(session), msg.body || filesSummary(msg.attachments),
                       {attended: attended(msg.session_id)});
      }
      if (conv.id === msg.session_id && attended(msg.session_id)) conv._markReadSoon();
      break;
    }
    case "chat.message.ack":
      conv.onAck(data);
      break;
    case "chat.session.started": {
      const s = app.upsertSession(data.session);
      if (s) notifier.alert(s.id, "New conversation", customerLabel(s) + " started a chat.", {attended: false});
      break;
    }
    case "chat.session.assigned":
    case "chat.session.transferred": {
      const s = app.upsertSession(data.session);
      app.refreshAgentsSoon();
      const to = data.to_agent || data.agent;
      if (type === "chat.session.assigned" && s && to && to.id === app.me.id && data.by_agent_id
          && data.by_agent_id !== app.me.id) {
        app.toast(app.agentName(data.by_agent_id) + " gave you the conversation with " + customerLabel(s) + ".");
        notifier.alert(s.id, "Assigned to you", customerLabel(s), {attended: attended(s.id)});
      }
      break;
    }
    case "chat.agent.joined":
    case "chat.session.resolved":
    case "chat.session.reopened":
    case "chat.session.updated":
      app.upsertSession(data.session);
      if (type !== "chat.agent.joined") app.refreshAgentsSoon();
      break;
    case "chat.message.read": {
      const s = app.sessions.get(data.session_id);
      if (s) {
        if (data.reader === "visitor") {
          app.patchSession(s.id, {visitor_read_seq: Math.max(s.visitor_read_seq || 0, data.seq)});
        } else {
          app.patchSession(s.id, {agent_read_seq: Math.max(s.agent_read_seq || 0, data.seq),
                                  unread: typeof data.unread === "number" ? data.unread : s.unread});
        }
      }
      conv.onRead(data);
      break;
    }
    case "chat.typing": {
      if (data.sender === "agent" && data.agent_id === app.me.id) return;
      const key = data.sender === "visitor" || data.sender === "ai" ? data.sender : "agent:" + data.agent_id;
      let entries = app.typing.get(data.session_id);
      if (!entries) app.typing.set(data.session_id, entries = new Map());
      if (data.is_typing) {
        const ttl = Math.min(Math.max(data.expires_in_ms || 6000, 1000), 30000);
        entries.set(key, {sender: data.sender, name: data.name, agent_id: data.agent_id, until: Date.now() + ttl});
        setTimeout(() => typingChanged(data.session_id), ttl + 50);
      } else {
        entries.delete(key);
      }
      typingChanged(data.session_id);
      break;
    }
    case "chat.session.handoff": {
      const s = app.upsertSession(data.session);
      if (s && !s.assigned_agent_id) {
        notifier.alert(s.id, "Needs a person", customerLabel(s) + ": the AI handed the conversation over.",
                       {attended: attended(s.id)});
      }
      break;
    }
    case "chat.agent.presence":
      app.presence.set(data.agent_id, data.status);
      if (!app.agents.has(data.agent_id)) app.refreshAgentsSoon();
      renderTeam();
      break;
    case "chat.visitor.presence":
      app.visitorOnline.set(data.session_id, !!data.online);
      bump(data.session_id);
      list.schedule();
      if (conv.id === data.session_id) {
        const el = $("visitor-presence");
        if (el) {
          setText(el, data.online ? "Online now" : "Offline");
          el.className = "cust-presence " + (data.online ? "on" : "off");
        }
      }
      break;
    case "chat.resync":
      resync();
      break;
    case "error":
      if (!conv.onError(data)) app.toast(data.message || "Something went wrong.", "error");
      break;
    default:
      break;
  }
}

/** Everything may have changed while we were away: refetch the list, agents and the open chat. */
function resync() {
  loadList();
  loadAgents();
  conv.refresh();
}

// ---- Live indicator ------------------------------------------------------------------------

let countdownTimer = null;

function renderLive(state, info) {
  const el = $("live");
  clearInterval(countdownTimer);
  countdownTimer = null;
  el.dataset.state = state;
  el.className = "live " + state;
  el.title = info.reason || "";
  const label = $("live-label");
  const paint = () => {
    let text;
    if (state === "live") text = "Live";
    else if (state === "connecting") text = "Connecting…";
    else {
      const secs = info.retryAt ? Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000)) : 0;
      const base = state === "offline" ? "Offline" : "Reconnecting";
      text = info.connecting || !info.retryAt || secs === 0 ? base + "…" : base + " · retry in " + secs + "s";
    }
    setText(label, text);
  };
  paint();
  if (info.retryAt) countdownTimer = setInterval(paint, 250);
  el.setAttribute("aria-label", "Connection: " + label.textContent + (info.reason ? " (" + info.reason + ")" : ""));
}

// ---- sign in / out --------------------------------------------------------------------------

let expiryTimer = null;

function showLogin(message, kind = "error") {
  $("boot").hidden = true;
  $("app").hidden = true;
  $("login-view").hidden = false;
  const msg = $("login-message");
  msg.hidden = !message;
  msg.className = "login-message " + kind;
  setText(msg, message || "");
  $("login-tenant").value = $("login-tenant").value || remembered.tenant;
  $("login-email").value = $("login-email").value || remembered.email;
  const first = !$("login-email").value ? $("login-email") : !$("login-tenant").value ? $("login-tenant")
    : $("login-password");
  first.focus();
}

async function submitLogin(ev) {
  ev.preventDefault();
  performance.clearMarks("cc-login-submit");
  performance.clearMarks("cc-list-rendered");
  performance.mark("cc-login-submit");
  const email = $("login-email").value.trim();
  const password = $("login-password").value;
  const tenant = $("login-tenant").value.trim();
  const msg = $("login-message");
  if (!email || !password || !tenant) {
    msg.hidden = false;
    msg.className = "login-message error";
    setText(msg, "Enter your email, password and tenant.");
    return;
  }
  const btn = $("login-submit");
  btn.disabled = true;
  setText(btn, "Signing in…");
  try {
    const res = await api("POST", "/auth/login", {email, password, tenant_id: tenant}, {auth: false});
    tokenStore.set(res.token, $("login-remember").checked);
    remembered.save(tenant, email);
    $("login-password").value = "";
    enterApp(res.agent, null, null);
  } catch (err) {
    msg.hidden = false;
    msg.className = "login-message error";
    setText(msg, err.status === 401 ? "Wrong email, password or tenant."
      : err.status === 429 ? "Too many attempts. " + err.message
      : err.message);
    $("login-password").select();
  } finally {
    btn.disabled = false;
    setText(btn, "Sign in");
  }
}

function enterApp(agent, tenant, limits) {
  app.me = agent;
  app.tenant = tenant;
  app.limits = limits;
  app.signedIn = true;
  app.firstListRendered = false;
  $("boot").hidden = true;
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("app").dataset.view = "list";
  $("app").dataset.role = agent.role;
  let section = "conversations";
  try { section = sessionStorage.getItem(SECTION_KEY) || section; } catch (e) { /* ignore */ }
  showSection(section === "analytics" ? "analytics" : "conversations", {remember: false});
  setText($("me-name"), agent.name);
  $("me-avatar").textContent = initials(agent.name);
  setText($("tenant-name"), tenant ? tenant.name : agent.tenant_id);
  $("my-status").value = "online";
  app.presence.set(agent.id, "online");
  let saved = "open";
  try { saved = sessionStorage.getItem(FILTER_KEY) || "open"; } catch (e) { /* ignore */ }
  setFilter(FILTERS[saved] ? saved : "open");
  loadAgents();
  loadAISettings();
  socket.start();
  if (!tenant || !limits) {
    app.limitsLoading = api("GET", "/auth/me").then((res) => {
      if (app.me !== agent) return;
      app.tenant = res.tenant;
      app.limits = res.limits || null;
      setText($("tenant-name"), res.tenant.name);
    }).catch(() => {});
  }
  scheduleExpiry();
  renderNotifyButtons();
  push.start();
  openPendingSession();
}

// ---- deep links: /?session=<id> (a push notification's URL) ----------------------------------------

const SESSION_ID_RE = /^[A-Za-z0-9_-]{1,100}$/;

/** The conversation the address asks for (`?session=`), or null. */
function sessionFromUrl() {
  const id = new URLSearchParams(location.search).get("session");
  return id && SESSION_ID_RE.test(id) ? id : null;
}

/** The address without `?session=` (it was for opening the page, not for a reload). */
function dropSessionFromUrl() {
  const url = new URL(location.href);
  if (!url.searchParams.has("session")) return;
  url.searchParams.delete("session");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

function openPendingSession() {
  const id = app.pendingSession;
  app.pendingSession = null;
  dropSessionFromUrl();
  if (id && app.signedIn) openConversation(id);
}

/** A notification was clicked and the service worker brought this window forward. */
function openFromNotification(id) {
  if (!id) return;
  app.pendingSession = id;
  if (app.signedIn) openPendingSession();
}

/** A push came while this dashboard is on screen: true when it is ours to show (the worker then
 *  shows nothing). Signed in with the live socket, its events already alerted; between sockets,
 *  a toast. Signed out, or another tenant's push: the worker shows the OS notification. */
function onPushInPage(payload) {
  if (!app.signedIn || !app.me || (payload.tenant_id && payload.tenant_id !== app.me.tenant_id)) return false;
  if ($("live").dataset.state !== "live" && typeof payload.title === "string") {
    app.toast(payload.title + (typeof payload.body === "string" && payload.body ? ": " + payload.body : ""));
  }
  return true;
}

/** The largest file an upload may be (GET /auth/me's limits; waits for it right after sign-in). */
app.maxUploadBytes = async function maxUploadBytes() {
  if (!app.limits && app.limitsLoading) await app.limitsLoading;
  return (app.limits && app.limits.max_upload_bytes) || DEFAULT_MAX_UPLOAD_BYTES;
};

/** Whether agent assist (Suggest reply) is on for this tenant: AI available here and not off. */
app.aiAssist = () => !!(app.ai && app.ai.available && app.ai.settings.ai_mode !== "off");

async function loadAISettings() {
  try {
    app.ai = await api("GET", "/ai/settings");
  } catch (err) {
    app.ai = null;
  }
  if (conv.id) conv.renderHeader();
}

function scheduleExpiry() {
  clearTimeout(expiryTimer);
  const exp = tokenStore.expiresAt(tokenStore.get() || "");
  if (!exp) return;
  const wait = exp * 1000 - Date.now();
  if (wait <= 0) {
    signOut("Your sign-in has expired. Please sign in again.");
    return;
  }
  // setTimeout holds at most ~24.8 days; a token lasts hours.
  expiryTimer = setTimeout(() => signOut("Your sign-in has expired. Please sign in again."),
                           Math.min(wait, 2 ** 31 - 1));
}

/** `forgetDevice`: the agent signs out on purpose (or the sign-in was revoked): this device stops
 *  getting their push notifications. An expired sign-in keeps them (the agent did not ask). */
function signOut(message, kind = "error", {forgetDevice = false} = {}) {
  if (!app.signedIn && !tokenStore.get()) {
    showLogin(message, kind);
    return;
  }
  app.signedIn = false;
  clearTimeout(expiryTimer);
  socket.stop();
  closePushMenu();
  if (forgetDevice) push.forget(tokenStore.get()); else push.reset();
  tokenStore.clear();
  conv.close();
  conv.dropAllPending();
  showSection("conversations", {remember: false});
  analytics.reset();
  try { sessionStorage.removeItem(SECTION_KEY); } catch (e) { /* ignore */ }
  $("search").value = "";
  app.q = "";
  app.agentFilter = null;
  app.me = null;
  app.limits = null;
  app.limitsLoading = null;
  app.sessions.clear();
  app.versions.clear();
  app.agents.clear();
  app.presence.clear();
  app.visitorOnline.clear();
  app.typing.clear();
  app.drafts.clear();
  app.listIds = [];
  app.nextCursor = null;
  app.listGen++;
  list.setItems([]);
  notifier.reset();
  showLogin(message, kind);
}

// ---- notifications UI ------------------------------------------------------------------------------

function renderNotifyButtons() {
  const btn = $("notify-btn");
  const perm = notifier.permission;
  btn.hidden = perm === "unsupported";
  btn.dataset.permission = perm;
  clear(btn).append(icon(perm === "denied" ? "bellOff" : "bell", 18),
                    h("span", {class: "btn-text", text: perm === "granted" ? "Alerts on" : perm === "denied"
                      ? "Alerts blocked" : "Enable alerts"}));
  btn.title = perm === "granted" ? "Browser notifications are on"
    : perm === "denied" ? "Notifications are blocked in this browser's site settings"
    : "Get a browser notification for new conversations and messages in yours";
  const sound = $("sound-btn");
  sound.setAttribute("aria-pressed", notifier.soundOn ? "true" : "false");
  clear(sound).append(icon(notifier.soundOn ? "volume" : "volumeOff", 18),
                      h("span", {class: "btn-text", text: notifier.soundOn ? "Sound on" : "Sound off"}));
  sound.title = notifier.soundOn ? "Sound on for new conversations and messages" : "Sound off";
}

// ---- push notifications (this device, also while the dashboard is closed) ---------------------------------

const PUSH_LOOK = {
  unsupported: {icon: "phoneOff", text: "No push"},
  off: {icon: "phone", text: "Push off", title: "Turn on push notifications: alerts on this device even when the "
    + "dashboard is closed"},
  working: {icon: "phone", text: ""},
  on: {icon: "phoneOn", text: "Push on", title: "Push notifications are on for this device"},
  blocked: {icon: "phoneOff", text: "Push blocked"},
  error: {icon: "alert", text: "Push failed"},
};

function renderPushButton() {
  const btn = $("push-btn");
  const state = push.state;
  btn.hidden = state === "hidden";
  btn.dataset.state = state;
  if (state === "hidden") {
    closePushMenu();
    return;
  }
  const look = PUSH_LOOK[state];
  const text = state === "working" ? push.progress || "Working…" : look.text;
  clear(btn).append(icon(look.icon, 18), h("span", {class: "btn-text", text}));
  btn.disabled = state === "working";
  btn.setAttribute("aria-busy", state === "working" ? "true" : "false");
  btn.title = look.title || push.message || text;
  btn.setAttribute("aria-label", "Push notifications: " + (state === "working" ? text : look.text)
                   + (push.message ? ". " + push.message : ""));
  if (state === "off" || state === "working") closePushMenu();
  else if (!$("push-menu").hidden) fillPushMenu();
}

function fillPushMenu() {
  const state = push.state;
  setText($("push-menu-text"), state === "on"
    ? "Push notifications are on for this device: new conversations and messages reach it while the dashboard is "
      + "closed."
    : push.message);
  $("push-test").hidden = state !== "on";
  $("push-off").hidden = state !== "on";
  $("push-retry").hidden = state !== "error";
  if (state !== "on") $("push-menu-devices").hidden = true;
}

async function openPushMenu() {
  const menu = $("push-menu");
  fillPushMenu();
  menu.hidden = false;
  $("push-btn").setAttribute("aria-expanded", "true");
  const first = [$("push-test"), $("push-retry")].find((b) => !b.hidden);
  if (first) first.focus();
  if (push.state === "on") {
    const devices = await push.devices();
    if (push.state !== "on" || menu.hidden || !devices) return;
    const el = $("push-menu-devices");
    setText(el, devices.length === 1 ? "1 device of yours gets them." : devices.length + " devices of yours get them.");
    el.hidden = false;
  }
}

function closePushMenu() {
  const menu = $("push-menu");
  if (menu.hidden) return;
  menu.hidden = true;
  $("push-btn").setAttribute("aria-expanded", "false");
}

// ---- boot ---------------------------------------------------------------------------------------------

function init() {
  notifier = new Notifier(BASE_TITLE, {onClick: (id) => openConversation(id), onChange: renderNotifyButtons});
  push = new PushControl({
    onChange: () => {
      renderPushButton();
      if (app.signedIn) renderNotifyButtons(); // the permission may have changed with it
    },
    toast: (text, kind) => app.toast(text, kind),
    onPush: onPushInPage,
    onOpenSession: openFromNotification,
  });
  app.pendingSession = sessionFromUrl();
  document.title = BASE_TITLE;
  conv = new ConversationView(app);
  analytics = new AnalyticsView(app);
  app.notifier = notifier;
  list = new VirtualList($("conv-list"), {
    rowHeight: ROW_HEIGHT,
    renderRow,
    versionOf: (id) => (app.versions.get(id) || 0) + (conv.id === id ? "s" : ""),
    onNearEnd: () => { if (app.nextCursor && !app.listLoading) loadList({more: true}); },
    onActivate: (id) => openConversation(id),
  });
  socket = new LiveSocket({
    getToken: () => tokenStore.get(),
    getResume: () => conv.resume(),
    onFrame,
    onState: renderLive,
    onReady: (data, isReconnect) => {
      if (data.presence) {
        app.presence = new Map(Object.entries(data.presence).map(([k, v]) => [Number(k), v]));
        renderTeam();
      }
      const status = $("my-status").value;
      if (status !== "online") socket.send("presence.set", {status});
      conv.retryPending();
      if (isReconnect) resync();
    },
    onAuthFailed: (message) => signOut(message),
  });
  app.socket = socket;

  onUnauthorized((err) => {
    if (!app.signedIn) return;
    signOut(err.code === "token_revoked" ? "Your sign-in was revoked. Please sign in again."
      : "Your sign-in has expired. Please sign in again.", "error", {forgetDevice: err.code === "token_revoked"});
  });

  $("login-form").addEventListener("submit", submitLogin);
  $("logout-btn").addEventListener("click", () => signOut("You have signed out.", "info", {forgetDevice: true}));
  $("live").addEventListener("click", () => socket.connectNow());
  $("my-status").addEventListener("change", (ev) => {
    const status = ev.target.value;
    app.presence.set(app.me.id, status);
    renderTeam();
    socket.send("presence.set", {status});
  });
  $("notify-btn").addEventListener("click", () => {
    if (notifier.permission === "default") notifier.requestPermission();
  });
  $("sound-btn").addEventListener("click", () => notifier.toggleSound());
  $("push-btn").addEventListener("click", () => {
    if (push.state === "off") push.enable();
    else if ($("push-menu").hidden) openPushMenu();
    else closePushMenu();
  });
  $("push-test").addEventListener("click", () => {
    closePushMenu();
    push.sendTest();
  });
  $("push-off").addEventListener("click", () => {
    closePushMenu();
    push.disable();
  });
  $("push-retry").addEventListener("click", () => {
    closePushMenu();
    push.enable();
  });
  document.addEventListener("click", (ev) => {
    if (!$("push-menu").hidden && !ev.target.closest(".push-wrap")) closePushMenu();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("push-menu").hidden) {
      closePushMenu();
      $("push-btn").focus();
    }
  });
  for (const btn of document.querySelectorAll("[data-filter]")) {
    btn.addEventListener("click", () => setFilter(btn.dataset.filter));
  }
  $("agent-filter-clear").addEventListener("click", () => setFilter(app.filter));
  $("search-more-btn").addEventListener("click", searchOlder);
  const search = $("search");
  const runSearch = debounce(() => {
    const q = search.value.trim().slice(0, 200);
    if (q === app.q) return;
    app.q = q;
    app.listIds = [];
    app.nextCursor = null;
    list.setItems([]);
    list.scrollToTop();
    loadList();
  }, 250);
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      search.value = "";
      runSearch();
    }
  });
  $("back-btn").addEventListener("click", closeConversation);
  $("act-info").addEventListener("click", () => {
    const view = $("app").dataset.view;
    $("app").dataset.view = view === "info" ? "conv" : "info";
    $("app").classList.toggle("ctx-open", $("app").dataset.view === "info");
  });
  $("ctx-close").addEventListener("click", () => {
    $("app").dataset.view = conv.id ? "conv" : "list";
    $("app").classList.remove("ctx-open");
  });
  $("analytics-btn").addEventListener("click", () => {
    showSection($("app").dataset.section === "analytics" ? "conversations" : "analytics", {focus: true});
  });
  $("analytics-back").addEventListener("click", () => showSection("conversations", {focus: true}));
  $("team-btn").addEventListener("click", () => {
    showSection("conversations");
    $("app").dataset.view = "info";
    $("app").classList.add("ctx-open");
  });
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());

  const attention = () => {
    if (document.visibilityState === "visible" && conv.id) {
      notifier.seen(conv.id);
      conv.markRead();
    }
  };
  document.addEventListener("visibilitychange", attention);
  window.addEventListener("focus", attention);
  // Relative times and waiting clocks move on.
  setInterval(() => {
    if (!app.signedIn) return;
    list.invalidate();
    if (conv.id) conv.renderWaiting();
  }, 30000);

  const token = tokenStore.get();
  if (!token) {
    showLogin("");
    return;
  }
  bootWithToken();
}

async function bootWithToken() {
  try {
    const res = await api("GET", "/auth/me", undefined, {auth: true});
    enterApp(res.agent, res.tenant, res.limits || null);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      tokenStore.clear();
      showLogin(err.code === "token_revoked" ? "Your sign-in was revoked. Please sign in again."
        : "Your sign-in has expired. Please sign in again.");
    } else if (err instanceof ApiError && err.status === 0) {
      setText($("boot"), "Cannot reach the server. Retrying…");
      setTimeout(bootWithToken, 3000);
    } else {
      showLogin(err.message);
    }
  }
}

init();
