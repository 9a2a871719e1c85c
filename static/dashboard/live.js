// The Live indicator in the header: the socket's state (live, connecting, reconnecting or offline,
// with a countdown to the next try); a click tries now.

import {$, setText} from "./dom.js";

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
    if (state === "live") text = "Live";
    else if (state === "connecting") text = "Connecting…";
    else {
      const secs = info.retryAt ? Math.max(0, Math.ceil((info.retryAt - Date.now()) / 1000)) : 0;
      const base = state === "offline" ? "Offline" : "Reconnecting";
      text = info.connecting || !info.retryAt || secs === 0 ? base + "…" : base + " · retry in " + secs + "s";
    }
    setText(label, text);
  };
  paint();
  if (info.retryAt) app.liveCountdown = setInterval(paint, 250);
  el.setAttribute("aria-label", "Connection: " + label.textContent + (info.reason ? " (" + info.reason + ")" : ""));
}

export function bindLive(app) {
  $("live").addEventListener("click", () => app.socket.connectNow());
}
