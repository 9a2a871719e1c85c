// The top bar's two panels (disclosure buttons with a panel under them):
//   the bell: notifications (desktop alerts, sound, push on this device: alert-buttons.js, push-ui.js);
//   the avatar: this agent's status, the team panel (narrow screens), the workspace (admins: canned responses,
//   and shortcuts to the Settings view's Team, Routing and Audit log pages) and sign-out.
// Enter/Space (or ArrowDown) open a panel on its first control; Up/Down move between its controls; Escape, a click
// elsewhere or Tab out of it closes it (Escape gives the focus back to its button).

import {openCannedManager} from "./canned.js";
import {$, setText} from "./dom.js";
import {t} from "./i18n.js";

const PANELS = [["alerts-btn", "notify-panel"], ["me-btn", "me-menu"]];

export function renderTopMenu(app) {
  const admin = !!app.me && app.me.role === "admin";
  $("menu-wrap").hidden = !admin;
  renderMe(app);
}

/** The avatar button: its name says who is signed in and their status (the dot shows it). */
export function renderMe(app) {
  const me = app.me;
  const status = $("my-status").value === "away" ? "away" : "online";
  const dot = $("me-dot");
  dot.className = "me-dot " + status;
  const statusText = t(status === "away" ? "status.away" : "status.online");
  const name = me ? me.name : "";
  setText($("me-menu-name"), name);
  // The button's name is its text: the agent's name (visually hidden on a phone) and the status (for screen readers).
  setText($("me-status-text"), ", " + statusText);
  $("me-btn").title = t("me.button", {name, status: statusText});
}

function focusables(panel) {
  return [...panel.querySelectorAll("button, select, a[href], input")]
    .filter((el) => !el.disabled && el.getClientRects().length);
}

function openPanel(btnId, panelId, {focusFirst = true} = {}) {
  for (const [b, p] of PANELS) if (p !== panelId) closePanel(b, p);
  const panel = $(panelId);
  panel.hidden = false;
  $(btnId).setAttribute("aria-expanded", "true");
  if (focusFirst) {
    const first = focusables(panel)[0];
    if (first) first.focus();
  }
}

function closePanel(btnId, panelId, {focus = false} = {}) {
  const panel = $(panelId);
  if (panel.hidden) return;
  panel.hidden = true;
  $(btnId).setAttribute("aria-expanded", "false");
  if (focus) $(btnId).focus();
}

/** Closes both panels (sign-out; `focus`: back to the avatar's button). */
export function closeTopMenu({focus = false} = {}) {
  closePanel("alerts-btn", "notify-panel");
  closePanel("me-btn", "me-menu", {focus});
}

/** The panels are open for a test or a caller (e.g. the notifications menu from elsewhere). */
export function openNotifications() {
  openPanel("alerts-btn", "notify-panel");
}

export function bindTopMenu(app) {
  for (const [btnId, panelId] of PANELS) {
    const btn = $(btnId);
    const panel = $(panelId);
    btn.addEventListener("click", () => {
      if (panel.hidden) openPanel(btnId, panelId, {focusFirst: btn.matches(":focus-visible")});
      else closePanel(btnId, panelId);
    });
    btn.addEventListener("keydown", (ev) => {
      if (ev.key === "ArrowDown" && panel.hidden) {
        ev.preventDefault();
        openPanel(btnId, panelId);
      }
    });
    panel.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") {
        // The push menu inside the notifications closes first (push-ui.js).
        if (panelId === "notify-panel" && !$("push-menu").hidden) return;
        ev.preventDefault();
        ev.stopPropagation();
        closePanel(btnId, panelId, {focus: true});
      } else if ((ev.key === "ArrowDown" || ev.key === "ArrowUp") && ev.target.tagName !== "SELECT") {
        const list = focusables(panel);
        const at = list.indexOf(document.activeElement);
        if (!list.length) return;
        ev.preventDefault();
        const next = list[(at + (ev.key === "ArrowDown" ? 1 : -1) + list.length) % list.length];
        next.focus();
      }
    });
    panel.addEventListener("focusout", (ev) => {
      const to = ev.relatedTarget;
      if (to && !panel.contains(to) && to !== btn) closePanel(btnId, panelId);
    });
  }
  // Escape anywhere closes an open panel (the focus back on its button); focus moving elsewhere closes it too.
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Escape" || ev.defaultPrevented) return;
    for (const [btnId, panelId] of PANELS) {
      if ($(panelId).hidden) continue;
      if (panelId === "notify-panel" && !$("push-menu").hidden) continue;
      ev.preventDefault();
      closePanel(btnId, panelId, {focus: true});
    }
  });
  document.addEventListener("focusin", (ev) => {
    for (const [btnId, panelId] of PANELS) {
      if (!$(panelId).hidden && !$(panelId).contains(ev.target) && ev.target !== $(btnId)) closePanel(btnId, panelId);
    }
  });
  document.addEventListener("click", (ev) => {
    for (const [btnId, panelId] of PANELS) {
      if (!$(panelId).hidden && !ev.target.closest("#" + panelId) && !ev.target.closest("#" + btnId)
          && ev.target.isConnected) {
        closePanel(btnId, panelId);
      }
    }
  });
  $("my-status").addEventListener("change", () => renderMe(app));
  $("menu-canned").addEventListener("click", () => {
    closeTopMenu();
    openCannedManager(app, {returnFocus: $("me-btn")});
  });
  // Settings pages (settings/index.js): the team, routing and the audit log.
  for (const [id, page] of [["menu-team", "team"], ["menu-routing", "routing"], ["menu-audit", "audit"]]) {
    $(id).addEventListener("click", () => {
      closeTopMenu();
      app.settings.open(page);
    });
  }
  $("team-btn").addEventListener("click", () => closeTopMenu());
  $("logout-btn").addEventListener("click", () => closeTopMenu());
}
