// What the main area shows: the conversations (list · conversation · context panes, one at a time on
// a phone) or the Analytics view; and opening a conversation there.

import {$} from "./dom.js";

export const SECTION_KEY = "cc.dashboard.section";

export function openConversation(app, id) {
  showSection(app, "conversations");
  $("app").dataset.view = "conv";
  if (app.conv.id !== id) {
    app.conv.open(id);
    app.list.invalidate();
  } else {
    app.conv.markRead(); // back to it (a phone shows one pane at a time): what came meanwhile is read now
  }
  app.notifier.seen(id);
}

function closeConversation() {
  $("app").dataset.view = "list";
}

/** The Analytics view covers the conversation: its messages are not being read (no read marks, alerts stay on). */
function analyticsShown() {
  return $("app").dataset.section === "analytics";
}

/** The open conversation is not on screen: the Analytics view covers it, or (a phone) another pane shows. */
export function conversationHidden() {
  return analyticsShown() || !document.querySelector(".conv-pane").getClientRects().length;
}

/** Show the conversations (list · conversation · context panes) or the Analytics view in the main area. */
export function showSection(app, name, {focus = false, remember = true} = {}) {
  const toAnalytics = name === "analytics";
  const root = $("app");
  const was = root.dataset.section || "conversations";
  root.dataset.section = toAnalytics ? "analytics" : "conversations";
  $("analytics-btn").setAttribute("aria-pressed", toAnalytics ? "true" : "false");
  if (remember) {
    try { sessionStorage.setItem(SECTION_KEY, root.dataset.section); } catch (e) { /* ignore */ }
  }
  if (toAnalytics) {
    root.classList.remove("ctx-open");
    if (!app.analytics.visible) app.analytics.show();
    if (focus) $("analytics-title").focus();
  } else if (was === "analytics") {
    app.analytics.hide();
    if (focus) $("analytics-btn").focus();
    if (app.conv.id && document.visibilityState === "visible") app.conv.markRead(); // what came meanwhile is read now
  }
}

/** The buttons that move between panes and sections. */
export function bindSections(app) {
  $("back-btn").addEventListener("click", closeConversation);
  $("act-info").addEventListener("click", () => {
    const view = $("app").dataset.view;
    $("app").dataset.view = view === "info" ? "conv" : "info";
    $("app").classList.toggle("ctx-open", $("app").dataset.view === "info");
  });
  $("ctx-close").addEventListener("click", () => {
    $("app").dataset.view = app.conv.id ? "conv" : "list";
    $("app").classList.remove("ctx-open");
  });
  $("analytics-btn").addEventListener("click", () => {
    showSection(app, $("app").dataset.section === "analytics" ? "conversations" : "analytics", {focus: true});
  });
  $("analytics-back").addEventListener("click", () => showSection(app, "conversations", {focus: true}));
  $("team-btn").addEventListener("click", () => {
    showSection(app, "conversations");
    $("app").dataset.view = "info";
    $("app").classList.add("ctx-open");
  });
}
