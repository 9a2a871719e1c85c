// The top bar's menu (admins): the workspace's settings kept out of the way: the canned responses, and
// shortcuts to the Settings view's Team, Routing and Audit log pages.
// A menu button: Enter/Space/ArrowDown open it on its first item, arrows move, Escape or a click
// elsewhere closes it.

import {openCannedManager} from "./canned.js";
import {$} from "./dom.js";

export function renderTopMenu(app) {
  const admin = !!app.me && app.me.role === "admin";
  $("menu-wrap").hidden = !admin;
  if (!admin) closeTopMenu();
}

function items() {
  return [...$("top-menu").querySelectorAll('[role="menuitem"]')].filter((el) => !el.hidden);
}

function openTopMenu() {
  $("top-menu").hidden = false;
  $("menu-btn").setAttribute("aria-expanded", "true");
  const first = items()[0];
  if (first) first.focus();
}

export function closeTopMenu({focus = false} = {}) {
  const menu = $("top-menu");
  if (menu.hidden) return;
  menu.hidden = true;
  $("menu-btn").setAttribute("aria-expanded", "false");
  if (focus) $("menu-btn").focus();
}

export function bindTopMenu(app) {
  const btn = $("menu-btn");
  btn.addEventListener("click", () => {
    if ($("top-menu").hidden) openTopMenu(); else closeTopMenu();
  });
  btn.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      ev.preventDefault();
      openTopMenu();
    }
  });
  $("top-menu").addEventListener("keydown", (ev) => {
    const list = items();
    const at = list.indexOf(document.activeElement);
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const next = list[(at + (ev.key === "ArrowDown" ? 1 : -1) + list.length) % list.length];
      if (next) next.focus();
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      closeTopMenu({focus: true});
    } else if (ev.key === "Tab") {
      closeTopMenu();
    }
  });
  document.addEventListener("click", (ev) => {
    if (!$("top-menu").hidden && !ev.target.closest("#menu-wrap")) closeTopMenu();
  });
  $("menu-canned").addEventListener("click", () => {
    closeTopMenu();
    openCannedManager(app, {returnFocus: $("menu-btn")});
  });
  // Settings pages (settings/index.js): the team, routing and the audit log.
  for (const [id, page] of [["menu-team", "team"], ["menu-routing", "routing"], ["menu-audit", "audit"]]) {
    $(id).addEventListener("click", () => {
      closeTopMenu();
      app.settings.open(page);
    });
  }
}
