// Settings → Widget (admins): the workspace's display name and allowed origins, and how the chat widget
// looks and asks (title, subtitle, colour, position, a greeting per language, the pre-chat fields, the
// satisfaction survey): GET / PATCH /tenant. Beside the form (below it on a phone), a live preview: the real
// chat-widget.js in a sandboxed frame (/widget-preview.html), re-initialised with the form's values as the
// admin types, before anything is saved. Below, the embed snippet to copy.
// Everything from the server or the admin is put in the page as text (h() / textContent / .value).

import {isHexColor} from "../colors.js";
import {t} from "../i18n.js";
import {embedSnippet} from "../session-list.js";

const LANGS = [
  {code: "en", name: "English", title: "Chat with us", greeting: "Hi! How can we help you today?"},
  {code: "es", name: "Español", title: "Chatea con nosotros", greeting: "¡Hola! ¿En qué podemos ayudarte?"},
  {code: "fr", name: "Français", title: "Discutez avec nous", greeting: "Bonjour ! Comment pouvons-nous vous aider ?"},
  {code: "de", name: "Deutsch", title: "Chatten Sie mit uns", greeting: "Hallo! Wie können wir helfen?"},
];
const DEFAULT_COLOR = "#4f46e5";
// The pre-chat field modes; their words: the catalogue's "ws.mode.<value>".
const MODES = [["required"], ["optional"], ["hidden"]];
const PREVIEW_DELAY_MS = 120;
// The preview frame is a desktop-sized window (wider than the widget's 480 px phone layout), scaled to fit.
const FRAME_W = 520;
const FRAME_H = 760;

/** The form's values from the server's answer ({tenant, settings}). */
function fromServer(res) {
  const tenant = res.tenant || {};
  const settings = res.settings || {};
  const w = settings.widget || {};
  const g = w.greetings || {};
  const p = w.prechat || {};
  const mode = (m) => (MODES.some(([v]) => v === m) ? m : "optional");
  return {
    name: tenant.name || "",
    origins: (tenant.allowed_origins || []).join("\n"),
    title: w.title || "",
    subtitle: w.subtitle || "",
    color: isHexColor(w.primary_color) ? w.primary_color.toLowerCase() : DEFAULT_COLOR,
    position: w.position === "bottom-left" ? "bottom-left" : "bottom-right",
    greetings: Object.fromEntries(LANGS.map((l) => [l.code, g[l.code] || ""])),
    prechat: {name: mode(p.name), email: mode(p.email)},
    csat: settings.csat_enabled !== false,
  };
}

/** Origins typed one per line (or separated by commas / spaces): trimmed, without a trailing slash. */
function parseOrigins(text) {
  return [...new Set(text.split(/[\s,]+/).map((o) => o.trim().replace(/\/+$/, "")).filter(Boolean))];
}

export async function render(ctx) {
  const {app, root, api, toast, h, setDirty} = ctx;
  const res = await api("GET", "/tenant");
  const tenantId = (res.tenant && res.tenant.id) || (app.me && app.me.tenant_id) || "";
  let saved = fromServer(res);
  let destroyed = false;
  let previewTimer = 0;
  let previewReady = false;
  let lang = "en";

  // ---- the fields ---------------------------------------------------------------------------------
  const field = (id, label, control, {hint = null, error = null} = {}) => h("div", {class: "sp-field"},
    h("label", {for: id}, label), hint ? h("p", {class: "sp-hint muted", id: id + "-hint"}, hint) : null,
    control, error);
  const errorFor = (id) => h("p", {id: id + "-error", class: "error-text sp-error", role: "alert"});

  const name = h("input", {id: "ws-name", maxlength: "200", autocomplete: "organization", required: true});
  const origins = h("textarea", {id: "ws-origins", rows: "3", spellcheck: "false", autocapitalize: "off",
                                 "aria-describedby": "ws-origins-hint ws-origins-error",
                                 placeholder: t("ws.origins.placeholder")});
  const originsErr = errorFor("ws-origins");
  const title = h("input", {id: "ws-title", maxlength: "60", placeholder: LANGS[0].title});
  const subtitle = h("input", {id: "ws-subtitle", maxlength: "120", placeholder: t("ws.subtitle.placeholder")});
  const picker = h("input", {id: "ws-color-picker", type: "color", class: "sp-color-picker",
                             "aria-label": t("ws.color.picker")});
  const hex = h("input", {id: "ws-color", class: "sp-color-hex", maxlength: "7", spellcheck: "false",
                          autocapitalize: "off", autocomplete: "off", placeholder: "#rrggbb",
                          "aria-describedby": "ws-color-error"});
  const colorErr = errorFor("ws-color");
  const posRight = h("input", {type: "radio", name: "ws-position", id: "ws-pos-right", value: "bottom-right"});
  const posLeft = h("input", {type: "radio", name: "ws-position", id: "ws-pos-left", value: "bottom-left"});

  // Greetings: a tab per language (the preview speaks the language of the tab shown).
  const tabs = [];
  const panels = [];
  const greet = {};
  for (const l of LANGS) {
    const tab = h("button", {type: "button", role: "tab", id: "ws-tab-" + l.code, class: "sp-tab",
                             "aria-controls": "ws-greet-panel-" + l.code, dataset: {lang: l.code}}, l.name);
    greet[l.code] = h("textarea", {id: "ws-greeting-" + l.code, rows: "2", maxlength: "500", lang: l.code,
                                   placeholder: l.greeting, "aria-label": t("ws.greeting.label", {lang: l.name})});
    tabs.push(tab);
    panels.push(h("div", {role: "tabpanel", id: "ws-greet-panel-" + l.code, class: "sp-tabpanel",
                          "aria-labelledby": "ws-tab-" + l.code}, greet[l.code]));
  }
  const tablist = h("div", {role: "tablist", class: "sp-tabs", "aria-label": t("ws.greeting.lang")}, tabs);

  const prechat = {};
  const modeSelect = (key, label) => {
    prechat[key] = h("select", {id: "ws-prechat-" + key},
                     MODES.map(([value]) => h("option", {value}, t("ws.mode." + value))));
    return h("div", {class: "sp-field sp-inline"}, h("label", {for: "ws-prechat-" + key}, label), prechat[key]);
  };
  const csat = h("input", {type: "checkbox", id: "ws-csat", role: "switch", class: "switch-input"});

  const saveBtn = h("button", {id: "ws-save", class: "primary", type: "submit"}, t("save"));
  const status = h("p", {id: "ws-status", class: "st-form-status", role: "status"});
  const formErr = h("p", {id: "ws-error", class: "error-text", role: "alert"});

  const form = h("form", {id: "ws-form", class: "sp-form", novalidate: true},
    h("section", {class: "st-card"},
      h("h4", null, t("settings.group.workspace")),
      field("ws-name", t("ws.name"), name),
      field("ws-origins", t("ws.origins"), origins, {hint: t("ws.origins.hint"), error: originsErr})),
    h("section", {class: "st-card"},
      h("h4", null, t("ws.look")),
      field("ws-title", t("ws.title"), title),
      field("ws-subtitle", t("ws.subtitle"), subtitle),
      h("div", {class: "sp-field"},
        h("label", {for: "ws-color"}, t("ws.color")),
        h("div", {class: "sp-color-row"}, picker, hex), colorErr),
      h("fieldset", {class: "sp-fieldset"},
        h("legend", null, t("ws.position")),
        h("div", {class: "sp-radios"},
          h("label", {class: "sp-radio"}, posRight, " " + t("ws.position.right")),
          h("label", {class: "sp-radio"}, posLeft, " " + t("ws.position.left"))))),
    h("section", {class: "st-card"},
      h("h4", {id: "ws-greeting-heading"}, t("ws.greeting")),
      h("p", {class: "sp-hint muted"}, t("ws.greeting.hint")),
      tablist, panels),
    h("section", {class: "st-card"},
      h("h4", null, t("ws.prechat")),
      h("p", {class: "sp-hint muted"}, t("ws.prechat.hint")),
      modeSelect("name", t("pf.name")), modeSelect("email", t("invite.email")),
      h("label", {class: "sp-switch", for: "ws-csat"},
        h("span", null, h("strong", null, t("ws.csat")),
          h("span", {class: "muted small sp-block"}, t("ws.csat.hint"))),
        h("span", {class: "switch"}, csat, h("span", {class: "switch-track", "aria-hidden": "true"})))),
    formErr,
    h("div", {class: "st-actions sp-sticky-actions"}, status, saveBtn));

  // ---- the preview ----------------------------------------------------------------------------------
  const frame = h("iframe", {id: "ws-preview-frame", class: "sp-preview-frame", src: "/widget-preview.html",
                             sandbox: "allow-scripts", title: t("ws.preview.frame"), loading: "eager"});
  const frameBox = h("div", {class: "sp-preview-box"}, frame);
  const fit = () => {
    const scale = Math.min(1, (frameBox.clientWidth || FRAME_W) / FRAME_W);
    frame.style.transform = "scale(" + scale + ")";
    frameBox.style.height = Math.round(FRAME_H * scale) + "px";
  };
  const resizer = new ResizeObserver(fit);
  resizer.observe(frameBox);
  const previewLang = h("span", {id: "ws-preview-lang", class: "muted small"});
  const preview = h("aside", {class: "sp-preview", "aria-label": t("ws.preview.live")},
    h("div", {class: "sp-preview-head"}, h("h4", null, t("ws.preview")), previewLang),
    h("p", {class: "sp-hint muted"}, t("ws.preview.hint")),
    frameBox);

  // ---- the snippet ------------------------------------------------------------------------------------
  const snippetText = embedSnippet(tenantId);  // README's form, the same as the empty list's
  const snippet = h("pre", {id: "ws-snippet", class: "sp-code"}, h("code", null, snippetText));
  const copyBtn = h("button", {id: "ws-copy-snippet", type: "button"}, t("ws.snippet.copy"));
  const snippetCard = h("section", {class: "st-card sp-snippet"},
    h("h4", null, t("ws.embed")),
    h("p", {class: "sp-hint muted"}, t("ws.embed.hint")),
    snippet, copyBtn);

  root.append(h("div", {class: "sp-widget-layout"}, h("div", {class: "sp-widget-main"}, form, snippetCard),
                preview));

  // ---- state ------------------------------------------------------------------------------------------
  function fill(v) {
    name.value = v.name;
    origins.value = v.origins;
    title.value = v.title;
    subtitle.value = v.subtitle;
    hex.value = v.color;
    picker.value = isHexColor(v.color) ? v.color : DEFAULT_COLOR;
    posRight.checked = v.position === "bottom-right";
    posLeft.checked = v.position === "bottom-left";
    for (const l of LANGS) greet[l.code].value = v.greetings[l.code];
    prechat.name.value = v.prechat.name;
    prechat.email.value = v.prechat.email;
    csat.checked = v.csat;
  }

  function current() {
    return {
      name: name.value.trim(),
      origins: origins.value,
      title: title.value.trim(),
      subtitle: subtitle.value.trim(),
      color: hex.value.trim().toLowerCase(),
      position: posLeft.checked ? "bottom-left" : "bottom-right",
      greetings: Object.fromEntries(LANGS.map((l) => [l.code, greet[l.code].value.trim()])),
      prechat: {name: prechat.name.value, email: prechat.email.value},
      csat: csat.checked,
    };
  }

  const comparable = (v) => JSON.stringify({...v, origins: parseOrigins(v.origins)});

  function selectLang(code, focus = false) {
    lang = code;
    for (const tab of tabs) {
      const on = tab.dataset.lang === code;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    }
    for (const panel of panels) panel.hidden = panel.id !== "ws-greet-panel-" + code;
    previewLang.textContent = t("ws.preview.in", {lang: LANGS.find((l) => l.code === code).name});
    schedulePreview(0);
  }

  function changed() {
    if (destroyed) return;
    const dirty = comparable(current()) !== comparable(saved);
    setDirty(dirty);
    if (dirty) setStatus("");
    schedulePreview();
  }

  function setStatus(text, kind = "") {
    status.textContent = text;
    status.dataset.kind = kind;
  }

  // ---- the preview: the form's values, posted to the frame ------------------------------------------
  function previewOptions() {
    const v = current();
    const opts = {locale: lang, position: v.position, prechat: v.prechat};
    if (v.title) opts.title = v.title;
    if (v.subtitle) opts.subtitle = v.subtitle;
    if (isHexColor(v.color)) opts.primaryColor = v.color;
    if (v.greetings[lang]) opts.greeting = v.greetings[lang];
    return opts;
  }

  function schedulePreview(delay = PREVIEW_DELAY_MS) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(sendPreview, delay);
  }

  function sendPreview() {
    if (destroyed || !previewReady || !frame.contentWindow) return;
    // The frame is sandboxed (an opaque origin): "*" is the only target that reaches it; it checks that the
    // message comes from this window and this origin.
    frame.contentWindow.postMessage({type: "widget-preview", options: previewOptions()}, "*");
  }

  function onMessage(ev) {
    if (ev.source !== frame.contentWindow || !ev.data || ev.data.type !== "widget-preview-ready") return;
    previewReady = true;
    sendPreview();
  }
  window.addEventListener("message", onMessage);

  // ---- events -------------------------------------------------------------------------------------------
  form.addEventListener("input", (ev) => {
    if (ev.target === picker) {
      hex.value = picker.value;
      colorErr.textContent = "";
    } else if (ev.target === hex) {
      const v = hex.value.trim();
      if (isHexColor(v)) {
        picker.value = v.toLowerCase();
        colorErr.textContent = "";
      }
    } else if (ev.target === origins) {
      originsErr.textContent = "";
    }
    changed();
  });
  form.addEventListener("change", changed);
  hex.addEventListener("blur", () => {
    const v = hex.value.trim();
    if (v && !isHexColor(v)) colorErr.textContent = t("ws.color.invalid");
  });
  tablist.addEventListener("click", (ev) => {
    const tab = ev.target.closest("[role=tab]");
    if (tab) selectLang(tab.dataset.lang);
  });
  tablist.addEventListener("keydown", (ev) => {
    const i = LANGS.findIndex((l) => l.code === lang);
    let next = null;
    if (ev.key === "ArrowRight") next = LANGS[(i + 1) % LANGS.length];
    else if (ev.key === "ArrowLeft") next = LANGS[(i + LANGS.length - 1) % LANGS.length];
    else if (ev.key === "Home") next = LANGS[0];
    else if (ev.key === "End") next = LANGS[LANGS.length - 1];
    if (!next) return;
    ev.preventDefault();
    selectLang(next.code, true);
  });
  copyBtn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(snippetText);
      toast(t("ws.snippet.copied"));
    } catch (err) {
      // No clipboard (permission, an insecure origin): select it for a manual copy.
      const range = document.createRange();
      range.selectNodeContents(snippet);
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      toast(t("ws.snippet.copy_manually"));
    }
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = current();
    originsErr.textContent = "";
    colorErr.textContent = "";
    formErr.textContent = "";
    if (!v.name) {
      formErr.textContent = t("ws.name.missing");
      name.focus();
      return;
    }
    if (!isHexColor(v.color)) {
      colorErr.textContent = t("ws.color.invalid");
      hex.focus();
      return;
    }
    const body = {
      name: v.name,
      allowed_origins: parseOrigins(v.origins),
      csat_enabled: v.csat,
      widget: {title: v.title, subtitle: v.subtitle, primary_color: v.color, position: v.position,
               greetings: v.greetings, prechat: v.prechat},
    };
    saveBtn.disabled = true;
    saveBtn.textContent = t("saving");
    setStatus(t("saving"), "saving");
    try {
      const out = await api("PATCH", "/tenant", body);
      if (destroyed) return;
      saved = fromServer(out && out.tenant ? out : {tenant: {...res.tenant, name: v.name,
                                                              allowed_origins: body.allowed_origins},
                                                     settings: {csat_enabled: v.csat, widget: body.widget}});
      fill(saved);
      setDirty(false);
      setStatus(t("sp.saved"), "saved");
      if (app.me && saved.name) {
        const el = document.getElementById("tenant-name");
        if (el) el.textContent = saved.name;
      }
      schedulePreview(0);
    } catch (err) {
      if (destroyed) return;
      setStatus(t("sp.not_saved"), "error");
      showError(err);
    } finally {
      saveBtn.disabled = false;
      saveBtn.textContent = t("save");
    }
  });

  /** The server's refusal next to the field it is about (its own words), or under the form. */
  function showError(err) {
    const code = err.code || "";
    const message = err.message || t("sp.save_error");
    let target = formErr;
    let focus = null;
    if (code === "invalid_origin" || /origin/i.test(message)) [target, focus] = [originsErr, origins];
    else if (code === "invalid_color" || /colou?r/i.test(message)) [target, focus] = [colorErr, hex];
    else if (/\bname\b/.test(message) && !/widget/.test(message)) focus = name;
    else if (/title/.test(message)) focus = title;
    else if (/subtitle/.test(message)) focus = subtitle;
    target.textContent = err.status === 0 ? t("pf.offline_not_saved") : message;
    if (focus) focus.focus();
  }

  fill(saved);
  selectLang("en");

  return {
    destroy() {
      destroyed = true;
      clearTimeout(previewTimer);
      window.removeEventListener("message", onMessage);
      resizer.disconnect();
    },
  };
}
