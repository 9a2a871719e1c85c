// What this tenant allows the agent: the largest upload (GET /auth/me's limits) and agent assist
// (GET /ai/settings).

import {api} from "./api.js";
import {DEFAULT_MAX_UPLOAD_BYTES} from "./attachments.js";

/** The largest file an upload may be (GET /auth/me's limits; waits for it right after sign-in). */
export async function maxUploadBytes(app) {
  if (!app.limits && app.limitsLoading) await app.limitsLoading;
  return (app.limits && app.limits.max_upload_bytes) || DEFAULT_MAX_UPLOAD_BYTES;
}

/** Whether agent assist (Suggest reply) is on for this tenant: AI available here and not off. */
export function aiAssist(app) {
  return !!(app.ai && app.ai.available && app.ai.settings.ai_mode !== "off");
}

export async function loadAISettings(app) {
  try {
    app.ai = await api("GET", "/ai/settings");
  } catch (err) {
    app.ai = null;
  }
  if (app.conv.id) app.conv.renderHeader();
}
