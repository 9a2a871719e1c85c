// The team panel: the tenant's agents (GET /agents) with their presence and load (with automatic routing,
// against their capacity, "3 / 5", from the routing document: queue.js), and this agent's own status. An
// admin clicks an agent to see their conversations.

import {api} from "./api.js";
import {$, clear, h, setText} from "./dom.js";
import {t} from "./i18n.js";
import {loadChip, loadOf} from "./queue.js";
import {showSection} from "./sections.js";
import {setFilter} from "./session-list.js";
import {agentName} from "./state.js";

export function renderTeam(app) {
  const box = clear($("team-list"));
  const me = app.me;
  if (!me) return;
  const isAdmin = me.role === "admin";
  // Invited agents (not signed up yet) and deactivated ones are not on the team panel.
  const agents = [...app.agents.values()].filter((a) => (a.status ? a.status === "active" : a.active !== false));
  const rank = {online: 0, away: 1, offline: 2};
  agents.sort((a, b) => (rank[app.presence.get(a.id) || "offline"] - rank[app.presence.get(b.id) || "offline"])
    || a.name.localeCompare(b.name));
  let online = 0;
  for (const a of agents) {
    const status = app.presence.get(a.id) || "offline";
    if (status === "online") online++;
    // Automatic routing: everyone's load against their capacity (who has room matters to the whole team);
    // manual: the open count, an admin's and one's own, as before.
    const auto = !!app.routing && app.routing.mode === "auto";
    const showLoad = auto || isAdmin || a.id === me.id;
    const label = h("span", {class: "team-name"}, a.id === me.id ? t("agent.you", {name: a.name}) : a.name);
    const routed = auto ? loadOf(app, a.id) : null;
    const load = routed ? loadChip(routed)
      : showLoad && typeof a.open_sessions === "number"
        ? h("span", {class: "load", title: t("team.load.title"), text: t("team.load", {count: a.open_sessions})}) : null;
    const word = t("presence." + status);
    const inner = [h("span", {class: "dot " + status, title: word}, h("span", {class: "sr-only", text: word})), label,
                   h("span", {class: "team-status", text: status === "online" ? "" : word}), load];
    const item = isAdmin
      ? h("button", {type: "button", class: "team-item", dataset: {agentId: a.id},
                     title: t("team.show", {name: a.name}), on: {click: () => {
                       setFilter(app, app.filter, {agentId: a.id});
                       showSection(app, "conversations");
                       $("app").dataset.view = "list";
                     }}}, inner)
      : h("div", {class: "team-item", dataset: {agentId: a.id}}, inner);
    box.appendChild(h("li", null, item));
  }
  setText($("team-count"), t("team.online", {count: online}));
}

/** GET /agents. While it is under way app.agentsLoad is set, so a presence frame for an agent we do
 *  not know yet waits for it instead of asking again (see agentSeen). */
export function loadAgents(app) {
  const load = fetchAgents(app).finally(() => {
    if (app.agentsLoad === load) app.agentsLoad = null;
  });
  app.agentsLoad = load;
  return load;
}

async function fetchAgents(app) {
  try {
    const res = await api("GET", "/agents");
    app.agents = new Map(res.agents.map((a) => [a.id, a]));
    renderTeam(app);
    app.list.invalidate();
    if (app.conv.id) app.conv.renderHeader();
    if (app.agentFilter !== null) setText($("agent-filter-name"), agentName(app, app.agentFilter));
  } catch (err) { /* retried on the next change */ }
}

/** A presence frame named this agent. One we do not know (new since the team was loaded) brings the
 *  team again; but at sign-in our own presence (and others') often comes before the first GET /agents
 *  answers: that answer is waited for, and only an agent it still lacks asks again (issue 27: the team
 *  was fetched twice at sign-in). */
export function agentSeen(app, id) {
  if (app.agents.has(id)) return;
  if (!app.agentsLoad) {
    app.refreshAgentsSoon();
    return;
  }
  const me = app.me;
  app.agentsLoad.then(() => {
    if (app.me === me && app.signedIn && !app.agents.has(id)) app.refreshAgentsSoon();
  });
}

/** This agent's own status (online / away / …): shown at once, told to the others over the socket. */
export function bindMyStatus(app) {
  $("my-status").addEventListener("change", (ev) => {
    const status = ev.target.value;
    app.presence.set(app.me.id, status);
    renderTeam(app);
    app.socket.send("presence.set", {status});
  });
}
