// Canned responses: the tenant's list (GET /canned-responses, once per sign-in and again after a change
// here), how the composer's "/" list filters it, the placeholders filled in as plain text, and the
// admins' manager (a dialog: list, add, edit, delete; the server's errors shown as it says them).

import {api} from "./api.js";
import {$, clear, h, setText} from "./dom.js";
import {formatNumber, t} from "./i18n.js";

const PLACEHOLDER_RE = /\{\{\s*([a-z_]+\.[a-z_]+)\s*\}\}/gi;

/** GET /canned-responses into app.canned (sorted by shortcut). Never rejects. */
export function loadCanned(app) {
  const me = app.me;
  const load = api("GET", "/canned-responses").then((res) => {
    if (app.me !== me) return;
    app.canned = res.canned_responses || [];
    if ($("canned-dialog").open) renderManagerList(app);
  }).catch(() => {
    /* app.canned stays null: the composer's list says so, and asks again */
  }).finally(() => {
    if (app.cannedLoad === load) app.cannedLoad = null;
  });
  app.cannedLoad = load;
  return load;
}

/** The responses the "/query" typed so far matches: shortcuts that start with it first, then any
 *  shortcut or title that contains it. */
export function cannedMatches(list, query) {
  const q = (query || "").toLowerCase();
  if (!q) return list.slice();
  const first = [], then = [];
  for (const c of list) {
    const shortcut = c.shortcut.toLowerCase();
    if (shortcut.startsWith(q)) first.push(c);
    else if (shortcut.includes(q) || c.title.toLowerCase().includes(q)) then.push(c);
  }
  return first.concat(then);
}

/** `{{customer.name}}`, `{{customer.email}}`, `{{agent.name}}` → their values, as plain text (a function
 *  replacer: "$&" in a value stays "$&"). Unknown placeholders, and known ones without a value (a
 *  customer who gave no email), stay as they are for the agent to see and edit. */
export function fillPlaceholders(body, values) {
  return body.replace(PLACEHOLDER_RE, (whole, key) => {
    const value = values[key.toLowerCase()];
    return typeof value === "string" && value ? value : whole;
  });
}

// ---- the manager (admins) ----------------------------------------------------------------------

let editing = null;      // the response being edited, or null (the form adds one)
let returnFocus = null;

export function openCannedManager(app, {returnFocus: back = null} = {}) {
  if (!app.me || app.me.role !== "admin") return;
  const dialog = $("canned-dialog");
  returnFocus = back;
  resetForm();
  say("");
  renderManagerList(app);
  if (!dialog.open) dialog.showModal();
  $("canned-shortcut").focus();
  loadCanned(app);  // what other admins changed meanwhile
}

/** What the last change did, in the dialog (its list shows the rest). */
function say(text) {
  setText($("canned-status"), text);
}

function resetForm() {
  editing = null;
  $("canned-shortcut").value = "";
  $("canned-title-input").value = "";
  $("canned-body").value = "";
  setText($("canned-error"), "");
  setText($("canned-form-title"), t("canned.form.new"));
  setText($("canned-save"), t("canned.add"));
  $("canned-cancel-edit").hidden = true;
}

function startEdit(app, c) {
  editing = c;
  $("canned-shortcut").value = c.shortcut;
  $("canned-title-input").value = c.title;
  $("canned-body").value = c.body;
  setText($("canned-error"), "");
  setText($("canned-form-title"), t("canned.form.edit", {shortcut: "/" + c.shortcut}));
  setText($("canned-save"), t("save"));
  $("canned-cancel-edit").hidden = false;
  $("canned-title-input").focus();
}

function renderManagerList(app) {
  const list = clear($("canned-list"));
  const items = app.canned || [];
  $("canned-empty").hidden = items.length > 0;
  setText($("canned-count"), items.length ? formatNumber(items.length) : "");
  for (const c of items) {
    const actions = h("div", {class: "canned-actions"});
    const showButtons = () => {
      clear(actions).append(
        h("button", {type: "button", class: "canned-edit", text: t("edit"), "aria-label": t("canned.form.edit", {shortcut: "/" + c.shortcut}),
                     on: {click: () => startEdit(app, c)}}),
        h("button", {type: "button", class: "canned-delete", text: t("delete"), "aria-label": t("canned.delete.label", {shortcut: "/" + c.shortcut}),
                     on: {click: () => confirmDelete()}}));
    };
    const confirmDelete = () => {
      const yes = h("button", {type: "button", class: "danger canned-confirm", text: t("delete"),
                               on: {click: () => remove(app, c, yes)}});
      clear(actions).append(h("span", {class: "confirm-text", text: t("canned.delete.confirm", {shortcut: "/" + c.shortcut})}), yes,
                            h("button", {type: "button", text: t("cancel"), on: {click: showButtons}}));
      yes.focus();
    };
    showButtons();
    list.appendChild(h("li", {class: "canned-item", dataset: {id: c.id}},
      h("div", {class: "canned-text"},
        h("div", {class: "canned-line"}, h("span", {class: "pop-shortcut", text: "/" + c.shortcut}),
          h("span", {class: "canned-title", text: c.title})),
        h("div", {class: "canned-body", text: c.body})),
      actions));
  }
}

async function remove(app, c, btn) {
  btn.disabled = true;
  try {
    await api("DELETE", "/canned-responses/" + encodeURIComponent(c.id));
    if (editing && editing.id === c.id) resetForm();
    await loadCanned(app);
    renderManagerList(app);
    say(t("canned.deleted", {shortcut: "/" + c.shortcut}));
  } catch (err) {
    btn.disabled = false;
    if (err.status !== 401) setText($("canned-error"), err.message);
  }
}

async function save(app, ev) {
  ev.preventDefault();
  const body = {shortcut: $("canned-shortcut").value.trim(), title: $("canned-title-input").value.trim(),
                body: $("canned-body").value};
  const btn = $("canned-save");
  btn.disabled = true;
  setText($("canned-error"), "");
  say("");
  try {
    if (editing) {
      const changed = {};
      for (const key of ["shortcut", "title", "body"]) if (body[key] !== editing[key]) changed[key] = body[key];
      await api("PATCH", "/canned-responses/" + encodeURIComponent(editing.id), changed);
      say(t("canned.saved", {shortcut: "/" + body.shortcut}));
    } else {
      await api("POST", "/canned-responses", body);
      say(t("canned.added", {shortcut: "/" + body.shortcut}));
    }
    resetForm();
    await loadCanned(app);
    renderManagerList(app);
    $("canned-shortcut").focus();
  } catch (err) {
    if (err.status !== 401) setText($("canned-error"), err.message);
  } finally {
    btn.disabled = false;
  }
}

/** The dialog's form and buttons, and the top bar's menu item. */
export function bindCanned(app) {
  const dialog = $("canned-dialog");
  $("canned-form").addEventListener("submit", (ev) => save(app, ev));
  $("canned-cancel-edit").addEventListener("click", () => resetForm());
  $("canned-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    const back = returnFocus;
    returnFocus = null;
    if (back && !back.disabled) back.focus();
  });
  // The shortcut is lowercase: typed capitals become small ones (anything else is the server's to judge).
  $("canned-shortcut").addEventListener("input", (ev) => {
    const el = ev.target;
    const lower = el.value.toLowerCase();
    if (lower !== el.value) {
      const pos = el.selectionStart;
      el.value = lower;
      el.setSelectionRange(pos, pos);
    }
  });
}
