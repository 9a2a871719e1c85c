// The header's alert buttons: browser notifications (ask for the permission, or say it is on or
// blocked) and the sound on new conversations and messages.

import {$, clear, h, icon} from "./dom.js";
import {savePreferences} from "./preferences.js";

export function renderNotifyButtons(app) {
  const notifier = app.notifier;
  const btn = $("notify-btn");
  const perm = notifier.permission;
  btn.hidden = perm === "unsupported";
  btn.dataset.permission = perm;
  clear(btn).append(icon(perm === "denied" ? "bellOff" : "bell", 18),
                    h("span", {class: "btn-text", text: perm === "granted" ? "Alerts on" : perm === "denied"
                      ? "Alerts blocked" : "Enable alerts"}));
  btn.title = perm === "granted" ? "Browser notifications are on"
    : perm === "denied" ? "Notifications are blocked in this browser's site settings"
    : "Get a browser notification for new conversations and messages in yours";
  const sound = $("sound-btn");
  sound.setAttribute("aria-pressed", notifier.soundActive ? "true" : "false");
  clear(sound).append(icon(notifier.soundActive ? "volume" : "volumeOff", 18),
                      h("span", {class: "btn-text", text: notifier.soundActive ? "Sound on" : "Sound off"}));
  sound.title = notifier.soundActive ? "Sound on for new conversations and messages" : "Sound off";
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
