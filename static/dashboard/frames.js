// Live events: each socket frame goes to the list, the team, the open conversation and the alerts;
// after a reconnect everything is fetched again (what happened meanwhile is not all replayed).

import {$, customerLabel} from "./dom.js";
import {filesSummary} from "./attachments.js";
import {paintVisitorPresence} from "./customer.js";
import {conversationHidden, openConversation} from "./sections.js";
import {loadList, patchSession, upsertSession} from "./session-list.js";
import {wants} from "./preferences.js";
import {loadRouting, onRoutingFrame} from "./queue.js";
import {agentName, bump} from "./state.js";
import {agentSeen, loadAgents, renderTeam} from "./team.js";
import {t} from "./i18n.js";
import {toast} from "./toast.js";
import {onTyping} from "./typing.js";

/** The agent is looking at this conversation (so an alert for it is quiet and it is read). */
function attended(app, sessionId) {
  return app.conv.id === sessionId && document.visibilityState === "visible" && document.hasFocus()
    && !conversationHidden();
}

export function onFrame(app, type, data) {
  const {conv, notifier} = app;
  switch (type) {
    case "chat.message.new": {
      const msg = data.message;
      if (!msg) return;
      const session = data.session ? upsertSession(app, data.session) : app.sessions.get(msg.session_id);
      conv.onMessage(msg);
      if (!data.replayed && msg.sender_type === "visitor" && session && session.assigned_agent_id === app.me.id
          && wants(app, "assigned_messages")) {
        notifier.alert(msg.session_id, customerLabel(session), msg.body || filesSummary(msg.attachments),
                       {attended: attended(app, msg.session_id)});
      }
      if (conv.id === msg.session_id && attended(app, msg.session_id)) conv._markReadSoon();
      break;
    }
    case "chat.message.ack":
      conv.onAck(data);
      break;
    case "chat.session.started": {
      const s = upsertSession(app, data.session);
      if (s && wants(app, "new_conversations")) {
        notifier.alert(s.id, t("alert.new_title"), t("alert.new_body", {name: customerLabel(s)}), {attended: false});
      }
      break;
    }
    case "chat.session.assigned":
    case "chat.session.transferred": {
      const s = upsertSession(app, data.session);
      app.refreshAgentsSoon();
      const to = data.to_agent || data.agent;
      if (type === "chat.session.assigned" && s && to && to.id === app.me.id && data.by_agent_id
          && data.by_agent_id !== app.me.id) {
        toast(t("alert.given", {agent: agentName(app, data.by_agent_id), name: customerLabel(s)}));
        if (wants(app, "assigned_messages")) {
          notifier.alert(s.id, t("alert.assigned_title"), customerLabel(s), {attended: attended(app, s.id)});
        }
      }
      break;
    }
    case "chat.agent.joined":
    case "chat.session.resolved":
    case "chat.session.reopened":
    case "chat.session.updated":
      upsertSession(app, data.session);
      // Labels and ratings (chat.session.updated) change no agent's load.
      if (type !== "chat.agent.joined" && type !== "chat.session.updated") app.refreshAgentsSoon();
      break;
    case "chat.message.read": {
      const s = app.sessions.get(data.session_id);
      if (s) {
        if (data.reader === "visitor") {
          patchSession(app, s.id, {visitor_read_seq: Math.max(s.visitor_read_seq || 0, data.seq)});
        } else {
          patchSession(app, s.id, {agent_read_seq: Math.max(s.agent_read_seq || 0, data.seq),
                                   unread: typeof data.unread === "number" ? data.unread : s.unread});
        }
      }
      conv.onRead(data);
      break;
    }
    case "chat.typing":
      onTyping(app, data);
      break;
    case "chat.note.mention":
      onMention(app, data);
      break;
    case "chat.session.handoff": {
      const s = upsertSession(app, data.session);
      if (s && !s.assigned_agent_id && wants(app, "new_conversations")) {
        notifier.alert(s.id, t("conv.handoff"), t("alert.handoff_body", {name: customerLabel(s)}),
                       {attended: attended(app, s.id)});
      }
      break;
    }
    case "chat.agent.presence":
      app.presence.set(data.agent_id, data.status);
      agentSeen(app, data.agent_id);
      renderTeam(app);
      // An open Settings → Team page follows (an invited agent who just signed in shows as active).
      window.dispatchEvent(new CustomEvent("callcenter:presence", {detail: {agent_id: data.agent_id}}));
      break;
    case "chat.visitor.presence":
      app.visitorOnline.set(data.session_id, !!data.online);
      bump(app, data.session_id);
      app.list.schedule();
      if (conv.id === data.session_id) paintVisitorPresence(data.online);
      break;
    case "chat.routing.updated":
      onRoutingFrame(app, data);
      break;
    case "chat.resync":
      resync(app);
      break;
    case "webhook.disabled":
      onWebhookDisabled(app, data);
      break;
    case "error":
      if (!conv.onError(data)) toast(data.message || t("error.generic"), "error");
      break;
    default:
      break;
  }
}

/** A colleague named me in a private note: alerted like the other alerts (notification, title, sound, as
 *  the agent set them) and said in a toast that opens the conversation. */
function onMention(app, data) {
  const msg = data.message || null;
  const sessionId = data.session_id || (msg && msg.session_id);
  if (!sessionId) return;
  const s = data.session ? upsertSession(app, data.session) : app.sessions.get(sessionId);
  if (msg) app.conv.onMessage(msg);  // also sent as chat.message.new: shown once (by seq)
  if (data.replayed) return;
  const by = (msg && msg.sender_name) || agentName(app, data.by_agent_id);
  const who = s ? customerLabel(s) : t("alert.a_customer");
  toast(t("alert.mention_toast", {agent: by, name: who}), "info",
        app.conv.id === sessionId ? null : {label: t("alert.open"), onClick: () => openConversation(app, sessionId)});
  if (!wants(app, "mentions")) return;
  app.notifier.alert(sessionId, t("alert.mention_title", {agent: by}), (msg && msg.body) || t("alert.conversation_with", {name: who}),
                     {attended: attended(app, sessionId)});
}

/** (Admins) a webhook failing for 24 hours was switched off: said, with a way to its settings page (which,
 *  when open, reloads its list). */
function onWebhookDisabled(app, data) {
  const hook = data.webhook || {};
  const reason = hook.disabled_reason ? String(hook.disabled_reason) : "";
  toast(reason && !/^failing/.test(reason) ? t("webhook.off_reason", {url: hook.url || "", reason})
    : t("webhook.off", {url: hook.url || "", reason: reason || t("webhook.failing_default")}), "error",
        {label: t("webhook.label"), onClick: () => {
          if (app.settings) app.settings.open("webhooks");
          else location.assign("/?settings=webhooks");
        }});
  window.dispatchEvent(new CustomEvent("callcenter:webhook-disabled", {detail: {webhook: hook}}));
}

/** Everything may have changed while we were away: refetch the list, agents and the open chat. */
function resync(app) {
  loadList(app);
  loadAgents(app);
  loadRouting(app);
  app.conv.refresh();
}

/** auth.ok: the socket is live (again). */
export function onSocketReady(app, data, isReconnect) {
  if (data.presence) {
    app.presence = new Map(Object.entries(data.presence).map(([k, v]) => [Number(k), v]));
    renderTeam(app);
  }
  const status = $("my-status").value;
  if (status !== "online") app.socket.send("presence.set", {status});
  app.conv.retryPending();
  // The socket object outlives a sign-in: its first auth.ok after a sign-in is no reconnect (the
  // sign-in itself just loaded the list and the team).
  const missed = isReconnect && app.liveSinceSignIn;
  app.liveSinceSignIn = true;
  if (missed) resync(app);
}
