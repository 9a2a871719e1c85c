// Web Push: OS notifications on this device for the signed-in agent while no dashboard is open.
// This browser's push subscription (made with the server's VAPID key, stored on the server),
// the service worker /sw.js that shows the pushes, and the messages that worker sends to open
// dashboards ("cc-push": a push came while a dashboard is on screen; "cc-open-session": a
// notification was clicked). The header control is drawn by push-ui.js from its `state`.

import {pushApi} from "./api.js";
import {t} from "./i18n.js";

const SW_URL = "/sw.js";
const READY_TIMEOUT_MS = 15000;
// A browser that cannot reach its push service (FCM for Chrome, Mozilla's for Firefox, Apple's)
// may leave subscribe() pending for minutes: past this the control says so.
const SUBSCRIBE_TIMEOUT_MS = 30000;

/** The control's states: hidden (signed out, or push not set up on the server), unsupported,
 *  off, working (in progress: `progress` says what), on, blocked (permission denied), error. */
export const PUSH_STATES = ["hidden", "unsupported", "off", "working", "on", "blocked", "error"];

class PushError extends Error {}

function isAppleMobile() {
  return /iPhone|iPad|iPod/.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
}

function isStandalone() {
  return (window.matchMedia && window.matchMedia("(display-mode: standalone)").matches) || navigator.standalone === true;
}

/** {ok} or {ok: false, reason}: whether this browser can get Web Push here. */
export function pushSupport() {
  if (!window.isSecureContext) {
    return {ok: false, reason: t("push.need_https")};
  }
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
    if (isAppleMobile() && !isStandalone()) {
      return {ok: false, reason: t("push.ios_home_screen")};
    }
    return {ok: false, reason: t("push.unsupported")};
  }
  return {ok: true, reason: ""};
}

/** base64url (no padding) → bytes. */
export function b64urlToBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - text.length % 4) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** Whether a subscription was made with this key (unknown in an older browser: taken as yes). */
function sameKey(subscription, keyB64) {
  const have = subscription.options && subscription.options.applicationServerKey;
  if (!have) return true;
  const a = new Uint8Array(have);
  const b = b64urlToBytes(keyB64);
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function withTimeout(promise, millis, message) {
  let timer;
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new PushError(message)), millis);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A failure as a sentence for the agent (the browser's own words in brackets). */
export function describePushError(err) {
  if (err instanceof PushError) return err.message;
  if (err && typeof err.status === "number") { // ApiError
    if (err.status === 0) return t("push.err.offline");
    return t("push.err.refused", {error: err.message});
  }
  const name = (err && err.name) || "Error";
  const detail = (err && err.message) || name;
  if (/push service|retrieving push subscription|gcm|fcm/i.test(detail)) {
    return t("push.err.service", {detail});
  }
  if (name === "AbortError" && /permission denied/i.test(detail)) {
    return t("push.err.refused_subscription", {detail});
  }
  if (name === "NotAllowedError") {
    return t("push.err.not_allowed", {detail});
  }
  if (name === "SecurityError" || name === "TypeError" || name === "InvalidStateError" || /service ?worker/i.test(detail)) {
    return t("push.err.worker", {detail});
  }
  return t("push.err.other", {detail});
}

export class PushControl {
  /**
   * onChange(): the state changed (redraw). toast(text, kind). onPush(payload) → true when the
   * open dashboard took a push (else the worker shows the notification). onOpenSession(id|null):
   * a notification was clicked and the worker focused this window.
   */
  constructor({onChange, toast, onPush, onOpenSession}) {
    this.onChange = onChange || (() => {});
    this.toast = toast || (() => {});
    this.onPush = onPush || (() => false);
    this.onOpenSession = onOpenSession || (() => {});
    this.support = pushSupport();
    this.state = "hidden";
    this.message = "";   // why: unsupported / blocked / error
    this.progress = "";  // what is happening while working
    this.config = null;
    this.endpoint = null; // this browser's endpoint as stored for the agent
    this.gen = 0;         // bumped at sign-in and sign-out: work for an earlier sign-in is dropped
    this.forgetting = null;
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.addEventListener("message", (ev) => this._onWorkerMessage(ev));
      try { navigator.serviceWorker.startMessages(); } catch (e) { /* started with the page anyway */ }
    }
  }

  _set(state, message = "", progress = "") {
    this.state = state;
    this.message = message;
    this.progress = progress;
    this.onChange();
  }

  /** After sign-in: the server's key; if this browser has a subscription, keep the server in step
   *  with it (stored again, or made again when the server's key changed). */
  async start() {
    const gen = ++this.gen;
    this.endpoint = null;
    this._set("hidden");
    if (this.forgetting) await this.forgetting;
    let config;
    try {
      config = await pushApi.config();
    } catch (err) {
      return; // not on this server (or signed out meanwhile): no control
    }
    if (gen !== this.gen) return;
    if (!config || !config.enabled || !config.vapid_public_key) return;
    this.config = config;
    if (!this.support.ok) {
      this._set("unsupported", this.support.reason);
      return;
    }
    if (Notification.permission === "denied") {
      this._set("blocked", blockedText());
      return;
    }
    this._set("off");
    try {
      // Registered on every load (cheap; an updated /sw.js is picked up), so clicks on
      // notifications find it even before push is turned on.
      const registration = await navigator.serviceWorker.register(SW_URL, {scope: "/"});
      const subscription = await registration.pushManager.getSubscription();
      if (gen !== this.gen || !subscription) return;
      if (Notification.permission !== "granted") { // the permission was reset: it cannot show pushes
        await pushApi.remove(subscription.endpoint).catch(() => {});
        await subscription.unsubscribe().catch(() => {});
        return;
      }
      if (sameKey(subscription, config.vapid_public_key)) {
        await pushApi.save(subscription.toJSON());
        if (gen !== this.gen) return;
        this.endpoint = subscription.endpoint;
        this._set("on");
        return;
      }
      // The server's key changed: the old subscription cannot carry its pushes.
      this._set("working", "", t("push.progress.renewing"));
      await subscription.unsubscribe().catch(() => {});
      await this._subscribeAndSave(registration, gen);
      if (gen === this.gen) this._set("on");
    } catch (err) {
      if (gen !== this.gen || (err && err.status === 401)) return;
      // The server refused the stored subscription, or renewing it failed: said. (Registering the
      // worker failing while push is off is said when the agent turns it on.)
      if (this.state === "working" || (err && typeof err.status === "number")) {
        this._set("error", describePushError(err));
      }
    }
  }

  /** Turn push on for this device (from a click: the permission prompt needs it). */
  async enable() {
    if (this.state === "working" || !this.config || !this.support.ok) return;
    const gen = this.gen;
    this._set("working", "", t("push.progress.asking"));
    try {
      let permission = Notification.permission;
      if (permission !== "granted") permission = await Notification.requestPermission();
      if (gen !== this.gen) return;
      if (permission === "denied") {
        this._set("blocked", blockedText());
        return;
      }
      if (permission !== "granted") {
        this._set("off");
        this.toast(t("push.toast.not_allowed"));
        return;
      }
      this._set("working", "", t("push.progress.installing"));
      await navigator.serviceWorker.register(SW_URL, {scope: "/"});
      const registration = await withTimeout(navigator.serviceWorker.ready, READY_TIMEOUT_MS,
                                             t("push.err.worker_timeout"));
      if (gen !== this.gen) return;
      let subscription = await registration.pushManager.getSubscription();
      if (subscription && !sameKey(subscription, this.config.vapid_public_key)) {
        await subscription.unsubscribe().catch(() => {});
        subscription = null;
      }
      if (subscription) await this._save(subscription, gen);
      else await this._subscribeAndSave(registration, gen);
      if (gen !== this.gen) return;
      this._set("on");
      this.toast(t("push.toast.on"));
    } catch (err) {
      if (gen !== this.gen || (err && err.status === 401)) return;
      if (typeof Notification !== "undefined" && Notification.permission === "denied") {
        this._set("blocked", blockedText());
        return;
      }
      const message = describePushError(err);
      this._set("error", message);
      this.toast(message, "error");
    }
  }

  async _subscribeAndSave(registration, gen) {
    this._set("working", "", t("push.progress.subscribing"));
    const subscription = await withTimeout(
      registration.pushManager.subscribe({userVisibleOnly: true,
                                          applicationServerKey: b64urlToBytes(this.config.vapid_public_key)}),
      SUBSCRIBE_TIMEOUT_MS,
      t("push.err.subscribe_timeout"));
    if (gen !== this.gen) return;
    await this._save(subscription, gen);
  }

  async _save(subscription, gen) {
    this._set("working", "", t("saving"));
    try {
      await pushApi.save(subscription.toJSON());
    } catch (err) {
      // Refused for good (a push service the server does not allow, …): not kept here either.
      if (err.status >= 400 && err.status < 500 && err.status !== 401 && err.status !== 429) {
        await subscription.unsubscribe().catch(() => {});
      }
      throw err;
    }
    if (gen === this.gen) this.endpoint = subscription.endpoint;
  }

  /** Turn push off for this device: the server forgets it and the browser drops the subscription. */
  async disable() {
    if (this.state === "working") return;
    const gen = this.gen;
    this._set("working", "", t("push.progress.turning_off"));
    let subscription = null;
    try {
      const registration = await navigator.serviceWorker.getRegistration("/");
      subscription = registration ? await registration.pushManager.getSubscription() : null;
    } catch (e) { subscription = null; }
    const endpoint = subscription ? subscription.endpoint : this.endpoint;
    let serverForgot = true;
    if (endpoint) {
      try { await pushApi.remove(endpoint); } catch (err) { serverForgot = false; }
    }
    if (subscription) await subscription.unsubscribe().catch(() => {});
    if (gen !== this.gen) return;
    this.endpoint = null;
    this._set("off");
    this.toast(serverForgot ? t("push.toast.off") : t("push.toast.off_local"));
  }

  /** Ask the server to push a test notification to each of the agent's devices. */
  async sendTest() {
    try {
      const res = await pushApi.test();
      const parts = [t("push.test.sent", {count: res.sent})];
      if (res.failed) parts.push(t("push.test.failed", {count: res.failed}));
      if (res.removed) parts.push(t("push.test.removed", {count: res.removed}));
      this.toast(parts.join(", ") + ".", res.sent ? "info" : "error");
    } catch (err) {
      if (err.status === 401) return;
      this.toast(err.status === 409 ? t("push.test.no_device") : t("push.test.error", {error: err.message}), "error");
    }
  }

  /** Your devices with push on ({subscriptions: [...]}), or null when that could not be read. */
  async devices() {
    try {
      return (await pushApi.devices()).subscriptions;
    } catch (err) {
      return null;
    }
  }

  /** Signing out on purpose (or revoked): forget this device, with the token that is still valid,
   *  without holding up the sign-out. Returns at once. */
  forget(token) {
    const endpoint = this.endpoint;
    this.reset();
    if (!this.support.ok) return;
    this.forgetting = (async () => {
      const registration = await navigator.serviceWorker.getRegistration("/");
      const subscription = registration ? await registration.pushManager.getSubscription() : null;
      const ep = subscription ? subscription.endpoint : endpoint;
      if (ep && token) await pushApi.remove(ep, {token}).catch(() => {});
      if (subscription) await subscription.unsubscribe().catch(() => {});
    })().catch(() => {}).finally(() => { this.forgetting = null; });
  }

  /** Signed out (the subscription stays: an expired sign-in does not turn the agent's alerts off). */
  reset() {
    this.gen++;
    this.endpoint = null;
    this.config = null;
    this._set("hidden");
  }

  _onWorkerMessage(ev) {
    const data = ev.data;
    if (!data || typeof data !== "object") return;
    if (data.type === "cc-push") {
      let handled = false;
      try {
        handled = !!this.onPush(data.payload && typeof data.payload === "object" ? data.payload : {});
      } catch (e) {
        handled = false;
      }
      if (ev.ports && ev.ports[0]) ev.ports[0].postMessage({handled});
    } else if (data.type === "cc-open-session") {
      const id = typeof data.session_id === "string" && /^[A-Za-z0-9_-]{1,100}$/.test(data.session_id)
        ? data.session_id : null;
      this.onOpenSession(id);
    }
  }
}

function blockedText() {
  return t("push.blocked");
}
