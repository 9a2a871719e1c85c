// What the main area shows: the conversations (list · conversation · context panes, one at a time on
// a phone) or the Analytics view; and opening a conversation there.

import {$} from "./dom.js";

export const SECTION_KEY = "cc.dashboard.section";

/** `focusComposer`: the agent opened it from the list (keyboard, or a click with a mouse): the focus goes to its
 *  reply box, ready to type. */
export function openConversation(app, id, {focusComposer = false} = {}) {
  if (showSection(app, "conversations") === false) return; // unsaved settings: the agent stayed
  $("app").dataset.view = "conv";
  if (app.conv.id !== id) {
    app.conv.open(id);
    app.list.invalidate();
  } else {
    app.conv.markRead(); // back to it (a phone shows one pane at a time): what came meanwhile is read now
  }
  app.notifier.seen(id);
  if (focusComposer) app.conv.focusComposer();
}

/** Back to the list (Escape in a conversation, the phone's back button): the focus on the conversation's row. */
export function backToList(app) {
  $("app").dataset.view = "list";
  $("app").classList.remove("ctx-open");
  if (app.list) app.list.focusItem(app.conv.id);
}

/** The Analytics or Settings view covers the conversation: its messages are not being read (no read marks,
 *  alerts stay on). */
function analyticsShown() {
  const section = $("app").dataset.section;
  return section === "analytics" || section === "settings";
}

/** The open conversation is not on screen: the Analytics view covers it, or (a phone) another pane shows. */
export function conversationHidden() {
  return analyticsShown() || !document.querySelector(".conv-pane").getClientRects().length;
}

/** Show the conversations (list · conversation · context panes), the Analytics view or the Settings view
 *  (settings/index.js opens that one: it owns its address) in the main area. Leaving Settings with unsaved
 *  changes asks first: false when the agent chose to stay. */
export function showSection(app, name, {focus = false, remember = true} = {}) {
  const target = name === "analytics" || name === "settings" ? name : "conversations";
  const root = $("app");
  const was = root.dataset.section || "conversations";
  if (was === "settings" && target !== "settings" && app.settings && !app.settings.confirmLeave()) return false;
  root.dataset.section = target;
  $("analytics-btn").setAttribute("aria-pressed", target === "analytics" ? "true" : "false");
  $("settings-btn").setAttribute("aria-pressed", target === "settings" ? "true" : "false");
  if (remember && target !== "settings") {
    try { sessionStorage.setItem(SECTION_KEY, target); } catch (e) { /* ignore */ }
  }
  if (was === "settings" && target !== "settings" && app.settings) app.settings.hide();
  if (target !== "conversations") root.classList.remove("ctx-open");
  if (target === "analytics") {
    if (!app.analytics.visible) app.analytics.show();
    if (focus) $("analytics-title").focus();
  } else if (was === "analytics") {
    app.analytics.hide();
    if (focus && target === "conversations") $("analytics-btn").focus();
  }
  if (target === "conversations" && was !== "conversations") {
    if (app.conv.id && document.visibilityState === "visible") app.conv.markRead(); // what came meanwhile is read now
  }
  return true;
}

/** The buttons that move between panes and sections. */
export function bindSections(app) {
  app.backToList = () => backToList(app);
  $("back-btn").addEventListener("click", () => backToList(app));
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
