// The dashboard's one mutable state. main.js makes it once and hands it to every controller, so
// whatever changes lives here, in one place that a sign-out can clear; modules keep only constants.
// The conversation and analytics views get the same object (their `app`): main.js adds the few
// callbacks they use to it.

import {t} from "./i18n.js";

/** The app-state object (one per page). */
export function createAppState() {
  return {
    // ---- the sign-in --------------------------------------------------------------------
    me: null,                 // the signed-in agent
    tenant: null,
    limits: null,             // GET /auth/me's limits (max upload size)
    limitsLoading: null,      // that call while it is under way (an upload right after sign-in waits for it)
    ai: null,                 // GET /ai/settings (agent assist), null when not available
    signedIn: false,
    passwordChange: null,     // POST /auth/password under way (its revocation of the old token is expected)
    liveSinceSignIn: false,   // the socket was live once since this sign-in (a later auth.ok is a reconnect)
    pendingSession: null,     // a conversation to open once signed in (/?session=…, a notification click)

    // ---- what the server told us ----------------------------------------------------------
    sessions: new Map(),      // id → session (merged from lists and events)
    versions: new Map(),      // id → change counter (list rows rebuild when it moves)
    agents: new Map(),        // id → agent (with open_sessions)
    agentsLoad: null,         // GET /agents under way (a promise that never rejects), else null
    presence: new Map(),      // agent id → online | away | offline
    visitorOnline: new Map(), // session id → bool
    typing: new Map(),        // session id → Map(key → {sender, name, agent_id, until})
    drafts: new Map(),        // session id → the reply being written
    noteModes: new Set(),     // session ids whose composer is in Note mode
    labels: [],               // GET /labels: the tenant's labels, sorted by name
    labelsByName: new Map(),  // lowercased name → label
    labelsAsked: new Set(),   // names a session had that we did not know (asked for once each)
    labelsTimer: null,
    routing: null,            // GET /routing (then chat.routing.updated): mode, queue, the team's loads
    routingFrames: 0,         // chat.routing.updated frames since sign-in (an older GET answer is dropped)
    routingAlerted: false,    // the queue's oldest is past the alert threshold and a toast said so
    canned: null,             // GET /canned-responses (null: not loaded)
    cannedLoad: null,         // that call while it is under way

    // ---- the conversation list ------------------------------------------------------------
    filter: "open",
    agentFilter: null,        // admin: an agent's conversations
    labelFilter: null,        // only conversations with this label (GET /chat/sessions?label=)
    q: "",
    listIds: [],
    nextCursor: null,
    searchedUntil: null,      // a search stopped at this activity time (older ones not searched yet)
    searchAutoCalls: 0,
    listLoading: false,
    listGen: 0,
    listError: "",
    firstListRendered: false,

    // ---- timers ---------------------------------------------------------------------------
    liveCountdown: null,      // the Live indicator's "retry in Ns" ticker
    expiryTimer: null,        // signs out when the token expires
    routingTicker: null,      // the queue's longest wait moves on (queue.js)

    // ---- the parts of the page (made once by main.js) -------------------------------------
    socket: null,             // LiveSocket
    list: null,               // VirtualList of the conversations
    conv: null,               // ConversationView
    notifier: null,           // Notifier
    analytics: null,          // AnalyticsView
    settings: null,           // SettingsView (settings/index.js)
    push: null,               // PushControl
  };
}

/** A session's row is out of date (its list row is rebuilt on the next frame). */
export function bump(app, id) {
  app.versions.set(id, (app.versions.get(id) || 0) + 1);
}

export function agentName(app, id) {
  const agent = app.agents.get(id);
  return agent ? agent.name : t("agent.unknown", {id});
}
