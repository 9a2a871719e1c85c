// Settings → Profile (every agent): name and avatar colour (PATCH /agents/:id), the password
// (POST /auth/password: the answer's new token replaces this tab's; every other sign-in ends), and the
// notification preferences (four switches, each saved when flipped, in effect at once: preferences.js), and
// how many conversations at a time automatic routing gives the agent (PATCH /agents/:id max_conversations),
// and the dashboard's language (this browser's choice, localStorage: i18n.js; the page reloads in it).

import {ApiError, tokenStore} from "../api.js";
import {isHexColor, textOn} from "../colors.js";
import {$, initials, setText} from "../dom.js";
import {LANGUAGES, LANGUAGE_NAMES, browserLang, langChoice, setLang, t} from "../i18n.js";
import {applyPreferences, savePreferences} from "../preferences.js";
import {loadOf} from "../queue.js";
import {paintMe} from "../signin.js";

/** A palette colour's name in the dashboard's language (the catalogue's "color.<name>"). */
const colourName = (p) => t("color." + p.name.toLowerCase());

const PALETTE = [
  {color: "#4f46e5", name: "Indigo"}, {color: "#0f766e", name: "Teal"}, {color: "#b45309", name: "Amber"},
  {color: "#be123c", name: "Rose"}, {color: "#7c3aed", name: "Violet"}, {color: "#0369a1", name: "Sky"},
  {color: "#15803d", name: "Green"}, {color: "#a21caf", name: "Fuchsia"}, {color: "#c2410c", name: "Orange"},
  {color: "#475569", name: "Slate"},
];
const MIN_PASSWORD = 8;
const MIN_CAPACITY = 1;
const MAX_CAPACITY = 50;
const DEFAULT_CAPACITY = 5;

// The notification switches; their label and hint are the catalogue's "pf.pref.<key>" and "pf.pref.<key>.hint".
const SWITCHES = ["sound", "new_conversations", "assigned_messages", "mentions"];

let seq = 0;

/** POST /auth/password. Not through api(): its 401 for a wrong current password must not sign the agent out. */
async function changePassword(body) {
  let response;
  try {
    response = await fetch("/api/v1/auth/password", {
      method: "POST", body: JSON.stringify(body), credentials: "same-origin", cache: "no-store",
      headers: {"Accept": "application/json", "Content-Type": "application/json",
                "Authorization": "Bearer " + (tokenStore.get() || "")},
    });
  } catch (e) {
    throw new ApiError(0, "network_error", t("error.network"));
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok || !data || !data.token) {
    const err = (data && data.error) || {};
    throw new ApiError(response.status, err.code || "http_" + response.status,
                       err.message || t("error.request", {status: response.status}));
  }
  return data;
}

export async function render(ctx) {
  const {app, root, api, toast, h, setDirty} = ctx;
  const res = await api("GET", "/auth/me");
  const me = app.me;
  if (res && res.agent && me && res.agent.id === me.id) Object.assign(me, res.agent);
  const agent = me || res.agent;
  const uid = "pf" + (++seq);
  let destroyed = false;

  // ---- details: name and colour -------------------------------------------------------------------
  const savedColor = () => (isHexColor(agent.avatar_color) ? agent.avatar_color.toLowerCase() : "");
  let color = savedColor();
  const preview = h("span", {class: "avatar big pf-preview", "aria-hidden": "true"});
  const previewName = h("span", {class: "pf-preview-name"});
  const name = h("input", {id: "pf-name", name: "name", maxlength: "100", autocomplete: "name", required: true,
                           value: agent.name || ""});
  const swatches = PALETTE.map((p) => {
    const input = h("input", {type: "radio", name: uid + "-color", value: p.color, class: "sr-only",
                              "aria-label": colourName(p)});
    const dot = h("span", {class: "pf-swatch-dot", "aria-hidden": "true"});
    dot.style.background = p.color;
    const label = h("label", {class: "pf-swatch", title: colourName(p)}, input, dot);
    input.addEventListener("change", () => pick(p.color));
    return {input, label, color: p.color};
  });
  const customInput = h("input", {type: "radio", name: uid + "-color", value: "custom", class: "sr-only",
                                  "aria-label": t("pf.color.custom")});
  const picker = h("input", {id: "pf-color-picker", type: "color", class: "pf-color-picker",
                             "aria-label": t("pf.color.picker"), value: color || "#4f46e5"});
  const hex = h("input", {id: "pf-color-hex", class: "pf-color-hex", maxlength: "7", spellcheck: "false",
                          autocapitalize: "off", autocomplete: "off", placeholder: "#rrggbb",
                          "aria-label": t("pf.color.hex"), value: color});
  const colorError = h("p", {id: "pf-color-error", class: "error-text", role: "alert"});
  const detailsMsg = h("p", {id: "pf-details-status", class: "st-form-status", role: "status"});
  const detailsErr = h("p", {id: "pf-details-error", class: "error-text", role: "alert"});
  const saveDetails = h("button", {id: "pf-save", class: "primary", type: "submit"}, t("pf.save"));
  const detailsForm = h("form", {class: "st-card", id: "pf-details", novalidate: true},
    h("h4", null, t("pf.details")),
    h("div", {class: "pf-identity"}, preview,
      h("div", {class: "pf-identity-text"}, previewName,
        h("span", {class: "muted small"}, (agent.email || "") + " · " + t(agent.role === "admin" ? "role.admin" : "role.agent")))),
    h("label", {for: "pf-name"}, t("pf.name")), name,
    h("fieldset", {class: "pf-colors"},
      h("legend", null, t("pf.color")),
      h("div", {class: "pf-swatches"}, swatches.map((s) => s.label),
        h("label", {class: "pf-swatch pf-swatch-custom", title: t("pf.color.custom")}, customInput,
          h("span", {class: "pf-swatch-dot pf-custom-dot", "aria-hidden": "true"}, "+"))),
      h("div", {class: "pf-custom-row"}, picker, hex)),
    colorError, detailsErr,
    h("div", {class: "st-actions"}, detailsMsg, saveDetails));

  function paintPreview() {
    const shown = color || "#4f46e5";
    preview.textContent = initials(name.value || agent.name);
    preview.style.background = shown;
    preview.style.color = textOn(shown);
    setText(previewName, name.value.trim() || agent.name || "");
    for (const s of swatches) s.input.checked = s.color === color;
    customInput.checked = !!color && !swatches.some((s) => s.color === color);
  }
  function detailsDirty() {
    return name.value.trim() !== (agent.name || "") || color !== savedColor();
  }
  function refreshDirty() {
    setDirty(detailsDirty() || passwordDirty() || capacityDirty());
    if (detailsDirty()) setText(detailsMsg, "");
  }
  function pick(value) {
    color = value.toLowerCase();
    picker.value = color;
    hex.value = color;
    setText(colorError, "");
    paintPreview();
    refreshDirty();
  }
  name.addEventListener("input", () => { paintPreview(); refreshDirty(); });
  picker.addEventListener("input", () => pick(picker.value));
  customInput.addEventListener("change", () => picker.click());
  hex.addEventListener("input", () => {
    let v = hex.value.trim();
    if (v && v[0] !== "#") v = "#" + v;
    if (isHexColor(v)) pick(v);
    else setText(colorError, v.length >= 7 ? t("pf.color.invalid") : "");
  });
  detailsForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText(detailsErr, "");
    const newName = name.value.trim();
    if (!newName) {
      setText(detailsErr, t("pf.name.missing"));
      name.focus();
      return;
    }
    const changes = {};
    if (newName !== agent.name) changes.name = newName;
    if (color && color !== savedColor()) changes.avatar_color = color;
    if (!Object.keys(changes).length) {
      setText(detailsMsg, t("pf.nothing"));
      return;
    }
    saveDetails.disabled = true;
    setText(detailsMsg, t("saving"));
    try {
      const out = await api("PATCH", "/agents/" + agent.id, changes);
      if (destroyed) return;
      Object.assign(agent, (out && out.agent) ? {name: out.agent.name, avatar_color: out.agent.avatar_color} : changes);
      paintMe(app);
      if (app.agents.has(agent.id)) Object.assign(app.agents.get(agent.id), {name: agent.name});
      if (app.refreshAgentsSoon) app.refreshAgentsSoon();
      name.value = agent.name;
      color = savedColor() || color;
      paintPreview();
      setText(detailsMsg, t("saved"));
      refreshDirty();
    } catch (err) {
      if (destroyed) return;
      setText(detailsMsg, "");
      setText(detailsErr, err.message);
    } finally {
      saveDetails.disabled = false;
    }
  });

  // ---- password ---------------------------------------------------------------------------------------
  const current = h("input", {id: "pf-current", type: "password", autocomplete: "current-password", required: true});
  const next = h("input", {id: "pf-new", type: "password", autocomplete: "new-password", required: true,
                           minlength: String(MIN_PASSWORD)});
  const again = h("input", {id: "pf-confirm", type: "password", autocomplete: "new-password", required: true});
  const pwErr = h("p", {id: "pf-password-error", class: "error-text", role: "alert"});
  const pwMsg = h("p", {id: "pf-password-status", class: "st-form-status", role: "status"});
  const pwSave = h("button", {id: "pf-password-save", class: "primary", type: "submit"}, t("pf.pw.submit"));
  // A hidden username field: password managers file the new password under the right account.
  const user = h("input", {type: "email", autocomplete: "username", value: agent.email || "", class: "sr-only",
                           tabindex: "-1", "aria-hidden": "true", readonly: true});
  const pwForm = h("form", {class: "st-card", id: "pf-password", novalidate: true},
    h("h4", null, t("pf.pw")),
    h("p", {class: "muted small st-card-help"}, t("pf.pw.help")),
    user,
    h("label", {for: "pf-current"}, t("pf.pw.current")), current,
    h("label", {for: "pf-new"}, t("invite.new_password")), next,
    h("p", {class: "muted small field-hint"}, t("invite.min_hint", {count: MIN_PASSWORD})),
    h("label", {for: "pf-confirm"}, t("pf.pw.confirm")), again,
    pwErr,
    h("div", {class: "st-actions"}, pwMsg, pwSave));
  function passwordDirty() {
    return !!(current.value || next.value || again.value);
  }
  for (const input of [current, next, again]) {
    input.addEventListener("input", () => { setText(pwMsg, ""); refreshDirty(); });
  }
  let restartTimer = null;
  pwForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText(pwErr, "");
    setText(pwMsg, "");
    if (!current.value) {
      setText(pwErr, t("pf.pw.current.missing"));
      current.focus();
      return;
    }
    if (next.value.length < MIN_PASSWORD) {
      setText(pwErr, t("pf.pw.too_short", {count: MIN_PASSWORD}));
      next.focus();
      return;
    }
    if (next.value !== again.value) {
      setText(pwErr, t("pf.pw.mismatch"));
      again.select();
      return;
    }
    pwSave.disabled = true;
    setText(pwMsg, t("pf.pw.changing"));
    // The change revokes every token of this agent and closes their sockets (this one too): the socket
    // waits, and comes back with the new token.
    let remember = false;
    try { remember = !!localStorage.getItem("cc.dashboard.token"); } catch (e) { /* ignore */ }
    clearTimeout(restartTimer);
    app.socket.stop();
    const change = changePassword({current_password: current.value, new_password: next.value});
    app.passwordChange = change;
    try {
      const out = await change;
      tokenStore.set(out.token, remember);
      current.value = next.value = again.value = "";
      if (!destroyed) {
        setText(pwMsg, t("pf.pw.changed"));
        refreshDirty();
      }
      toast(t("pf.pw.toast"));
    } catch (err) {
      if (!destroyed) {
        setText(pwMsg, "");
        setText(pwErr, err instanceof ApiError && err.code === "invalid_credentials"
          ? t("pf.pw.wrong") : err.message);
        if (err instanceof ApiError && err.code === "invalid_credentials") current.select();
      }
    } finally {
      pwSave.disabled = false;
      if (app.passwordChange === change) app.passwordChange = null;
      // The socket comes back a moment later (the server closes the old token's sockets meanwhile).
      clearTimeout(restartTimer);
      restartTimer = setTimeout(() => { if (app.signedIn && !app.passwordChange) app.socket.start(); }, 300);
    }
  });

  // ---- workload: conversations at a time ------------------------------------------------------------
  const savedCapacity = () => (Number.isInteger(agent.max_conversations) ? agent.max_conversations : DEFAULT_CAPACITY);
  const capacity = h("input", {id: "pf-capacity", type: "number", min: String(MIN_CAPACITY), max: String(MAX_CAPACITY),
                               step: "1", inputmode: "numeric", required: true, value: String(savedCapacity()),
                               "aria-describedby": "pf-capacity-hint pf-capacity-load pf-capacity-error"});
  const capacityLoad = h("p", {id: "pf-capacity-load", class: "muted small field-hint"});
  const capacityErr = h("p", {id: "pf-capacity-error", class: "error-text", role: "alert"});
  const capacityMsg = h("p", {id: "pf-capacity-status", class: "st-form-status", role: "status"});
  const capacitySave = h("button", {id: "pf-capacity-save", class: "primary", type: "submit"}, t("save"));
  const capacityForm = h("form", {class: "st-card", id: "pf-workload", novalidate: true},
    h("h4", null, t("pf.workload")),
    h("p", {id: "pf-capacity-hint", class: "muted small st-card-help"},
      t("pf.workload.help", {min: MIN_CAPACITY, max: MAX_CAPACITY})),
    h("label", {for: "pf-capacity"}, t("pf.workload.label")), capacity, capacityLoad,
    capacityErr,
    h("div", {class: "st-actions"}, capacityMsg, capacitySave));
  function capacityDirty() {
    return capacity.value.trim() !== String(savedCapacity());
  }
  function paintCapacityLoad() {
    const load = loadOf(app, agent.id);
    setText(capacityLoad, load ? t("pf.workload.now", {open: load.open, max: load.max}) : "");
  }
  capacity.addEventListener("input", () => {
    setText(capacityErr, "");
    setText(capacityMsg, "");
    refreshDirty();
  });
  capacityForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText(capacityErr, "");
    const text = capacity.value.trim();
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < MIN_CAPACITY || n > MAX_CAPACITY) {
      setText(capacityErr, t("pf.workload.invalid", {min: MIN_CAPACITY, max: MAX_CAPACITY}));
      capacity.focus();
      return;
    }
    if (n === savedCapacity()) {
      setText(capacityMsg, t("pf.nothing"));
      return;
    }
    capacitySave.disabled = true;
    setText(capacityMsg, t("saving"));
    try {
      const out = await api("PATCH", "/agents/" + agent.id, {max_conversations: n});
      if (destroyed) return;
      const value = out && out.agent && Number.isInteger(out.agent.max_conversations) ? out.agent.max_conversations : n;
      agent.max_conversations = value;
      if (app.agents.has(agent.id)) app.agents.get(agent.id).max_conversations = value;
      capacity.value = String(value);
      setText(capacityMsg, t("saved"));
      refreshDirty();
    } catch (err) {
      if (destroyed) return;
      setText(capacityMsg, "");
      setText(capacityErr, err.status === 0 ? t("pf.offline_not_saved") : err.message);
      capacity.focus();
    } finally {
      capacitySave.disabled = false;
    }
  });
  window.addEventListener("callcenter:routing", paintCapacityLoad);

  // ---- notifications ------------------------------------------------------------------------------------
  const prefs = () => Object.assign({sound: true, new_conversations: true, assigned_messages: true, mentions: true},
                                    agent.preferences || {});
  const prefMsg = h("p", {id: "pf-prefs-status", class: "st-form-status", role: "status"});
  const rows = SWITCHES.map((key) => {
    const s = {key, label: t("pf.pref." + key), hint: t("pf.pref." + key + ".hint")};
    const input = h("input", {type: "checkbox", role: "switch", id: "pf-pref-" + s.key, class: "switch-input",
                              dataset: {pref: s.key}, "aria-describedby": "pf-pref-" + s.key + "-hint"});
    input.checked = prefs()[s.key] !== false;
    input.addEventListener("change", async () => {
      const value = input.checked;
      input.disabled = true;
      setText(prefMsg, t("saving"));
      try {
        await savePreferences(app, {[s.key]: value});
        if (s.key === "sound" && value) app.notifier.setDeviceSound(true); // switched on here: this device plays it
        if (destroyed) return;
        setText(prefMsg, t(value ? "pf.pref.saved_on" : "pf.pref.saved_off", {name: s.label}));
      } catch (err) {
        if (destroyed) return;
        input.checked = !value;
        setText(prefMsg, "");
        toast(t("pf.save_error", {error: err.message}), "error");
      } finally {
        input.disabled = false;
      }
    });
    return h("div", {class: "pf-switch-row"},
      h("label", {for: input.id, class: "pf-switch-label"}, h("span", {class: "pf-switch-name"}, s.label),
        h("span", {id: "pf-pref-" + s.key + "-hint", class: "muted small"}, s.hint)),
      h("span", {class: "switch"}, input, h("span", {class: "switch-track", "aria-hidden": "true"})));
  });
  const prefsCard = h("section", {class: "st-card", id: "pf-prefs", "aria-labelledby": uid + "-prefs"},
    h("h4", {id: uid + "-prefs"}, t("pf.prefs")),
    h("p", {class: "muted small st-card-help"}, t("pf.prefs.help")),
    rows, prefMsg);

  // ---- language ----------------------------------------------------------------------------------------
  // This browser's choice (localStorage): applied at once (the page reloads in it, on this page).
  const detected = browserLang() || "en";
  const langSelect = h("select", {id: "pf-language", name: "language", "aria-describedby": uid + "-lang-help"},
    h("option", {value: "auto"}, t("pf.lang.auto", {name: LANGUAGE_NAMES[detected]})),
    LANGUAGES.map((code) => h("option", {value: code, lang: code}, LANGUAGE_NAMES[code])));
  langSelect.value = langChoice();
  const langMsg = h("p", {id: "pf-language-status", class: "st-form-status", role: "status"});
  langSelect.addEventListener("change", () => {
    setText(langMsg, t("saving"));
    setLang(langSelect.value);
  });
  const langCard = h("section", {class: "st-card", id: "pf-lang", "aria-labelledby": uid + "-lang"},
    h("h4", {id: uid + "-lang"}, t("pf.lang")),
    h("p", {id: uid + "-lang-help", class: "muted small st-card-help"}, t("pf.lang.help")),
    h("label", {for: "pf-language"}, t("pf.lang.label")), langSelect, langMsg);

  root.append(h("div", {class: "st-grid"}, h("div", {class: "st-col"}, detailsForm, langCard, capacityForm),
                h("div", {class: "st-col"}, prefsCard, pwForm)));
  paintPreview();
  paintCapacityLoad();
  applyPreferences(app);
  // The header's sound button flips the same preference: the switch follows it.
  const soundSwitch = $(("pf-pref-sound"));
  const onSound = () => {
    if (soundSwitch && !soundSwitch.disabled && app.notifier.soundActive) soundSwitch.checked = true;
  };
  $("sound-btn").addEventListener("click", onSound);
  return {
    destroy() {
      destroyed = true;
      $("sound-btn").removeEventListener("click", onSound);
      window.removeEventListener("callcenter:routing", paintCapacityLoad);
    },
  };
}
