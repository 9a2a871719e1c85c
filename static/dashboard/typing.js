// Who is typing where: chat.typing frames kept per session until they expire (a "stopped" frame can
// be lost), shown in the list row and under the open conversation.

import {bump} from "./state.js";

// A visitor, the AI, or one agent: each types on its own.
function typingKey(sender, agentId) {
  return sender === "visitor" || sender === "ai" ? sender : "agent:" + agentId;
}

/** Who is typing in a session now (expired entries are dropped on the way). */
export function typingFor(app, sessionId) {
  const entries = app.typing.get(sessionId);
  if (!entries) return [];
  const now = Date.now();
  const out = [];
  for (const [key, t] of entries) {
    if (t.until > now) out.push(t); else entries.delete(key);
  }
  return out;
}

/** Their message came: they are no longer typing it. */
export function clearTyping(app, sessionId, sender, agentId) {
  const entries = app.typing.get(sessionId);
  if (!entries) return;
  if (entries.delete(typingKey(sender, agentId))) typingChanged(app, sessionId);
}

function typingChanged(app, sessionId) {
  bump(app, sessionId);
  app.list.schedule();
  if (app.conv.id === sessionId) app.conv.renderTyping();
}

/** A chat.typing frame. */
export function onTyping(app, data) {
  if (data.sender === "agent" && data.agent_id === app.me.id) return;
  const key = typingKey(data.sender, data.agent_id);
  let entries = app.typing.get(data.session_id);
  if (!entries) app.typing.set(data.session_id, entries = new Map());
  if (data.is_typing) {
    const ttl = Math.min(Math.max(data.expires_in_ms || 6000, 1000), 30000);
    entries.set(key, {sender: data.sender, name: data.name, agent_id: data.agent_id, until: Date.now() + ttl});
    // Redrawn when it runs out (typingFor drops it then).
    setTimeout(() => typingChanged(app, data.session_id), ttl + 50);
  } else {
    entries.delete(key);
  }
  typingChanged(app, data.session_id);
}
