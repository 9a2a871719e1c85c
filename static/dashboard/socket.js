// The dashboard's WebSocket: /ws?tenant=<the agent's tenant> (the balancer sends a tenant's sockets to one
// worker; the token, in the first frame, decides), auth frame first, resume with the last seq seen per loaded
// session, reconnect with exponential backoff and full jitter, and a state for the Live indicator:
//   connecting | live | reconnecting (with the time of the next try) | offline
// Close codes: 4001/4010 = the token is invalid or revoked (back to sign-in); 1012 = server
// restarting and 4008 = too slow (both: reconnect soon and resume); 4003 = origin refused;
// 1013 = try again later (the server cannot reach its database: reconnect with backoff).

const BASE_DELAY_MS = 1000;
const MAX_DELAY_MS = 30000;
// A worker that died (1006) or restarts (1012) sends all its sockets back at once: their first try is spread
// over this window too, instead of coming back in the same millisecond.
const STORM_FIRST_DELAY_MS = 3000;
// A connection that stayed up this long starts the backoff afresh; one that keeps dropping backs off further.
const STABLE_AFTER_MS = 10000;
const OFFLINE_AFTER_ATTEMPTS = 5;
const PING_EVERY_MS = 20000;
const PONG_TIMEOUT_MS = 10000;

import {t} from "./i18n.js";

export class LiveSocket {
  /**
   * opts.getToken(): string; opts.getTenant(): the agent's tenant id; opts.getResume(): {sessionId: lastSeq};
   * opts.onFrame(type, data);
   * opts.onState(state, info); opts.onReady(authData, isReconnect); opts.onAuthFailed(message)
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.state = "offline";
    this.attempts = 0;
    this.everConnected = false;
    this.stopped = true;
    this.retryTimer = null;
    this.retryAt = 0;
    this.pingTimer = null;
    this.pongTimer = null;
    this.lastReason = "";
    this.liveSince = 0;
    this._onOnline = () => { if (!this.stopped && this.state !== "live") this.connectNow(); };
    this._onOffline = () => {
      if (this.stopped) return;
      // The socket may take a while to notice; drop it and wait for the network.
      if (this.ws) this._drop("browser offline");
      this._setState("offline", {reason: t("socket.no_network")});
    };
    // Back to a tab whose timers the browser slowed down: try now rather than at the throttled retry.
    this._onVisible = () => {
      if (document.visibilityState === "visible" && !this.stopped && this.state !== "live" && this.retryAt) {
        this.connectNow();
      }
    };
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    window.addEventListener("online", this._onOnline);
    window.addEventListener("offline", this._onOffline);
    document.addEventListener("visibilitychange", this._onVisible);
    this._connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this._onOnline);
    window.removeEventListener("offline", this._onOffline);
    document.removeEventListener("visibilitychange", this._onVisible);
    clearTimeout(this.retryTimer);
    this._stopHeartbeat();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try { ws.close(1000, "bye"); } catch (e) { /* already closed */ }
    }
    this._setState("offline", {reason: t("socket.signed_out")});
  }

  get live() {
    return this.state === "live" && this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Send a frame if the socket is live; false otherwise (the caller falls back or queues). */
  send(type, data) {
    if (!this.live) return false;
    try {
      this.ws.send(JSON.stringify({type, data}));
      return true;
    } catch (e) {
      return false;
    }
  }

  /** Skip the wait and try now (the indicator's "retry now"). */
  connectNow() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    if (this.ws && (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN)) return;
    this._connect();
  }

  /** Close the socket and reconnect (resuming): used after a missed heartbeat. */
  reconnect(reason) {
    if (this.ws) this._drop(reason || "reconnect");
  }

  _url() {
    const tenant = this.opts.getTenant ? this.opts.getTenant() : null;
    return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws"
      + (tenant ? "?tenant=" + encodeURIComponent(tenant) : "");
  }

  _connect() {
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    if (!this.everConnected && this.attempts === 0) {
      this._setState("connecting", {});
    } else {
      const offline = navigator.onLine === false || this.attempts > OFFLINE_AFTER_ATTEMPTS;
      this._setState(offline ? "offline" : "reconnecting", {connecting: true, reason: this.lastReason});
    }
    let ws;
    try {
      ws = new WebSocket(this._url());
    } catch (e) {
      this._scheduleRetry("cannot open a WebSocket");
      return;
    }
    this.ws = ws;
    let authed = false;
    ws.onopen = () => {
      const frame = {type: "auth", token: this.opts.getToken()};
      const resume = this.opts.getResume();
      if (resume && Object.keys(resume).length) frame.resume = resume;
      ws.send(JSON.stringify(frame));
    };
    ws.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (!frame || typeof frame.type !== "string") return;
      const data = frame.data || {};
      if (frame.type === "auth.ok") {
        authed = true;
        const isReconnect = this.everConnected;
        this.everConnected = true;
        this.liveSince = Date.now();
        this.lastReason = "";
        this._setState("live", {});
        this._startHeartbeat();
        this.opts.onReady(data, isReconnect);
        return;
      }
      if (frame.type === "pong") {
        clearTimeout(this.pongTimer);
        this.pongTimer = null;
        return;
      }
      this.opts.onFrame(frame.type, data);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this._settle();
      this._stopHeartbeat();
      if (this.stopped) return;
      if (ev.code === 4001 || ev.code === 4010) {
        this.stopped = true;
        this._setState("offline", {reason: ev.reason || t("socket.signed_out")});
        this.opts.onAuthFailed(ev.code === 4010 ? t("signin.revoked") : t("socket.expired"));
        return;
      }
      const reason = ev.code === 1012 ? t("socket.restarting") : ev.code === 4008 ? t("socket.too_slow")
        : ev.code === 1013 ? t("socket.unavailable") : ev.code === 4003 ? t("socket.origin") : authed ? t("socket.lost")
        : t("socket.unreachable");
      // A restart, a dead worker or a dropped link: the first try is spread over a few seconds.
      this._scheduleRetry(reason, ev.code === 1012 || ev.code === 1006);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  _drop(reason) {
    const ws = this.ws;
    if (!ws) return;
    this.ws = null;
    this._settle();
    this._stopHeartbeat();
    ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
    try { ws.close(4000, reason.slice(0, 60)); } catch (e) { /* ignore */ }
    if (!this.stopped) this._scheduleRetry(reason, true);
  }

  /** The socket is gone: after a connection that stayed up, the backoff starts afresh. */
  _settle() {
    if (this.liveSince && Date.now() - this.liveSince >= STABLE_AFTER_MS) this.attempts = 0;
    this.liveSince = 0;
  }

  /** Full jitter: random(0, min(cap, base * 2^attempt)), so a restarted server is not hit by every agent at once;
   *  `storm` (the worker died or restarts): the first try, too, is spread over STORM_FIRST_DELAY_MS. */
  _scheduleRetry(reason, storm = false) {
    this.lastReason = reason;
    const attempt = this.attempts++;
    const ceiling = storm && attempt === 0 ? STORM_FIRST_DELAY_MS
      : Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
    const delay = Math.round(Math.random() * ceiling);
    this.retryAt = Date.now() + delay;
    const offline = navigator.onLine === false || this.attempts > OFFLINE_AFTER_ATTEMPTS;
    this._setState(offline ? "offline" : "reconnecting", {retryAt: this.retryAt, reason});
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connect(), delay);
  }

  _startHeartbeat() {
    this._stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (!this.live || this.pongTimer) return;
      this.send("ping", {t: Date.now()});
      this.pongTimer = setTimeout(() => { this.pongTimer = null; this.reconnect(t("socket.no_answer")); },
                                  PONG_TIMEOUT_MS);
    }, PING_EVERY_MS);
  }

  _stopHeartbeat() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.pingTimer = this.pongTimer = null;
  }

  _setState(state, info) {
    this.state = state;
    this.opts.onState(state, info || {});
  }
}
