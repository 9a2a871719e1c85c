// The notifications panel's switches (the bell in the top bar: top-menu.js): browser notifications (ask for
// the permission, or say they are on or blocked) and the sound on new conversations and messages. Each is a
// button with aria-pressed (its state) and a visible "On" / "Off"; push on this device is push-ui.js's.

import {$, clear, h, icon} from "./dom.js";
import {t} from "./i18n.js";
import {savePreferences} from "./preferences.js";

function stateText(on) {
  return h("span", {class: "toggle-state", "aria-hidden": "true", text: t(on ? "notify.on" : "notify.off")});
}

export function renderNotifyButtons(app) {
  const notifier = app.notifier;
  const btn = $("notify-btn");
  const perm = notifier.permission;
  btn.hidden = perm === "unsupported";
  btn.dataset.permission = perm;
  // Asking is an action (a button); once granted or blocked the switch shows its state: only the browser's site
  // settings change it (aria-disabled keeps it focusable, so the reason can be read).
  const hint = perm === "granted" ? t("notify.alerts_on_hint") : perm === "denied" ? t("notify.alerts_blocked_hint")
    : t("notify.alerts_enable_hint");
  clear(btn).append(icon(perm === "denied" ? "bellOff" : "bell", 18),
                    h("span", {class: "toggle-text"},
                      perm === "default" ? t("notify.alerts_enable") : t("notify.alerts"),
                      h("span", {class: "toggle-hint", text: hint})));
  if (perm !== "default") btn.append(stateText(perm === "granted"));
  if (perm === "default") btn.removeAttribute("aria-pressed");
  else btn.setAttribute("aria-pressed", perm === "granted" ? "true" : "false");
  if (perm === "default") btn.removeAttribute("aria-disabled"); else btn.setAttribute("aria-disabled", "true");
  btn.removeAttribute("title");
  const sound = $("sound-btn");
  const on = notifier.soundActive;
  sound.setAttribute("aria-pressed", on ? "true" : "false");
  clear(sound).append(icon(on ? "volume" : "volumeOff", 18),
                      h("span", {class: "toggle-text"}, t("notify.sound"),
                        h("span", {class: "toggle-hint", text: t("notify.sound_hint")})),
                      stateText(on));
  sound.removeAttribute("title");
  // The bell: a dot when alerts are not reaching the agent (never asked, or blocked).
  $("alerts-btn").dataset.permission = perm;
}

export function bindAlertButtons(app) {
  $("notify-btn").addEventListener("click", () => {
    if (app.notifier.permission === "default") app.notifier.requestPermission();
  });
  $("sound-btn").addEventListener("click", () => {
    const on = app.notifier.toggleSound();
    // Sound on here while the agent's preference (Settings → Profile) had it off: the preference is on again.
    const prefs = app.me && app.me.preferences;
    if (on && prefs && prefs.sound === false) savePreferences(app, {sound: true}).catch(() => {});
  });
}
