// Labels: the tenant's labels (GET /labels), their chips (the label's colour, the text colour chosen by
// contrast), the conversation header's picker (a checkbox per label: PUT …/labels; admins create and
// delete labels there), and the list's filter by label (GET /chat/sessions?label=NAME).

import {api} from "./api.js";
import {FALLBACK_LABEL_COLOR, LABEL_PALETTE, isHexColor, textOn} from "./colors.js";
import {$, clear, h, icon, setText} from "./dom.js";
import {reloadList, upsertSession} from "./session-list.js";
import {t} from "./i18n.js";
import {toast} from "./toast.js";

const lower = (s) => (s || "").toLowerCase();

/** GET /labels into app.labels (sorted by name); everything that shows labels is drawn again. */
export async function loadLabels(app) {
  const me = app.me;
  try {
    const res = await api("GET", "/labels");
    if (app.me !== me) return;
    app.labels = res.labels || [];
  } catch (err) {
    return;
  }
  app.labelsByName = new Map(app.labels.map((l) => [lower(l.name), l]));
  renderLabelFilter(app);
  app.list.invalidate();
  if (app.conv.id) app.conv.renderHeader();
  if (pickerOpen()) renderPicker(app);
  if (app.analytics) app.analytics.labelsChanged();
}

/** A session names a label we do not know (another admin made it since): the labels once more. */
function unknownLabel(app, name) {
  const key = lower(name);
  if (app.labelsAsked.has(key)) return;
  app.labelsAsked.add(key);
  clearTimeout(app.labelsTimer);
  app.labelsTimer = setTimeout(() => loadLabels(app), 300);
}

export function labelColor(app, name) {
  const label = app.labelsByName.get(lower(name));
  if (!label && app.signedIn) unknownLabel(app, name);
  return label && isHexColor(label.color) ? label.color : FALLBACK_LABEL_COLOR;
}

/** One chip (text only; the colours set through the CSSOM). */
export function labelChip(app, name, extraClass = "") {
  const color = labelColor(app, name);
  const el = h("span", {class: "label-chip" + (extraClass ? " " + extraClass : ""), title: t("labels.chip.title", {name}),
                        text: name});
  el.style.backgroundColor = color;
  el.style.color = textOn(color);
  return el;
}

/** Chips for a session's labels: at most `max`, then "+N". */
export function labelChips(app, names, max = Infinity) {
  const list = names || [];
  const shown = list.slice(0, max).map((n) => labelChip(app, n));
  if (list.length > max) {
    shown.push(h("span", {class: "label-chip more", title: list.slice(max).join(", "),
                          text: "+" + (list.length - max)}));
  }
  return shown;
}

// ---- the list's filter -------------------------------------------------------------------------

export function renderLabelFilter(app) {
  const select = $("label-filter");
  const wrap = $("label-filter-wrap");
  const labels = app.labels || [];
  const want = app.labelFilter || "";
  clear(select).appendChild(h("option", {value: "", text: t("labels.filter.all")}));
  for (const l of labels) select.appendChild(h("option", {value: l.name, text: l.name}));
  if (want && !app.labelsByName.has(lower(want))) select.appendChild(h("option", {value: want, text: want}));
  select.value = want;
  wrap.hidden = !labels.length && !want;
  wrap.classList.toggle("active", !!want);
}

export function setLabelFilter(app, name) {
  const value = name || null;
  if (value === app.labelFilter) return;
  app.labelFilter = value;
  renderLabelFilter(app);
  reloadList(app);
}

// ---- the header: chips and the picker ------------------------------------------------------------

/** The open conversation's labels in its header. */
export function renderConvLabels(app, session) {
  const box = clear($("conv-labels"));
  if (!session) return;
  box.append(...labelChips(app, session.labels || []));
  const btn = $("conv-label-btn");
  const has = (session.labels || []).length > 0;
  btn.setAttribute("aria-label", has ? t("labels.edit") : t("labels.add"));
  btn.title = has ? t("labels.edit") : t("labels.add");
  if (pickerOpen()) renderPicker(app);
}

function pickerOpen() {
  return !$("label-picker").hidden;
}

export function closeLabelPicker({focus = false} = {}) {
  const picker = $("label-picker");
  if (picker.hidden) return;
  picker.hidden = true;
  $("conv-label-btn").setAttribute("aria-expanded", "false");
  if (focus) $("conv-label-btn").focus();
}

function openLabelPicker(app) {
  const picker = $("label-picker");
  const btn = $("conv-label-btn");
  renderPicker(app);
  picker.hidden = false;
  btn.setAttribute("aria-expanded", "true");
  const narrow = window.matchMedia("(max-width: 760px)").matches;
  picker.classList.toggle("sheet", narrow);
  if (!narrow) {
    const r = btn.getBoundingClientRect();
    const width = picker.offsetWidth || 300;
    picker.style.left = Math.max(8, Math.min(r.left, window.innerWidth - width - 8)) + "px";
    picker.style.top = (r.bottom + 6) + "px";
    picker.style.maxHeight = Math.max(200, window.innerHeight - r.bottom - 20) + "px";
  } else {
    picker.style.left = picker.style.top = picker.style.maxHeight = "";
  }
  const first = picker.querySelector("input");
  if (first) first.focus();
  loadLabels(app); // another admin may have changed them
}

let saving = false;
let confirming = null;  // the label whose deletion is being confirmed

function renderPicker(app) {
  const session = app.conv.session;
  const body = $("label-picker-body");
  if (!session) {
    closeLabelPicker();
    return;
  }
  const active = document.activeElement;
  const inside = !!active && body.contains(active);
  const focusedName = inside ? active.dataset.label || null : null;
  const focusedId = inside && active.id ? active.id : null;
  const focusedNew = inside && !!active.closest("#label-new");
  const admin = app.me.role === "admin";
  const current = new Set((session.labels || []).map(lower));
  const labels = app.labels || [];
  clear(body);
  if (!labels.length) {
    body.appendChild(h("p", {class: "muted picker-empty",
                             text: admin ? t("labels.empty.admin") : t("labels.empty")}));
  }
  const list = h("ul", {class: "label-options"});
  for (const l of labels) {
    if (confirming === l.id) {
      const yes = h("button", {type: "button", class: "danger", text: t("delete"), dataset: {label: "confirm:" + l.name},
                               on: {click: () => deleteLabel(app, l, yes)}});
      list.appendChild(h("li", {class: "label-option confirming"},
        confirmText(app, l.name),
        h("span", {class: "confirm-actions"}, yes,
          h("button", {type: "button", text: t("cancel"), on: {click: () => { confirming = null; renderPicker(app); }}}))));
      continue;
    }
    const box = h("input", {type: "checkbox", dataset: {label: l.name}, checked: current.has(lower(l.name)),
                            disabled: saving, on: {change: (ev) => toggleLabel(app, l.name, ev.target.checked)}});
    list.appendChild(h("li", {class: "label-option"},
      h("label", {class: "label-check"}, box, labelChip(app, l.name)),
      admin ? h("button", {type: "button", class: "ghost icon-btn label-delete", title: t("labels.delete.title"),
                           "aria-label": t("labels.delete.label", {name: l.name}), dataset: {label: "delete:" + l.name},
                           on: {click: () => { confirming = l.id; renderPicker(app); }}}, icon("trash", 15)) : null));
  }
  if (labels.length) body.appendChild(list);
  if (admin) body.appendChild(newLabelForm(app));
  // The focus stays where it was (the same checkbox, button or field of the new drawing).
  const again = (focusedName && [...body.querySelectorAll("[data-label]")].find((el) => el.dataset.label === focusedName))
    || (focusedId && body.querySelector("#" + focusedId))
    || (focusedNew && body.querySelector("#label-new-name"));
  const confirmBtn = confirming !== null && body.querySelector(".confirming .danger");
  if (confirmBtn) confirmBtn.focus();
  else if (again) again.focus();
  else if (inside) $("label-picker").focus();
}

/** "Delete <chip> from every conversation?" in the language's word order (the chip where {label} is). */
function confirmText(app, name) {
  const [before, after = ""] = t("labels.delete.confirm").split("{label}");
  return h("span", {class: "confirm-text"}, before, labelChip(app, name), after);
}

/** A palette colour's name in the dashboard's language. */
function colourName(p) {
  return t("color." + p.name.toLowerCase().replace(/\s+/g, "_"));
}

let draftName = "";
let draftColor = LABEL_PALETTE[5].color;
let draftError = "";

function newLabelForm(app) {
  const name = h("input", {id: "label-new-name", maxlength: "40", placeholder: t("labels.new.name"), autocomplete: "off",
                           "aria-label": t("labels.new.name"), value: draftName,
                           on: {input: (ev) => { draftName = ev.target.value; }}});
  name.value = draftName;
  const swatches = LABEL_PALETTE.map((p) => {
    const radio = h("input", {type: "radio", name: "label-new-color", value: p.color, checked: p.color === draftColor,
                              "aria-label": colourName(p), on: {change: () => { draftColor = p.color; }}});
    const sw = h("span", {class: "swatch", "aria-hidden": "true"});
    sw.style.backgroundColor = p.color;
    return h("label", {class: "swatch-pick", title: colourName(p)}, radio, sw);
  });
  const form = h("form", {id: "label-new", class: "label-new", novalidate: true,
                          on: {submit: (ev) => { ev.preventDefault(); createLabel(app, form); }}},
    h("div", {class: "label-new-row"}, name, h("button", {type: "submit", class: "primary", id: "label-new-submit",
                                                          text: t("labels.new.create")})),
    h("fieldset", {class: "swatches"}, h("legend", {class: "sr-only", text: t("labels.new.colour")}), swatches),
    h("p", {id: "label-new-error", class: "error-text", role: "alert", text: draftError}));
  return form;
}

async function createLabel(app, form) {
  const name = draftName.trim();
  const err = form.querySelector("#label-new-error");
  const btn = form.querySelector("#label-new-submit");
  btn.disabled = true;
  draftError = "";
  setText(err, "");
  try {
    const res = await api("POST", "/labels", {name, color: draftColor});
    draftName = "";
    const label = res.label;
    app.labels = (app.labels || []).concat([label]).sort((a, b) => a.name.localeCompare(b.name));
    app.labelsByName.set(lower(label.name), label);
    renderLabelFilter(app);
    // Made from a conversation's picker: it goes on that conversation.
    const session = app.conv.session;
    if (session) await toggleLabel(app, label.name, true);
    else if (pickerOpen()) renderPicker(app);
    const input = $("label-new-name");
    if (input) input.focus();
    loadLabels(app);
  } catch (e) {
    btn.disabled = false;
    if (e.status !== 401) {
      draftError = e.message;
      const shown = $("label-new-error");  // the picker may have been drawn again meanwhile
      if (shown) setText(shown, e.message);
    }
  }
}

async function deleteLabel(app, label, btn) {
  btn.disabled = true;
  try {
    await api("DELETE", "/labels/" + encodeURIComponent(label.id));
    confirming = null;
    app.labels = (app.labels || []).filter((l) => l.id !== label.id);
    app.labelsByName.delete(lower(label.name));
    if (app.labelFilter && lower(app.labelFilter) === lower(label.name)) setLabelFilter(app, null);
    else renderLabelFilter(app);
    renderPicker(app);
    loadLabels(app);
  } catch (e) {
    btn.disabled = false;
    if (e.status !== 401) toast(e.message, "error");
  }
}

/** Check or uncheck one label on the open conversation (PUT the whole set). */
async function toggleLabel(app, name, on) {
  const session = app.conv.session;
  if (!session || saving) return;
  const id = session.id;
  const names = (session.labels || []).filter((n) => lower(n) !== lower(name));
  if (on) names.push(name);
  saving = true;
  if (pickerOpen()) renderPicker(app);
  try {
    const res = await api("PUT", "/chat/sessions/" + encodeURIComponent(id) + "/labels", {labels: names});
    upsertSession(app, res.session);
  } catch (e) {
    if (e.status !== 401) toast(e.message, "error");
  } finally {
    saving = false;
    if (pickerOpen() && app.conv.id === id) renderPicker(app);
  }
}

/** The header's Labels button, the picker's closing (Escape, a click elsewhere), the list's filter. */
export function bindLabels(app) {
  $("conv-label-btn").addEventListener("click", () => {
    if (pickerOpen()) closeLabelPicker(); else openLabelPicker(app);
  });
  $("label-picker-close").addEventListener("click", () => closeLabelPicker({focus: true}));
  document.addEventListener("mousedown", (ev) => {
    if (pickerOpen() && !ev.target.closest("#label-picker") && !ev.target.closest("#conv-label-btn")) {
      closeLabelPicker();
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && pickerOpen() && !document.querySelector("dialog[open]")) {
      ev.preventDefault();
      ev.stopPropagation();
      closeLabelPicker({focus: true});
    }
  });
  $("label-filter").addEventListener("change", (ev) => setLabelFilter(app, ev.target.value));
}
