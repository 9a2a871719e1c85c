// DOM and formatting helpers. Everything that comes from the server is put in the page
// as text (textContent / text nodes / attribute values): never parsed as HTML. Dates, times and
// durations are formatted in the dashboard's language (i18n.js, Intl).

import {formatDate, formatDateTime, formatDuration, formatTime, formatUnit, t} from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** h("div", {class: "x", dataset: {id: 1}, on: {click: fn}}, "text", childNode, [more], null) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key === "dataset") Object.assign(el.dataset, value);
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (key === "hidden") el.hidden = true;
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

// ---- time -----------------------------------------------------------------

export const ms = (iso) => (iso ? Date.parse(iso) : 0);

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "14:05" today, "Mar 3, 14:05" otherwise. */
export function fmtClock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (sameDay(d, new Date())) return formatTime(d);
  return formatDate(d, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit"});
}

export function fmtDateTime(iso) {
  if (!iso) return "";
  return formatDateTime(iso);
}

/** Activity time in the list: "now", "5m", "3h", "Yesterday", "Mar 3". */
export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return "";
  const diff = Math.max(0, now - ms(iso));
  if (diff < 60e3) return t("time.now");
  if (diff < 3600e3) return formatUnit(Math.floor(diff / 60e3), "minute", {unitDisplay: "narrow"});
  const d = new Date(iso);
  if (diff < 86400e3 && sameDay(d, new Date(now))) return formatUnit(Math.floor(diff / 3600e3), "hour", {unitDisplay: "narrow"});
  const y = new Date(now - 86400e3);
  if (sameDay(d, y)) return t("time.yesterday");
  return formatDate(d, {month: "short", day: "numeric"});
}

/** A duration: "40s", "5m", "1h 20m", "2d 3h". */
export function fmtDuration(millis) {
  return formatDuration(millis);
}

// ---- visitor context ----------------------------------------------------------

/** "Chrome 126 on Windows" from a User-Agent string (best effort, never throws). */
export function describeUserAgent(ua) {
  if (!ua) return t("ua.unknown");
  const pick = (re) => { const m = ua.match(re); return m ? m[1] : null; };
  let browser = t("ua.unknown_browser");
  let v;
  if ((v = pick(/Edg(?:e|A|iOS)?\/(\d+)/))) browser = "Edge " + v;
  else if ((v = pick(/OPR\/(\d+)/))) browser = "Opera " + v;
  else if ((v = pick(/SamsungBrowser\/(\d+)/))) browser = "Samsung Internet " + v;
  else if ((v = pick(/Firefox\/(\d+)/)) || (v = pick(/FxiOS\/(\d+)/))) browser = "Firefox " + v;
  else if ((v = pick(/CriOS\/(\d+)/))) browser = "Chrome " + v;
  else if ((v = pick(/HeadlessChrome\/(\d+)/))) browser = "Headless Chrome " + v;
  else if ((v = pick(/Chrom(?:e|ium)\/(\d+)/))) browser = "Chrome " + v;
  else if (/Safari\//.test(ua)) browser = "Safari" + ((v = pick(/Version\/(\d+(?:\.\d+)?)/)) ? " " + v : "");
  else if ((v = pick(/^([\w.-]+)\/[\d.]+/))) browser = v;
  let os = "";
  if (/Windows NT/.test(ua)) os = "Windows";
  else if (/iPhone|iPad|iPod/.test(ua)) os = "iOS";
  else if (/Android/.test(ua)) os = "Android";
  else if (/CrOS/.test(ua)) os = "ChromeOS";
  else if (/Mac OS X|Macintosh/.test(ua)) os = "macOS";
  else if (/Linux/.test(ua)) os = "Linux";
  return os ? t("ua.browser_on_os", {browser, os}) : browser;
}

/** The URL if it is an http(s) URL (safe to link), else null. */
export function safeHttpUrl(text) {
  if (!text) return null;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch (e) {
    return null;
  }
}

export function initials(name) {
  const parts = (name || "?").trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[parts.length - 1][0] : (parts[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

export function customerLabel(session) {
  return session.customer_name || session.customer_email || t("customer.anonymous");
}

export function debounce(fn, wait) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

export function newClientMsgId() {
  const rnd = crypto.getRandomValues(new Uint32Array(2));
  return "d-" + Date.now().toString(36) + "-" + rnd[0].toString(36) + rnd[1].toString(36);
}

// ---- icons (inline SVG built from fixed path data: no markup parsing) -----------------

const SVG_NS = "http://www.w3.org/2000/svg";
const PHONE = "M17 2H7a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V4a2 2 0 0 0-2-2zM12 18h.01";
const ICONS = {
  bell: "M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9M13.73 21a2 2 0 0 1-3.46 0",
  bellOff: "M13.73 21a2 2 0 0 1-3.46 0M18.63 13A17.9 17.9 0 0 1 18 8M6.26 6.26A5.9 5.9 0 0 0 6 8c0 7-3 9-3 9h14M18 "
    + "8a6 6 0 0 0-9.33-5M1 1l22 22",
  volume: "M11 5 6 9H2v6h4l5 4V5zM15.54 8.46a5 5 0 0 1 0 7.07M19.07 4.93a10 10 0 0 1 0 14.14",
  volumeOff: "M11 5 6 9H2v6h4l5 4V5zM23 9l-6 6M17 9l6 6",
  clock: "M22 12a10 10 0 1 1-20 0 10 10 0 1 1 20 0M12 6v6l4 2",
  paperclip: "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83"
    + "l8.49-8.48",
  file: "M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8zM14 2v6h6M16 13H8M16 17H8M10 9H8",
  image: "M19 3H5a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2V5a2 2 0 0 0-2-2zM10 8.5a1.5 1.5 0 1 1-3 0 1.5 1.5 0 0 1 3 "
    + "0M21 15l-5-5L5 21",
  download: "M21 15v4a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2v-4M7 10l5 5 5-5M12 15V3",
  alert: "M10.29 3.86 1.82 18a2 2 0 0 0 1.71 3h16.94a2 2 0 0 0 1.71-3L13.71 3.86a2 2 0 0 0-3.42 0zM12 9v4M12 17h.01",
  // Push notifications: a phone, with waves (on) or struck through (off, blocked).
  phone: PHONE,
  phoneOn: PHONE + "M1 10v4M3 8v8M21 8v8M23 10v4",
  phoneOff: PHONE + "M2 2l20 20",
  tag: "M20.59 13.41l-7.17 7.17a2 2 0 0 1-2.83 0L2 12V2h10l8.59 8.59a2 2 0 0 1 0 2.82zM7 7h.01",
  trash: "M3 6h18M19 6l-1 14a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2L5 6M10 11v6M14 11v6M9 6V4a1 1 0 0 1 1-1h4a1 1 0 0 1 1 1v2",
  lock: "M5 11h14v10H5zM8 11V7a4 4 0 0 1 8 0v4",
  more: "M12 5h.01M12 12h.01M12 19h.01",
};

export function icon(name, size = 16) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name]);
  svg.appendChild(path);
  return svg;
}
