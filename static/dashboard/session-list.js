// The conversation list: sessions merged from pages and events into app.sessions, the filters and the
// search, paging (and "Search older"), and the rows the virtual list (list.js) draws.

import {api, query} from "./api.js";
import {$, customerLabel, debounce, fmtAgo, fmtDateTime, fmtDuration, h, icon, initials, ms, setText} from "./dom.js";
import {t} from "./i18n.js";
import {labelChips} from "./labels.js";
import {VirtualList} from "./list.js";
import {openConversation} from "./sections.js";
import {agentName, bump} from "./state.js";
import {typingFor} from "./typing.js";

const PAGE_SIZE = 50;
// A search call reads a bounded part of a big tenant's conversations; with fewer matches than a page
// the list asks for the next part by itself this many times, then offers "Search older".
const SEARCH_AUTO_CALLS = 5;
// Three lines (name · last message · assignee, labels, rating) at their full line height, plus padding.
const ROW_HEIGHT = 86;
const FILTER_KEY = "cc.dashboard.filter";

const FILTERS = {
  mine: {params: (me) => ({status: "active", assigned: "me"}),
         match: (s, me) => s.assigned_agent_id === me.id && s.status !== "resolved"},
  unassigned: {params: () => ({status: "open", assigned: "none"}),
               match: (s) => s.assigned_agent_id == null && s.status === "open"},
  open: {params: () => ({status: "active"}), match: (s) => s.status !== "resolved"},
  resolved: {params: () => ({status: "resolved"}), match: (s) => s.status === "resolved"},
  all: {params: () => ({}), match: () => true},
};

// ---- sessions --------------------------------------------------------------------------

function sortKey(s) {
  return ms(s.updated_at);
}

/** Newer first; ties by id descending (the server's order). */
function before(a, b) {
  const ka = sortKey(a), kb = sortKey(b);
  return ka !== kb ? ka > kb : a.id > b.id;
}

function matchesFilter(app, s, alreadyListed) {
  const me = app.me;
  if (app.agentFilter !== null) {
    if (s.assigned_agent_id !== app.agentFilter || s.status === "resolved") return false;
  } else if (!FILTERS[app.filter].match(s, me)) {
    return false;
  }
  if (app.labelFilter && !(s.labels || []).some((n) => n.toLowerCase() === app.labelFilter.toLowerCase())) return false;
  if (!app.q) return true;
  if (alreadyListed) return true; // it matched the server's search (maybe on an older message)
  const q = app.q.toLowerCase();
  return [s.customer_name, s.customer_email, s.last_message_preview].some((v) => (v || "").toLowerCase().includes(q));
}

/** A session as the server sent it, without the fields it left out: some events carry the session as the
 *  visitor may see it (no labels): those keep the labels we know. */
function known(incoming) {
  if (incoming.labels !== null && incoming.labels !== undefined) return incoming;
  const copy = Object.assign({}, incoming);
  delete copy.labels;
  return copy;
}

/** Merge a session from an event or a response; place it in (or out of) the list. */
export function upsertSession(app, given) {
  if (!given || !given.id) return null;
  const incoming = known(given);
  const old = app.sessions.get(incoming.id);
  if (old && sortKey(incoming) < sortKey(old)) return old; // an older copy than ours
  const merged = old ? Object.assign({}, old, incoming) : Object.assign({}, incoming);
  app.sessions.set(merged.id, merged);
  bump(app, merged.id);
  // When this copy came: a list page asked for before it must not undo it (a rating or labels leave
  // updated_at as it was, so the timestamp cannot tell the two copies apart).
  app.liveAt = app.liveAt || new Map();
  app.liveAt.set(merged.id, app.liveSeq = (app.liveSeq || 0) + 1);
  placeInList(app, merged);
  if (app.conv) app.conv.onSessionChanged(merged);
  return merged;
}

/** Merge without touching the list order (the page itself is in the server's order). `asked`: the
 * live count when the page was asked for; a session changed live since then keeps its newer copy. */
function upsertSessionQuiet(app, given, asked) {
  const incoming = known(given);
  const old = app.sessions.get(incoming.id);
  if (old && sortKey(incoming) < sortKey(old)) return old;
  if (old && app.liveAt && (app.liveAt.get(old.id) || 0) > asked) return old;
  const merged = old ? Object.assign({}, old, incoming) : Object.assign({}, incoming);
  app.sessions.set(merged.id, merged);
  bump(app, merged.id);
  if (app.conv) app.conv.onSessionChanged(merged);
  return merged;
}

/** Change a few fields in place (read marks): the order does not change. */
export function patchSession(app, id, fields) {
  const s = app.sessions.get(id);
  if (!s) return;
  Object.assign(s, fields);
  bump(app, id);
  app.list.schedule();
  if (app.conv) app.conv.onSessionChanged(s);
}

function placeInList(app, s) {
  const ids = app.listIds;
  const idx = ids.indexOf(s.id);
  const match = matchesFilter(app, s, idx >= 0);
  if (idx >= 0) ids.splice(idx, 1);
  if (match) {
    let pos = 0;
    while (pos < ids.length && !before(s, app.sessions.get(ids[pos]))) pos++;
    // Past the end of what is loaded: the next page brings it in its place.
    if (!(pos === ids.length && app.nextCursor)) ids.splice(pos, 0, s.id);
  }
  app.list.setItems(ids);
  updateListStatus(app);
}

// ---- the list view ---------------------------------------------------------------------

/** A touch screen: a tap opens a conversation without raising the on-screen keyboard. */
function coarsePointer() {
  return !!window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
}

function renderRow(app, id) {
  const s = app.sessions.get(id);
  const me = app.me;
  const selected = app.conv.id === id;
  const typing = typingFor(app, id).filter((t) => t.sender === "visitor");
  let preview;
  if (typing.length) {
    preview = h("span", {class: "row-typing", text: t("row.typing")});
  } else {
    const sender = s.last_message_sender;
    const prefix = ["agent", "ai", "note"].includes(sender) ? t("row.prefix." + sender) + " " : "";
    preview = [prefix ? h("span", {class: "row-prefix", text: prefix}) : null,
               s.last_message_preview || (s.last_seq ? "" : t("row.new_conversation"))];
  }
  const assignee = s.assigned_agent_id ? (s.assigned_agent_id === me.id ? t("row.you") : agentName(app, s.assigned_agent_id))
    : t("row.unassigned");
  const waiting = s.waiting_since && s.status !== "resolved" ? Date.now() - ms(s.waiting_since) : null;
  const online = app.visitorOnline.get(id);
  const rating = s.rating && s.rating.score ? s.rating : null;
  return h("div", {class: "row" + (selected ? " selected" : "") + (s.unread ? " has-unread" : ""),
                   role: "option", id: "conv-opt-" + id, "aria-selected": selected ? "true" : "false", dataset: {id},
                   on: {click: () => openConversation(app, id, {focusComposer: !coarsePointer()})}},
    h("div", {class: "avatar" + (online ? " online" : ""), "aria-hidden": "true", text: initials(customerLabel(s))}),
    h("div", {class: "row-main"},
      h("div", {class: "row-top"},
        h("span", {class: "row-name", text: customerLabel(s)}),
        h("time", {class: "row-time", datetime: s.updated_at, title: fmtDateTime(s.updated_at),
                   text: fmtAgo(s.updated_at)})),
      h("div", {class: "row-preview"}, preview),
      h("div", {class: "row-meta"},
        h("span", {class: "row-assignee" + (s.assigned_agent_id ? "" : " none"), text: assignee}),
        rating ? ratingChip(rating) : null,
        s.status === "resolved" ? h("span", {class: "chip resolved", text: t("row.resolved")}) : null,
        s.handoff && !s.assigned_agent_id && s.status !== "resolved"
          ? h("span", {class: "chip handoff", title: t("row.handoff_title"), text: t("conv.handoff")})
          : null,
        waiting !== null ? h("span", {class: "chip waiting" + (waiting > 15 * 60e3 ? " urgent" : waiting > 5 * 60e3
                                                                ? " warn" : ""),
                                      title: t("row.waiting_since", {time: fmtDateTime(s.waiting_since)}),
                                      }, icon("clock", 11), " " + fmtDuration(waiting)) : null,
        (s.labels || []).length ? h("span", {class: "row-labels"}, labelChips(app, s.labels, 2)) : null,
        s.unread ? h("span", {class: "unread", title: t("row.unread", {count: s.unread}),
                              "aria-label": t("row.unread", {count: s.unread}), text: String(s.unread)}) : null)));
}

/** "★ 4" (the visitor's rating; the comment on hover). */
export function ratingChip(rating, extraClass = "") {
  const label = rating.comment ? t("rating.label_comment", {score: rating.score, comment: rating.comment})
    : t("rating.label", {score: rating.score});
  return h("span", {class: "chip rating score-" + rating.score + (extraClass ? " " + extraClass : ""), title: label,
                    "aria-label": label}, h("span", {"aria-hidden": "true", text: "★ " + rating.score}));
}

/** The virtual list of conversations (made once, at boot). */
export function createSessionList(app) {
  return new VirtualList($("conv-list"), {
    rowHeight: ROW_HEIGHT,
    renderRow: (id) => renderRow(app, id),
    versionOf: (id) => (app.versions.get(id) || 0) + (app.conv.id === id ? "s" : ""),
    onNearEnd: () => { if (app.nextCursor && !app.listLoading) loadList(app, {more: true}); },
    onActivate: (id) => openConversation(app, id, {focusComposer: true}),
    rowId: (id) => "conv-opt-" + id,
    selectedId: () => app.conv.id,
  });
}

// ---- loading pages ---------------------------------------------------------------------

function filterParams(app) {
  const base = app.agentFilter !== null ? {status: "active", assigned: String(app.agentFilter)}
    : FILTERS[app.filter].params(app.me);
  return Object.assign({}, base, {q: app.q || null, label: app.labelFilter || null, limit: PAGE_SIZE});
}

export async function loadList(app, {more = false} = {}) {
  if (more && (!app.nextCursor || app.listLoading)) return;
  const gen = more ? app.listGen : ++app.listGen;
  let searchOn = false;
  if (!more) {
    app.searchedUntil = null;
    app.searchAutoCalls = 0;
  }
  app.listLoading = true;
  updateListStatus(app);
  const params = filterParams(app);
  if (more) params.cursor = app.nextCursor;
  const asked = app.liveSeq || 0;
  try {
    const res = await api("GET", "/chat/sessions" + query(params));
    if (gen !== app.listGen) return;
    app.listError = "";
    const ids = more ? app.listIds.slice() : [];
    const have = new Set(ids);
    for (const s of res.sessions) {
      const merged = upsertSessionQuiet(app, s, asked);
      if (!have.has(merged.id) && matchesFilter(app, merged, true)) {
        ids.push(merged.id);
        have.add(merged.id);
      }
    }
    app.listIds = ids;
    app.nextCursor = res.next_cursor;
    app.searchedUntil = app.q && res.next_cursor ? res.searched_until || null : null;
    searchOn = !!app.searchedUntil && ids.length < PAGE_SIZE && app.searchAutoCalls < SEARCH_AUTO_CALLS;
    app.list.setItems(ids);
    app.list.render();
    document.body.dataset.listLoads = String((Number(document.body.dataset.listLoads) || 0) + 1);
    if (!more && !app.firstListRendered) {
      app.firstListRendered = true;
      performance.mark("cc-list-rendered");
      document.body.dataset.listReady = "1";
      // The frame that shows it (rAF runs just before that frame is painted).
      requestAnimationFrame(() => performance.mark("cc-list-frame"));
    }
  } catch (err) {
    if (gen === app.listGen) app.listError = err.status === 401 ? "" : t("list.load_failed", {error: err.message});
  } finally {
    if (gen === app.listGen) {
      app.listLoading = false;
      updateListStatus(app);
      if (searchOn) {
        app.searchAutoCalls++;
        loadList(app, {more: true});
      }
    }
  }
}

/** "Search older": the next part of a search that stopped (counts as a new round of calls). */
function searchOlder(app) {
  app.searchAutoCalls = 0;
  loadList(app, {more: true});
}

function updateListStatus(app) {
  const n = app.listIds.length;
  let footer = "";
  if (app.listError) footer = app.listError;
  else if (app.listLoading) footer = app.searchedUntil ? t("list.searching_older") : t("list.loading");
  else if (app.searchedUntil) footer = "";  // #search-more says how far the search got
  else if (app.nextCursor) footer = t("list.scroll_more");
  else if (n) footer = t("list.end");
  app.list.setFooter(footer);
  renderEmpty(app, n);
  // A search that stopped before the oldest conversation: how far it got, and a way on.
  const more = $("search-more");
  more.hidden = !app.searchedUntil || app.listLoading || !!app.listError;
  if (app.searchedUntil) setText($("search-more-text"), t("list.searched_since", {time: fmtDateTime(app.searchedUntil)}));
  const count = $("list-count");
  setText(count, n ? String(n) + (app.nextCursor ? "+" : "") : "");
  // Screen readers hear how many conversations the list (or a search) has, once it has loaded.
  const status = app.listLoading ? "" : app.listError ? app.listError
    : app.q ? (n ? t("list.results", {count: n}) : t("list.no_results", {q: app.q})) : "";
  setText($("list-status"), status);
}

/** The embed snippet, as README.md's "Embedding the widget" writes it: a stub that queues init(), then the script,
 *  loaded async (it never holds up the page) and replaying the queue. The tenant id is the only option needed. */
export function embedSnippet(tenantId) {
  return "<script>\n"
    + "  window.CallCenterChat = window.CallCenterChat || {q: [], init: function (o) { this.q.push(o); }};\n"
    + "  CallCenterChat.init({tenantId: " + JSON.stringify(String(tenantId)).replace(/'/g, "\\'").replace(/^"|"$/g, "'") + "});\n"
    + "</script>\n"
    + "<script async src=\"" + location.origin + "/chat-widget.js\"></script>";
}

/** An empty list: a card in the middle of the pane. No conversations at all yet (the usual view, no search, no
 *  label): the snippet that puts the chat on the website; no search results: "No results for …" and Clear search. */
function renderEmpty(app, n) {
  const empty = $("list-empty");
  empty.hidden = n > 0 || app.listLoading || !!app.listError;
  if (empty.hidden) return;
  const broad = !app.q && !app.labelFilter && app.agentFilter === null && (app.filter === "open" || app.filter === "all");
  let title;
  let text;
  if (app.q) {
    title = t("list.no_results", {q: app.q});
    text = app.searchedUntil ? t("list.no_results_yet") : t("list.no_results_hint");
  } else if (app.labelFilter) {
    title = t("list.empty_label", {label: app.labelFilter});
    text = "";
  } else if (broad) {
    title = t("list.none_yet");
    text = t("list.none_yet_hint");
  } else {
    title = t("list.empty_filter");
    text = "";
  }
  setText($("list-empty-title"), title);
  setText($("list-empty-text"), text);
  $("list-empty-text").hidden = !text;
  $("list-empty-clear").hidden = !app.q;
  const showSnippet = broad && !!app.me;
  $("list-empty-snippet").hidden = !showSnippet;
  if (showSnippet) setText($("snippet-code"), embedSnippet(app.me.tenant_id));
}

function clearSearch(app) {
  const search = $("search");
  search.value = "";
  if (app.q) {
    app.q = "";
    reloadList(app);
  }
  search.focus();
}

// ---- filters and search ------------------------------------------------------------------

/** A filter (or, `agentId`, an admin's view of one agent's conversations): the list starts again. */
export function setFilter(app, name, {agentId = null} = {}) {
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
  if (agentId !== null) setText($("agent-filter-name"), agentName(app, agentId));
  reloadList(app);
}

/** The list from its first page again (a filter, the label filter or the search changed). */
export function reloadList(app) {
  app.listIds = [];
  app.nextCursor = null;
  app.list.setItems([]);
  app.list.scrollToTop();
  loadList(app);
}

/** At sign-in: the filter this tab used last (the list's first load). */
export function restoreFilter(app) {
  let saved = "open";
  try { saved = sessionStorage.getItem(FILTER_KEY) || "open"; } catch (e) { /* ignore */ }
  setFilter(app, FILTERS[saved] ? saved : "open");
}

/** The filter buttons, the agent chip, the search box and "Search older". */
export function bindListControls(app) {
  for (const btn of document.querySelectorAll("[data-filter]")) {
    btn.addEventListener("click", () => setFilter(app, btn.dataset.filter));
  }
  $("agent-filter-clear").addEventListener("click", () => setFilter(app, app.filter));
  $("search-more-btn").addEventListener("click", () => searchOlder(app));
  $("list-empty-clear").addEventListener("click", () => clearSearch(app));
  $("snippet-copy").addEventListener("click", async () => {
    const text = $("snippet-code").textContent;
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch (e) {
      // No clipboard permission: the snippet is selected for Ctrl+C.
      const range = document.createRange();
      range.selectNodeContents($("snippet-code"));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    setText($("snippet-copied"), ok ? t("copied") : t("list.copy_select"));
  });
  const search = $("search");
  const runSearch = debounce(() => {
    const q = search.value.trim().slice(0, 200);
    if (q === app.q) return;
    app.q = q;
    reloadList(app);
  }, 250);
  search.addEventListener("input", runSearch);
  search.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      search.value = "";
      runSearch();
    }
  });
}
