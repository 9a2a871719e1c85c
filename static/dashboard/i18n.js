// The dashboard's language: its message catalogues (static/i18n/<lang>.json, sections `dashboard` and
// `common`), `t()` to look texts up, and the Intl formatters for dates, times, relative times and numbers.
//
//   import {t, lang, setLang, formatDate, formatTime, formatRelative, formatNumber} from "./i18n.js";
//   t("list.empty")                      -> "Noch keine Unterhaltungen"
//   t("list.count", {count: 3})          -> uses "list.count.one" / "list.count.other" when "list.count" is absent
//
// The language: the agent's saved choice (localStorage `callcenter-lang`), else the first of
// navigator.languages whose primary subtag is one we have, else English. main.js awaits loadCatalogue()
// before it renders; static markup carries data-i18n="key" (its text) and
// data-i18n-attr="aria-label:key;title:key2" (attributes), translated by applyToDom(root).

export const LANGUAGES = ["en", "es", "fr", "de"];
/** Each language's own name (the switch in Settings › Profile shows these untranslated). */
export const LANGUAGE_NAMES = {en: "English", es: "Español", fr: "Français", de: "Deutsch"};
export const STORAGE_KEY = "callcenter-lang";

let current = "en";
let active = {};     // the chosen language's {dashboard, common}
let english = {};    // the fallback
const warned = new Set();

function storedChoice() {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return LANGUAGES.includes(v) ? v : null;
  } catch (e) {
    return null;
  }
}

/** The browser's preferred language we have, or null. */
export function browserLang() {
  const list = (navigator.languages && navigator.languages.length) ? navigator.languages : [navigator.language];
  for (const tag of list) {
    const primary = String(tag || "").toLowerCase().split(/[-_]/)[0];
    if (LANGUAGES.includes(primary)) return primary;
  }
  return null;
}

function detect() {
  return storedChoice() || browserLang() || "en";
}

current = detect();

/** "en" | "es" | "fr" | "de": the language the dashboard shows. */
export function lang() {
  return current;
}

/** The saved choice ("en" …), or "auto" when the browser's language decides. */
export function langChoice() {
  return storedChoice() || "auto";
}

// The build (scripts/build_assets.py) publishes content-hashed catalogues; the page lists them in
// <script type="application/json" id="asset-manifest">{"i18n/de.json": "/static/dist/i18n-de.<hash>.json", …}.
// Without it (or without the language in it): the plain /static/i18n/<lang>.json (served no-cache).
let manifest = null;
function catalogueUrl(code) {
  if (manifest === null) {
    manifest = {};
    try {
      const el = typeof document !== "undefined" && document.getElementById("asset-manifest");
      if (el) manifest = JSON.parse(el.textContent || "{}") || {};
    } catch (e) { manifest = {}; }
  }
  const url = manifest["i18n/" + code + ".json"];
  return typeof url === "string" && url.startsWith("/") ? url : "/static/i18n/" + code + ".json";
}

async function fetchCatalogue(code) {
  try {
    const res = await fetch(catalogueUrl(code), {credentials: "same-origin"});
    if (!res.ok) throw new Error("HTTP " + res.status);
    const doc = await res.json();
    return {dashboard: doc.dashboard || {}, common: doc.common || {}};
  } catch (e) {
    console.warn("i18n: the " + code + " catalogue did not load:", e);
    return {dashboard: {}, common: {}};
  }
}

/** Load the current language's catalogue (and English, the fallback); sets <html lang>. Call before rendering. */
export async function loadCatalogue(code) {
  if (code && LANGUAGES.includes(code)) current = code;
  const wanted = current;
  const [en, mine] = await Promise.all([fetchCatalogue("en"), wanted === "en" ? null : fetchCatalogue(wanted)]);
  english = en;
  active = mine || en;
  if (typeof document !== "undefined") {
    document.documentElement.lang = wanted;
    applyToDom(document);
  }
  return wanted;
}

function lookup(key) {
  for (const cat of [active, english]) {
    if (!cat) continue;
    if (cat.dashboard && Object.prototype.hasOwnProperty.call(cat.dashboard, key)) return cat.dashboard[key];
    if (cat.common && Object.prototype.hasOwnProperty.call(cat.common, key)) return cat.common[key];
  }
  return undefined;
}

function hasOwn(cat, key) {
  return !!cat && ((cat.dashboard && Object.prototype.hasOwnProperty.call(cat.dashboard, key))
                   || (cat.common && Object.prototype.hasOwnProperty.call(cat.common, key)));
}

let plurals = null;
function pluralCategory(n) {
  if (!plurals || plurals.lang !== current) {
    try {
      plurals = {lang: current, rules: new Intl.PluralRules(current)};
    } catch (e) {
      plurals = {lang: current, rules: {select: (x) => (x === 1 ? "one" : "other")}};
    }
  }
  return plurals.rules.select(n);
}

/**
 * The text of `key` in the current language (then English), `{name}` placeholders filled from params.
 * With a numeric params.count and no plain `key`, "key.<plural category>" (one/other/…) is used.
 * Numbers in params are formatted for the language. A missing key returns the key (warned once).
 */
export function t(key, params) {
  let text;
  if (params && typeof params.count === "number" && !hasOwn(active, key)) {
    const cat = pluralCategory(params.count);
    text = lookup(key + "." + cat);
    if (text === undefined && hasOwn(active, key + ".other")) text = lookup(key + ".other");
    if (text === undefined) text = lookup(key);
    if (text === undefined) {
      // English's rules for the English fallback.
      text = lookup(key + "." + (params.count === 1 ? "one" : "other"));
    }
  } else {
    text = lookup(key);
  }
  if (text === undefined) {
    if (!warned.has(key)) {
      warned.add(key);
      console.warn("i18n: no text for " + JSON.stringify(key));
    }
    return key;
  }
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.prototype.hasOwnProperty.call(params, name)) return whole;
    const v = params[name];
    if (v === null || v === undefined) return "";
    return typeof v === "number" ? formatNumber(v) : String(v);
  });
}

/** Does the catalogue have `key` (dashboard or common, any language loaded)? */
export function hasKey(key) {
  return lookup(key) !== undefined;
}

/**
 * Save the agent's choice ("en" … or "auto" for the browser's) and show the page in it: the catalogue is
 * loaded, the static markup translated, and (unless {reload: false}) the page reloaded so every view redraws.
 */
export async function setLang(code, {reload = true} = {}) {
  try {
    if (code === "auto" || !code) localStorage.removeItem(STORAGE_KEY);
    else if (LANGUAGES.includes(code)) localStorage.setItem(STORAGE_KEY, code);
  } catch (e) { /* private mode: this page only */ }
  const next = code && code !== "auto" && LANGUAGES.includes(code) ? code : (browserLang() || "en");
  await loadCatalogue(next);
  if (typeof document !== "undefined") {
    document.dispatchEvent(new CustomEvent("i18n:change", {detail: {lang: next}}));
  }
  if (reload && typeof location !== "undefined") location.reload();
  return next;
}

/** Translate static markup: data-i18n="key" (text) and data-i18n-attr="aria-label:key;title:key2". */
export function applyToDom(root) {
  const scope = root || document;
  if (!scope || !scope.querySelectorAll) return;
  const all = (sel) => {
    const found = Array.from(scope.querySelectorAll(sel));
    if (scope.matches && scope.matches(sel)) found.unshift(scope);
    return found;
  };
  for (const el of all("[data-i18n]")) {
    const key = el.getAttribute("data-i18n");
    if (key) el.textContent = t(key);
  }
  for (const el of all("[data-i18n-attr]")) {
    for (const pair of (el.getAttribute("data-i18n-attr") || "").split(";")) {
      const at = pair.indexOf(":");
      if (at < 1) continue;
      const attr = pair.slice(0, at).trim();
      const key = pair.slice(at + 1).trim();
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

// ---- formatters (Intl, in the dashboard's language) ----------------------------------------------

const cache = new Map();
const DATE_FIELDS = ["weekday", "era", "year", "month", "day", "dateStyle", "timeStyle"];
const TIME_FIELDS = ["hour", "minute", "second", "dayPeriod", "timeStyle", "dateStyle"];

/** `options` with `defaults` under them when they name none of `fields` (only a timeZone, say). */
function withDefaults(options, fields, defaults) {
  if (!options) return defaults;
  return fields.some((f) => f in options) ? options : Object.assign({}, defaults, options);
}
function cached(kind, options, make) {
  const id = kind + "|" + current + "|" + JSON.stringify(options || {});
  let f = cache.get(id);
  if (!f) {
    try {
      f = make(current, options);
    } catch (e) {
      f = make("en", options);
    }
    cache.set(id, f);
  }
  return f;
}

function toDate(value) {
  if (value instanceof Date) return value;
  if (value === null || value === undefined || value === "") return null;
  const d = new Date(value);
  return isNaN(d.getTime()) ? null : d;
}

/** A date (Date, ISO string or ms); default "3 Mar 2025" style, `options` as Intl.DateTimeFormat's. */
export function formatDate(value, options) {
  const d = toDate(value);
  if (!d) return "";
  const opts = withDefaults(options, DATE_FIELDS.concat(TIME_FIELDS), {year: "numeric", month: "short", day: "numeric"});
  return cached("date", opts, (l, o) => new Intl.DateTimeFormat(l, o)).format(d);
}

/** A time of day ("14:05" / "2:05 PM"); `options` as Intl.DateTimeFormat's. */
export function formatTime(value, options) {
  const d = toDate(value);
  if (!d) return "";
  const opts = withDefaults(options, TIME_FIELDS, {hour: "2-digit", minute: "2-digit"});
  return cached("date", opts, (l, o) => new Intl.DateTimeFormat(l, o)).format(d);
}

/** A date and time ("Mar 3, 2025, 14:05"). */
export function formatDateTime(value, options) {
  return formatDate(value, options || {year: "numeric", month: "short", day: "numeric", hour: "2-digit",
                                       minute: "2-digit"});
}

const UNITS = [
  ["year", 365 * 86400e3], ["month", 30 * 86400e3], ["week", 7 * 86400e3], ["day", 86400e3],
  ["hour", 3600e3], ["minute", 60e3], ["second", 1e3],
];

/**
 * How long ago (or ahead) `value` is: "5 minutes ago", "vor 5 Minuten", "yesterday", "in 2 hours".
 * options: {now, style: "long"|"short"|"narrow", numeric: "auto"|"always"}.
 */
export function formatRelative(value, options) {
  const d = toDate(value);
  if (!d) return "";
  const opts = options || {};
  const now = opts.now !== undefined ? +toDate(opts.now) : Date.now();
  const diff = d.getTime() - now;
  const abs = Math.abs(diff);
  const rtf = cached("rel", {style: opts.style || "long", numeric: opts.numeric || "auto"},
                     (l, o) => new Intl.RelativeTimeFormat(l, o));
  if (abs < 45e3) return rtf.format(0, "second");
  for (const [unit, size] of UNITS) {
    if (abs >= size || unit === "second") return rtf.format(Math.round(diff / size), unit);
  }
  return rtf.format(0, "second");
}

/** A number in the language's style ("1,234.5" / "1.234,5"); `options` as Intl.NumberFormat's. */
export function formatNumber(value, options) {
  const n = Number(value);
  if (!isFinite(n)) return "";
  return cached("num", options, (l, o) => new Intl.NumberFormat(l, o)).format(n);
}

/** A percentage from a ratio (0.25 -> "25 %" in German). */
export function formatPercent(ratio, options) {
  return formatNumber(ratio, Object.assign({style: "percent", maximumFractionDigits: 0}, options || {}));
}

/** A number with a unit ("5 min", "2 h", "3 MB"); unit as Intl.NumberFormat's (minute, hour, day, megabyte …). */
export function formatUnit(value, unit, options) {
  return formatNumber(value, Object.assign({style: "unit", unit, unitDisplay: "short"}, options || {}));
}

/** A duration in ms, shortly: "40 s", "5 min", "1 h 20 min", "2 d 3 h" (in the language's unit names). */
export function formatDuration(millis) {
  const s = Math.max(0, Math.floor(millis / 1000));
  const u = (n, unit) => formatUnit(n, unit, {unitDisplay: "narrow"});
  if (s < 60) return u(s, "second");
  const m = Math.floor(s / 60);
  if (m < 60) return u(m, "minute");
  const hrs = Math.floor(m / 60);
  if (hrs < 24) return u(hrs, "hour") + (m % 60 ? " " + u(m % 60, "minute") : "");
  const days = Math.floor(hrs / 24);
  return u(days, "day") + (hrs % 24 ? " " + u(hrs % 24, "hour") : "");
}

/** A list: "a, b and c" / "a, b und c". */
export function formatList(items, options) {
  const list = Array.from(items || [], String);
  try {
    return cached("list", options || {type: "conjunction"}, (l, o) => new Intl.ListFormat(l, o)).format(list);
  } catch (e) {
    return list.join(", ");
  }
}
