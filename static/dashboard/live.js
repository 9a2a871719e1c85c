// The Live indicator in the header: the socket's state (live, connecting, reconnecting or offline,
// with a countdown to the next try); a click tries now.

import {$, setText} from "./dom.js";
import {t} from "./i18n.js";

export function renderLive(app, state, info) {
  const el = $("live");
  clearInterval(app.liveCountdown);
  app.liveCountdown = null;
  el.dataset.state = state;
  el.className = "live " + state;
  el.title = info.reason || "";
  const label = $("live-label");
  const paint = () => {
    let text;
    if (state === "live") text = t("live.live");
    else if (state === "connecting") text = t("live.connecting");
    else {
      const secs = info.retryAt ? Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000)) : 0;
      const base = state === "offline" ? t("live.offline") : t("live.reconnecting");
      text = info.connecting || !info.retryAt || secs === 0 ? base + "…" : t("live.retry_in", {state: base, secs});
    }
    setText(label, text);
  };
  paint();
  if (info.retryAt) app.liveCountdown = setInterval(paint, 250);
  el.setAttribute("aria-label", t("live.label", {state: label.textContent}) + (info.reason ? " (" + info.reason + ")" : ""));
  // The connection state for screen readers (a status region), said once per change (not every countdown tick).
  const said = state === "live" ? t("live.said_live") : state === "connecting" ? "" : state === "offline"
    ? t("live.said_offline") : t("live.said_reconnecting");
  if (app.liveSaid !== state) {
    app.liveSaid = state;
    setText($("live-status"), said);
  }
}

export function bindLive(app) {
  $("live").addEventListener("click", () => app.socket.connectNow());
}
