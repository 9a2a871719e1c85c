// The header's alert buttons: browser notifications (ask for the permission, or say it is on or
// blocked) and the sound on new conversations and messages.

import {$, clear, h, icon} from "./dom.js";

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
  sound.setAttribute("aria-pressed", notifier.soundOn ? "true" : "false");
  clear(sound).append(icon(notifier.soundOn ? "volume" : "volumeOff", 18),
                      h("span", {class: "btn-text", text: notifier.soundOn ? "Sound on" : "Sound off"}));
  sound.title = notifier.soundOn ? "Sound on for new conversations and messages" : "Sound off";
}

export function bindAlertButtons(app) {
  $("notify-btn").addEventListener("click", () => {
    if (app.notifier.permission === "default") app.notifier.requestPermission();
  });
  $("sound-btn").addEventListener("click", () => app.notifier.toggleSound());
}
