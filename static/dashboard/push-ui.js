// The header's push control (push.js does the work): its button, the menu it opens (test, turn off,
// retry, how many devices), and what the page does with a push that comes while it is on screen.

import {$, clear, h, icon, setText} from "./dom.js";
import {toast} from "./toast.js";

const PUSH_LOOK = {
  unsupported: {icon: "phoneOff", text: "No push"},
  off: {icon: "phone", text: "Push off", title: "Turn on push notifications: alerts on this device even when the "
    + "dashboard is closed"},
  working: {icon: "phone", text: ""},
  on: {icon: "phoneOn", text: "Push on", title: "Push notifications are on for this device"},
  blocked: {icon: "phoneOff", text: "Push blocked"},
  error: {icon: "alert", text: "Push failed"},
};

export function renderPushButton(app) {
  const push = app.push;
  const btn = $("push-btn");
  const state = push.state;
  btn.hidden = state === "hidden";
  btn.dataset.state = state;
  if (state === "hidden") {
    closePushMenu();
    return;
  }
  const look = PUSH_LOOK[state];
  const text = state === "working" ? push.progress || "Working…" : look.text;
  clear(btn).append(icon(look.icon, 18), h("span", {class: "btn-text", text}));
  btn.disabled = state === "working";
  btn.setAttribute("aria-busy", state === "working" ? "true" : "false");
  btn.title = look.title || push.message || text;
  btn.setAttribute("aria-label", "Push notifications: " + (state === "working" ? text : look.text)
                   + (push.message ? ". " + push.message : ""));
  if (state === "off" || state === "working") closePushMenu();
  else if (!$("push-menu").hidden) fillPushMenu(app);
}

function fillPushMenu(app) {
  const push = app.push;
  const state = push.state;
  setText($("push-menu-text"), state === "on"
    ? "Push notifications are on for this device: new conversations and messages reach it while the dashboard is "
      + "closed."
    : push.message);
  $("push-test").hidden = state !== "on";
  $("push-off").hidden = state !== "on";
  $("push-retry").hidden = state !== "error";
  if (state !== "on") $("push-menu-devices").hidden = true;
}

async function openPushMenu(app) {
  const push = app.push;
  const menu = $("push-menu");
  fillPushMenu(app);
  menu.hidden = false;
  $("push-btn").setAttribute("aria-expanded", "true");
  const first = [$("push-test"), $("push-retry")].find((b) => !b.hidden);
  if (first) first.focus();
  if (push.state === "on") {
    const devices = await push.devices();
    if (push.state !== "on" || menu.hidden || !devices) return;
    const el = $("push-menu-devices");
    setText(el, devices.length === 1 ? "1 device of yours gets them." : devices.length + " devices of yours get them.");
    el.hidden = false;
  }
}

export function closePushMenu() {
  const menu = $("push-menu");
  if (menu.hidden) return;
  menu.hidden = true;
  $("push-btn").setAttribute("aria-expanded", "false");
}

/** The button, the menu's items, and closing it (a click elsewhere, Escape). */
export function bindPushMenu(app) {
  const push = app.push;
  $("push-btn").addEventListener("click", () => {
    if (push.state === "off") push.enable();
    else if ($("push-menu").hidden) openPushMenu(app);
    else closePushMenu();
  });
  $("push-test").addEventListener("click", () => {
    closePushMenu();
    push.sendTest();
  });
  $("push-off").addEventListener("click", () => {
    closePushMenu();
    push.disable();
  });
  $("push-retry").addEventListener("click", () => {
    closePushMenu();
    push.enable();
  });
  document.addEventListener("click", (ev) => {
    if (!$("push-menu").hidden && !ev.target.closest(".push-wrap")) closePushMenu();
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && !$("push-menu").hidden) {
      closePushMenu();
      $("push-btn").focus();
    }
  });
}

/** A push came while this dashboard is on screen: true when it is ours to show (the worker then
 *  shows nothing). Signed in with the live socket, its events already alerted; between sockets,
 *  a toast. Signed out, or another tenant's push: the worker shows the OS notification. */
export function onPushInPage(app, payload) {
  if (!app.signedIn || !app.me || (payload.tenant_id && payload.tenant_id !== app.me.tenant_id)) return false;
  if ($("live").dataset.state !== "live" && typeof payload.title === "string") {
    toast(payload.title + (typeof payload.body === "string" && payload.body ? ": " + payload.body : ""));
  }
  return true;
}
