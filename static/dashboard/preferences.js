// The signed-in agent's notification preferences (GET /auth/me's agent.preferences, saved with
// PATCH /agents/:id {preferences}): `sound`, `new_conversations`, `assigned_messages`, `mentions`.
// The alerts (frames.js) ask wants() before they alert; `sound` off silences every device (on, each device's
// sound button decides; turning that on turns the preference on again). A preference not sent counts as on.

import {api} from "./api.js";

export const PREFERENCE_KEYS = ["sound", "new_conversations", "assigned_messages", "mentions"];

/** Does the agent want alerts of this kind ("new_conversations", "assigned_messages", "mentions")? */
export function wants(app, kind) {
  const prefs = app.me && app.me.preferences;
  return !prefs || prefs[kind] !== false;
}

/** The preferences in effect on this page (after sign-in, after they were saved). */
export function applyPreferences(app) {
  const prefs = app.me && app.me.preferences;
  if (app.notifier) app.notifier.setSoundAllowed(!prefs || prefs.sound !== false);
}

/** Save some preferences; the agent's row as the server answered it. Throws ApiError. */
export async function savePreferences(app, patch) {
  const me = app.me;
  const res = await api("PATCH", "/agents/" + me.id, {preferences: patch});
  const saved = res && res.agent && res.agent.preferences;
  if (app.me === me) {
    me.preferences = Object.assign({}, me.preferences || {}, saved || patch);
    applyPreferences(app);
  }
  return res && res.agent;
}
