// The header's push control (push.js does the work): its button, the menu it opens (test, turn off,
// retry, how many devices), and what the page does with a push that comes while it is on screen.

import {$, clear, h, icon, setText} from "./dom.js";
import {t} from "./i18n.js";
import {toast} from "./toast.js";

// Texts in the dashboard's language (i18n.js), looked up when drawn.
const PUSH_LOOK = {
  unsupported: {icon: "phoneOff", text: () => t("push.btn.unsupported")},
  off: {icon: "phone", text: () => t("push.btn.off"), title: () => t("push.btn.off.title")},
  working: {icon: "phone", text: () => ""},
  on: {icon: "phoneOn", text: () => t("push.btn.on"), title: () => t("push.btn.on.title")},
  blocked: {icon: "phoneOff", text: () => t("push.btn.blocked")},
  error: {icon: "alert", text: () => t("push.btn.error")},
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
  const lookText = look.text();
  const text = state === "working" ? push.progress || t("push.working") : lookText;
  // A row like the panel's other switches: name, hint and a visible state ("On" / "Off" / "Blocked" …);
  // its visible text is its whole accessible name, the state included (no aria-pressed: it opens a menu when on).
  clear(btn).append(icon(look.icon, 18),
                    h("span", {class: "toggle-text"}, t("push.btn.label"),
                      h("span", {class: "toggle-hint", text: t("push.btn.hint")})),
                    h("span", {class: "toggle-state", text}));
  btn.disabled = state === "working";
  btn.setAttribute("aria-busy", state === "working" ? "true" : "false");
  btn.title = (look.title && look.title()) || push.message || text;
  btn.removeAttribute("aria-label");
  if (push.message) btn.title = push.message;
  if (state === "off" || state === "working") closePushMenu();
  else if (!$("push-menu").hidden) fillPushMenu(app);
}

function fillPushMenu(app) {
  const push = app.push;
  const state = push.state;
  setText($("push-menu-text"), state === "on"
    ? t("push.menu.on")
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
    setText(el, t("push.menu.devices", {count: devices.length}));
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
