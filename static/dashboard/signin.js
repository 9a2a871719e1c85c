// Signing in and out: the sign-in form, a stored token at page load (GET /auth/me), entering the app
// (what a sign-in loads and starts), the token's expiry, and a sign-out that forgets everything.

import {api, ApiError, onUnauthorized, remembered, tokenStore} from "./api.js";
import {$, initials, setText} from "./dom.js";
import {renderNotifyButtons} from "./alert-buttons.js";
import {openPendingSession} from "./deep-link.js";
import {closePushMenu} from "./push-ui.js";
import {loadCanned} from "./canned.js";
import {loadLabels, renderLabelFilter} from "./labels.js";
import {closeTopMenu, renderMe, renderTopMenu} from "./top-menu.js";
import {SECTION_KEY, showSection} from "./sections.js";
import {restoreFilter} from "./session-list.js";
import {loadRouting, resetRouting} from "./queue.js";
import {loadAgents} from "./team.js";
import {loadAISettings} from "./tenant-settings.js";
import {applyPreferences} from "./preferences.js";
import {inviteTokenFromUrl, showInvite} from "./invite.js";
import {isHexColor, textOn} from "./colors.js";
import {t} from "./i18n.js";

const EXPIRED = () => t("signin.expired");
const REVOKED = () => t("signin.revoked");

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

async function submitLogin(app, ev) {
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
    setText(msg, t("signin.missing"));
    return;
  }
  const btn = $("login-submit");
  btn.disabled = true;
  setText(btn, t("signin.busy"));
  try {
    const res = await api("POST", "/auth/login", {email, password, tenant_id: tenant}, {auth: false});
    tokenStore.set(res.token, $("login-remember").checked);
    remembered.save(tenant, email);
    $("login-password").value = "";
    enterApp(app, res.agent, null, null);
  } catch (err) {
    msg.hidden = false;
    msg.className = "login-message error";
    setText(msg, err.status === 401 ? t("signin.wrong")
      : err.status === 429 ? t("signin.too_many", {error: err.message})
      : err.message);
    $("login-password").select();
  } finally {
    btn.disabled = false;
    setText(btn, t("signin.submit"));
  }
}

/** Signed in: show the app and load it. `tenant` and `limits` come with GET /auth/me (a stored token);
 *  after the sign-in form they are fetched here. */
function enterApp(app, agent, tenant, limits) {
  $("invite-view").hidden = true;
  app.me = agent;
  app.tenant = tenant;
  app.limits = limits;
  app.signedIn = true;
  app.liveSinceSignIn = false;
  app.firstListRendered = false;
  $("boot").hidden = true;
  $("login-view").hidden = true;
  $("app").hidden = false;
  $("app").dataset.view = "list";
  $("app").dataset.role = agent.role;
  let section = "conversations";
  try { section = sessionStorage.getItem(SECTION_KEY) || section; } catch (e) { /* ignore */ }
  showSection(app, section === "analytics" ? "analytics" : "conversations", {remember: false});
  paintMe(app);
  applyPreferences(app);
  setText($("tenant-name"), tenant ? tenant.name : agent.tenant_id);
  $("my-status").value = "online";
  app.presence.set(agent.id, "online");
  renderLabelFilter(app);
  renderTopMenu(app);
  restoreFilter(app);
  loadAgents(app);
  loadRouting(app);
  loadLabels(app);
  loadCanned(app);
  loadAISettings(app);
  app.socket.start();
  if (!tenant || !limits) {
    app.limitsLoading = api("GET", "/auth/me").then((res) => {
      if (app.me !== agent) return;
      app.tenant = res.tenant;
      app.limits = res.limits || null;
      if (res.agent) {
        Object.assign(agent, res.agent); // the preferences and avatar colour (the sign-in's answer may lack them)
        paintMe(app);
        applyPreferences(app);
      }
      setText($("tenant-name"), res.tenant.name);
    }).catch(() => {});
  }
  scheduleExpiry(app);
  renderNotifyButtons(app);
  app.push.start();
  // The focus lands on the conversation list (Down and Enter open one; its reply box then has the focus);
  // a conversation to open, the Analytics view or a Settings page take it over below.
  if ($("app").dataset.section === "analytics") $("analytics-title").focus();
  else $("conv-list").focus({preventScroll: true});
  openPendingSession(app);
  app.settings.restoreFromUrl();
}

/** The signed-in agent in the top bar: name and avatar (their colour when they chose one). */
export function paintMe(app) {
  const agent = app.me;
  if (!agent) return;
  setText($("me-name"), agent.name);
  const avatar = $("me-avatar");
  avatar.dataset.initials = initials(agent.name);  // drawn by CSS (not part of the avatar button's name)
  avatar.style.background = isHexColor(agent.avatar_color) ? agent.avatar_color : "";
  avatar.style.color = isHexColor(agent.avatar_color) ? textOn(agent.avatar_color) : "";
  renderMe(app);
}

/** A sign-in answer ({token, agent}: the sign-in form's, or an accepted invitation's): stored and entered. */
export function signInWith(app, res, {remember = false} = {}) {
  tokenStore.set(res.token, remember);
  enterApp(app, res.agent, null, null);
}

function scheduleExpiry(app) {
  clearTimeout(app.expiryTimer);
  const exp = tokenStore.expiresAt(tokenStore.get() || "");
  if (!exp) return;
  const wait = exp * 1000 - Date.now();
  if (wait <= 0) {
    signOut(app, EXPIRED());
    return;
  }
  // setTimeout holds at most ~24.8 days; a token lasts hours.
  app.expiryTimer = setTimeout(() => signOut(app, EXPIRED()), Math.min(wait, 2 ** 31 - 1));
}

/** `forgetDevice`: the agent signs out on purpose (or the sign-in was revoked): this device stops
 *  getting their push notifications. An expired sign-in keeps them (the agent did not ask). */
export function signOut(app, message, kind = "error", {forgetDevice = false} = {}) {
  if (!app.signedIn && !tokenStore.get()) {
    showLogin(message, kind);
    return;
  }
  app.signedIn = false;
  clearTimeout(app.expiryTimer);
  app.socket.stop();
  closePushMenu();
  closeTopMenu();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  if (forgetDevice) app.push.forget(tokenStore.get()); else app.push.reset();
  tokenStore.clear();
  app.conv.close();
  app.conv.dropAllPending();
  showSection(app, "conversations", {remember: false});
  app.analytics.reset();
  app.settings.reset();
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
  resetRouting(app);
  app.presence.clear();
  app.visitorOnline.clear();
  app.typing.clear();
  app.drafts.clear();
  app.noteModes.clear();
  app.labels = [];
  app.labelsByName = new Map();
  app.labelsAsked.clear();
  clearTimeout(app.labelsTimer);
  app.labelFilter = null;
  app.canned = null;
  app.cannedLoad = null;
  app.listIds = [];
  app.nextCursor = null;
  app.listGen++;
  app.list.setItems([]);
  app.notifier.reset();
  showLogin(message, kind);
}

/** A token was stored (a reload, "remember me"): is it still good? */
async function bootWithToken(app) {
  try {
    const res = await api("GET", "/auth/me", undefined, {auth: true});
    enterApp(app, res.agent, res.tenant, res.limits || null);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      tokenStore.clear();
      showLogin(err.code === "token_revoked" ? REVOKED() : EXPIRED());
    } else if (err instanceof ApiError && err.status === 0) {
      setText($("boot"), t("signin.unreachable"));
      setTimeout(() => bootWithToken(app), 3000);
    } else {
      showLogin(err.message);
    }
  }
}

/** The page's first screen: the app with a stored token, else the sign-in form. */
export function boot(app) {
  if (inviteTokenFromUrl()) {
    $("boot").hidden = true;
    showInvite(app);
    return;
  }
  if (!tokenStore.get()) {
    showLogin("");
    return;
  }
  bootWithToken(app);
}

/** The sign-in form, the sign-out button, and a 401 from any call (the token expired or was revoked). */
export function bindSignIn(app) {
  onUnauthorized((err) => {
    if (!app.signedIn) return;
    // The agent is changing their password (Settings → Profile): the old token is revoked a moment before
    // the new one arrives; a call caught in between is not a sign-out.
    if (app.passwordChange && err.code === "token_revoked") return;
    signOut(app, err.code === "token_revoked" ? REVOKED() : EXPIRED(), "error", {forgetDevice: err.code === "token_revoked"});
  });
  $("login-form").addEventListener("submit", (ev) => submitLogin(app, ev));
  $("logout-btn").addEventListener("click", () => signOut(app, t("signin.signed_out"), "info", {forgetDevice: true}));
}
