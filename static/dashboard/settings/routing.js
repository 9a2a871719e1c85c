// Settings → Routing (admins): how conversations reach agents (manual: they pick them; auto: the online agent
// with the most room gets each one, the rest wait in a queue), when the dashboard warns about the queue, and
// business hours: on/off, time zone, up to 4 intervals a weekday, holidays, and the away message per language
// the widget shows when closed. GET /tenant fills the form; Save sends only what changed (PATCH /tenant
// merges business_hours key by key); "Currently open/closed" comes from GET /routing.
// Everything from the server or the admin is put in the page as text (h() / textContent / .value).

import {formatDate, formatNumber, t} from "../i18n.js";
import {takeRouting} from "../queue.js";

const DAY_CODES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAYS = DAY_CODES.map((day) => [day]);
const LANGS = [{code: "en", name: "English"}, {code: "es", name: "Español"}, {code: "fr", name: "Français"},
               {code: "de", name: "Deutsch"}];
// Labels and hints: the catalogue's "rt.mode.<value>" and "rt.mode.<value>.hint".
const MODES = ["manual", "auto"];

/** A weekday's name in the dashboard's language ("Monday", "lunes" → "Lunes"), from Intl. */
function weekdayName(index) {
  const name = formatDate(new Date(Date.UTC(2025, 0, 6 + index)), {weekday: "long", timeZone: "UTC"});
  return name.charAt(0).toLocaleUpperCase() + name.slice(1);
}
const MAX_INTERVALS = 4;
const MAX_HOLIDAYS = 100;
const MAX_AWAY = 500;
const DEFAULT_ALERT_SECS = 300;
const MIN_ALERT_SECS = 30;
const MAX_ALERT_SECS = 86400;
const TIME_RE = /^([01]\d|2[0-3]):[0-5]\d$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

function browserZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (err) {
    return "UTC";
  }
}

function zones(extra) {
  let list = [];
  try {
    if (typeof Intl.supportedValuesOf === "function") list = Intl.supportedValuesOf("timeZone");
  } catch (err) {
    list = [];
  }
  return [...new Set(["UTC", ...extra.filter(Boolean), ...list])].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1
    : a.localeCompare(b)));
}

/** An interval's end as the server has it: a time input cannot say 24:00, so 00:00 as an end is midnight. */
const endOut = (v) => (v === "00:00" ? "24:00" : v);
const endIn = (v) => (v === "24:00" ? "00:00" : v);

/** The stored settings, defaults filled in. */
function fromServer(settings) {
  const bh = settings.business_hours && typeof settings.business_hours === "object" ? settings.business_hours : {};
  const weekly = bh.weekly && typeof bh.weekly === "object" ? bh.weekly : {};
  const away = bh.away_messages && typeof bh.away_messages === "object" ? bh.away_messages : {};
  return {
    mode: settings.routing === "auto" ? "auto" : "manual",
    alertSecs: Number.isInteger(settings.queue_alert_secs) ? settings.queue_alert_secs : DEFAULT_ALERT_SECS,
    bh: {
      enabled: !!bh.enabled,
      timezone: typeof bh.timezone === "string" && bh.timezone ? bh.timezone : "UTC",
      weekly: Object.fromEntries(DAYS.map(([day]) => [day, (Array.isArray(weekly[day]) ? weekly[day] : [])
        .filter((iv) => Array.isArray(iv) && iv.length === 2).map(([a, b]) => [String(a), String(b)])])),
      holidays: (Array.isArray(bh.holidays) ? bh.holidays : []).map(String).sort(),
      away: Object.fromEntries(LANGS.map((l) => [l.code, typeof away[l.code] === "string" ? away[l.code] : ""])),
    },
  };
}

/** Never set up (off, UTC, no hours, no holidays): the form starts in the browser's time zone. */
function neverSetUp(v) {
  return !v.bh.enabled && v.bh.timezone === "UTC" && !v.bh.holidays.length
    && DAYS.every(([day]) => !v.bh.weekly[day].length);
}

/** "6 min", "30 s", "1.5 min" for the threshold hint. */
function minutesText(secs) {
  const m = secs / 60;
  return Number.isInteger(m) ? m + " min" : secs < 60 ? secs + " s" : (Math.round(m * 100) / 100) + " min";
}

export async function render(ctx) {
  const {app, root, api, toast, h, setDirty} = ctx;
  // The weekdays with their names in the dashboard's language (the module's DAYS: the codes).
  const DAYS = DAY_CODES.map((day, i) => [day, weekdayName(i)]);
  const [res, routingNow] = await Promise.all([api("GET", "/tenant"),
                                              api("GET", "/routing").catch(() => null)]);
  let server = fromServer(res.settings || {});
  let baseline = JSON.parse(JSON.stringify(server));
  if (neverSetUp(server)) baseline.bh.timezone = browserZone();
  let destroyed = false;

  const errorFor = (id) => h("p", {id, class: "error-text sp-error", role: "alert"});

  // ---- now: open or closed ---------------------------------------------------------------------------
  const openLine = h("p", {id: "rt-open", class: "rt-open", role: "status"});
  function paintOpen(doc) {
    if (!doc || typeof doc.open !== "boolean") {
      openLine.hidden = true;
      return;
    }
    openLine.hidden = false;
    openLine.dataset.open = doc.open ? "true" : "false";
    openLine.textContent = t(!server.bh.enabled ? "rt.open.always" : doc.open ? "rt.open.now" : "rt.closed.now");
  }

  // ---- assignment ----------------------------------------------------------------------------------------
  const modeInputs = MODES.map((m) => h("input", {type: "radio", name: "rt-mode", id: "rt-mode-" + m,
                                                  value: m, "aria-describedby": "rt-mode-" + m + "-hint"}));
  const modeErr = errorFor("rt-mode-error");
  const alertMinutes = h("input", {id: "rt-alert", type: "number", min: String(MIN_ALERT_SECS / 60),
                                   max: String(MAX_ALERT_SECS / 60), step: "any", inputmode: "decimal", required: true,
                                   "aria-describedby": "rt-alert-hint rt-alert-error"});
  const alertErr = errorFor("rt-alert-error");
  const assignCard = h("section", {class: "st-card", "aria-labelledby": "rt-assign-title"},
    h("h4", {id: "rt-assign-title"}, t("rt.assignment")),
    h("fieldset", {class: "sp-fieldset"},
      h("legend", null, t("rt.mode")),
      MODES.map((m, i) => h("label", {class: "sp-choice", for: "rt-mode-" + m}, modeInputs[i],
        h("span", null, h("strong", null, t("rt.mode." + m)),
          h("span", {class: "muted small sp-block", id: "rt-mode-" + m + "-hint"}, t("rt.mode." + m + ".hint"))))),
      modeErr),
    h("div", {class: "sp-field"},
      h("label", {for: "rt-alert"}, t("rt.alert")),
      h("p", {class: "sp-hint muted", id: "rt-alert-hint"}, t("rt.alert.hint", {min: formatNumber(0.5), max: 1440})),
      h("div", {class: "rt-alert-row"}, alertMinutes, h("span", {class: "muted small"}, t("rt.minutes"))),
      alertErr));

  // ---- business hours ---------------------------------------------------------------------------------------
  const enabled = h("input", {type: "checkbox", id: "rt-bh-enabled", role: "switch", class: "switch-input"});
  const tzList = zones([server.bh.timezone, baseline.bh.timezone]);
  const tz = h("select", {id: "rt-timezone", "aria-describedby": "rt-timezone-error"},
               tzList.map((z) => h("option", {value: z}, z.replace(/_/g, " "))));
  const tzErr = errorFor("rt-timezone-error");
  const hoursErr = errorFor("rt-hours-error");
  const days = {};
  const dayRows = DAYS.map(([day, label]) => {
    const list = h("ul", {class: "rt-intervals", id: "rt-day-" + day + "-list", "aria-label": t("rt.day.hours", {day: label})});
    const closed = h("p", {class: "rt-closed muted small"}, t("rt.closed"));
    const add = h("button", {type: "button", class: "rt-add", id: "rt-add-" + day,
                             "aria-label": t("rt.add_hours.label", {day: label})}, "+ " + t("rt.add_hours"));
    const err = errorFor("rt-day-" + day + "-error");
    days[day] = {list, closed, add, err, label};
    add.addEventListener("click", () => {
      const rows = intervalRows(day);
      const last = rows.length ? rows[rows.length - 1] : null;
      const from = last && TIME_RE.test(last.to.value) && last.to.value !== "00:00" ? last.to.value : "09:00";
      const row = addInterval(day, [from, from < "17:00" ? "17:00" : "00:00"]);
      row.from.focus();
      changed();
    });
    return h("div", {class: "rt-day", dataset: {day}},
      h("div", {class: "rt-day-name", id: "rt-day-" + day + "-name"}, label),
      h("div", {class: "rt-day-body"}, list, closed, add, err));
  });

  function intervalRows(day) {
    return [...days[day].list.querySelectorAll(".rt-interval")].map((li) => ({
      li, from: li.querySelector(".rt-from"), to: li.querySelector(".rt-to"),
    }));
  }

  function paintDay(day) {
    const d = days[day];
    const n = d.list.children.length;
    d.closed.hidden = n > 0;
    d.add.hidden = n >= MAX_INTERVALS;
    [...d.list.children].forEach((li, i) => {
      const what = t("rt.period", {day: d.label, n: i + 1});
      li.querySelector(".rt-from").setAttribute("aria-label", t("rt.period.from", {what}));
      li.querySelector(".rt-to").setAttribute("aria-label", t("rt.period.to", {what}));
      li.querySelector(".rt-remove").setAttribute("aria-label", t("rt.remove", {what}));
    });
  }

  function addInterval(day, [from, to]) {
    const d = days[day];
    const fromInput = h("input", {type: "time", class: "rt-from", value: from || "", required: true});
    const toInput = h("input", {type: "time", class: "rt-to", value: to ? endIn(to) : "", required: true});
    const remove = h("button", {type: "button", class: "ghost icon-btn rt-remove", title: t("remove")}, "✕");
    const li = h("li", {class: "rt-interval"}, fromInput, h("span", {class: "rt-dash", "aria-hidden": "true"}, "–"),
                 toInput, remove);
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      paintDay(day);
      setText(d.err, "");
      (next ? next.querySelector(".rt-from") : d.add).focus();
      changed();
    });
    d.list.append(li);
    paintDay(day);
    return {li, from: fromInput, to: toInput};
  }

  const holidayList = h("ul", {id: "rt-holidays", class: "rt-holidays", "aria-label": t("rt.holidays")});
  const holidayNone = h("p", {class: "muted small rt-none"}, t("rt.holidays.none"));
  const holidayAdd = h("button", {type: "button", id: "rt-holiday-add", class: "rt-add"}, "+ " + t("rt.holidays.add"));
  const holidayErr = errorFor("rt-holidays-error");
  function paintHolidays() {
    const n = holidayList.children.length;
    holidayNone.hidden = n > 0;
    holidayAdd.hidden = n >= MAX_HOLIDAYS;
    [...holidayList.children].forEach((li, i) => {
      li.querySelector(".rt-holiday").setAttribute("aria-label", t("rt.holiday", {n: i + 1}));
      li.querySelector(".rt-remove").setAttribute("aria-label", t("rt.holiday.remove", {n: i + 1}));
    });
  }
  function addHoliday(value) {
    const input = h("input", {type: "date", class: "rt-holiday", value: value || "", required: true});
    const remove = h("button", {type: "button", class: "ghost icon-btn rt-remove", title: t("remove")}, "✕");
    const li = h("li", {class: "rt-holiday-row"}, input, remove);
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      paintHolidays();
      setText(holidayErr, "");
      (next ? next.querySelector(".rt-holiday") : holidayAdd).focus();
      changed();
    });
    holidayList.append(li);
    paintHolidays();
    return input;
  }
  holidayAdd.addEventListener("click", () => {
    addHoliday("").focus();
    changed();
  });

  const away = {};
  const awayFields = LANGS.map((l) => {
    away[l.code] = h("textarea", {id: "rt-away-" + l.code, rows: "2", maxlength: String(MAX_AWAY), lang: l.code,
                                  placeholder: t("rt.away.placeholder")});
    return h("div", {class: "sp-field"}, h("label", {for: "rt-away-" + l.code}, l.name), away[l.code]);
  });
  const awayErr = errorFor("rt-away-error");

  const hoursCard = h("section", {class: "st-card", "aria-labelledby": "rt-hours-title"},
    h("h4", {id: "rt-hours-title"}, t("rt.hours")),
    h("label", {class: "sp-switch", for: "rt-bh-enabled"},
      h("span", null, h("strong", null, t("rt.hours.use")),
        h("span", {class: "muted small sp-block"}, t("rt.hours.use.hint"))),
      h("span", {class: "switch"}, enabled, h("span", {class: "switch-track", "aria-hidden": "true"}))),
    h("div", {class: "sp-field rt-tz"},
      h("label", {for: "rt-timezone"}, t("rt.timezone")), tz, tzErr),
    h("fieldset", {class: "sp-fieldset", "aria-describedby": "rt-hours-hint rt-hours-error"},
      h("legend", null, t("rt.opening")),
      h("p", {class: "sp-hint muted", id: "rt-hours-hint"}, t("rt.opening.hint", {count: MAX_INTERVALS})),
      hoursErr,
      h("div", {class: "rt-week"}, dayRows)),
    h("fieldset", {class: "sp-fieldset", "aria-describedby": "rt-holidays-hint"},
      h("legend", null, t("rt.holidays")),
      h("p", {class: "sp-hint muted", id: "rt-holidays-hint"}, t("rt.holidays.hint")),
      holidayList, holidayNone, holidayAdd, holidayErr));

  const awayCard = h("section", {class: "st-card", "aria-labelledby": "rt-away-title"},
    h("h4", {id: "rt-away-title"}, t("rt.away")),
    h("p", {class: "sp-hint muted"}, t("rt.away.hint", {count: MAX_AWAY})),
    awayFields, awayErr);

  const saveBtn = h("button", {id: "rt-save", class: "primary", type: "submit"}, t("save"));
  const status = h("p", {id: "rt-status", class: "st-form-status", role: "status"});
  const formErr = h("p", {id: "rt-error", class: "error-text rt-form-error", role: "alert"});
  const form = h("form", {id: "rt-form", class: "sp-form rt-form", novalidate: true},
    openLine, formErr, assignCard, hoursCard, awayCard,
    h("div", {class: "st-actions sp-sticky-actions"}, status, saveBtn));
  root.append(form);

  // ---- state --------------------------------------------------------------------------------------------
  function fill(v) {
    for (const input of modeInputs) input.checked = input.value === v.mode;
    alertMinutes.value = String(Math.round(v.alertSecs / 60 * 100) / 100);
    enabled.checked = v.bh.enabled;
    if (![...tz.options].some((o) => o.value === v.bh.timezone)) tz.append(h("option", {value: v.bh.timezone},
                                                                               v.bh.timezone));
    tz.value = v.bh.timezone;
    for (const [day] of DAYS) {
      days[day].list.replaceChildren();
      for (const iv of v.bh.weekly[day]) addInterval(day, iv);
      paintDay(day);
    }
    holidayList.replaceChildren();
    for (const d of v.bh.holidays) addHoliday(d);
    paintHolidays();
    for (const l of LANGS) away[l.code].value = v.bh.away[l.code];
  }

  /** The form's values (times as the server has them; unparsable ones kept, for the checks to name). */
  function current() {
    const checked = modeInputs.find((i) => i.checked);
    const minutes = Number(alertMinutes.value);
    return {
      mode: checked ? checked.value : "manual",
      alertSecs: alertMinutes.value.trim() && Number.isFinite(minutes) ? Math.round(minutes * 60) : NaN,
      bh: {
        enabled: enabled.checked,
        timezone: tz.value,
        weekly: Object.fromEntries(DAYS.map(([day]) => [day, intervalRows(day)
          .map((r) => [r.from.value, r.to.value ? endOut(r.to.value) : ""])
          .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))])),
        holidays: [...new Set([...holidayList.querySelectorAll(".rt-holiday")].map((i) => i.value))].sort(),
        away: Object.fromEntries(LANGS.map((l) => [l.code, away[l.code].value.trim()])),
      },
    };
  }

  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  function changed() {
    if (destroyed) return;
    const dirty = !same(current(), baseline);
    setDirty(dirty);
    if (dirty) setStatus("");
  }

  function setStatus(text, kind = "") {
    status.textContent = text;
    status.dataset.kind = kind;
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function clearErrors() {
    for (const el of form.querySelectorAll(".sp-error")) el.textContent = "";
    formErr.textContent = "";
  }

  /** The checks the server makes too, said next to the field; the first field in error, or null. */
  function check(v) {
    let first = null;
    const fail = (el, text, focus) => {
      if (!el.textContent) el.textContent = text;
      if (!first) first = focus;
    };
    if (!Number.isFinite(v.alertSecs) || v.alertSecs < MIN_ALERT_SECS || v.alertSecs > MAX_ALERT_SECS) {
      fail(alertErr, t("rt.alert.invalid", {min: formatNumber(0.5), max: 1440}), alertMinutes);
    }
    for (const [day, label] of DAYS) {
      const rows = intervalRows(day);
      const ivs = v.bh.weekly[day];
      const err = days[day].err;
      const bad = rows.find((r) => !TIME_RE.test(r.from.value) || !TIME_RE.test(r.to.value));
      if (bad) {
        fail(err, t("rt.err.both", {day: label}), TIME_RE.test(bad.from.value) ? bad.to : bad.from);
        continue;
      }
      const backwards = rows.find((r) => r.from.value >= endOut(r.to.value));
      if (backwards) {
        fail(err, t("rt.err.backwards", {day: label, period: backwards.from.value + "–" + backwards.to.value}),
             backwards.to);
        continue;
      }
      for (let i = 1; i < ivs.length; i++) {
        if (ivs[i][0] < ivs[i - 1][1]) {
          fail(err, t("rt.err.overlap", {day: label, a: ivs[i - 1][0] + "–" + endIn(ivs[i - 1][1]),
                                         b: ivs[i][0] + "–" + endIn(ivs[i][1])}), rows[0].from);
          break;
        }
      }
    }
    const dates = [...holidayList.querySelectorAll(".rt-holiday")];
    const emptyDate = dates.find((i) => !DATE_RE.test(i.value));
    if (emptyDate) fail(holidayErr, t("rt.err.holiday"), emptyDate);
    return first;
  }

  /** Only what differs from the server's settings (business_hours key by key, weekly day by day). */
  function changes(v) {
    const body = {};
    if (v.mode !== server.mode) body.routing = v.mode;
    if (v.alertSecs !== server.alertSecs) body.queue_alert_secs = v.alertSecs;
    const bh = {};
    if (v.bh.enabled !== server.bh.enabled) bh.enabled = v.bh.enabled;
    if (v.bh.timezone !== server.bh.timezone) bh.timezone = v.bh.timezone;
    const weekly = {};
    for (const [day] of DAYS) if (!same(v.bh.weekly[day], server.bh.weekly[day])) weekly[day] = v.bh.weekly[day];
    if (Object.keys(weekly).length) bh.weekly = weekly;
    if (!same(v.bh.holidays, server.bh.holidays)) bh.holidays = v.bh.holidays;
    const awayChanged = {};
    for (const l of LANGS) if (v.bh.away[l.code] !== server.bh.away[l.code]) awayChanged[l.code] = v.bh.away[l.code];
    if (Object.keys(awayChanged).length) bh.away_messages = awayChanged;
    if (Object.keys(bh).length) body.business_hours = bh;
    return body;
  }

  /** The server's refusal next to the field it is about (its own words), or at the top of the form. */
  function showError(err) {
    const code = err.code || "";
    const message = err.status === 0 ? t("pf.offline_not_saved")
      : err.message || t("sp.save_error");
    let target = formErr;
    let focus = null;
    const day = DAYS.find(([d]) => new RegExp("\\b" + d + "\\b", "i").test(message));
    if (code === "invalid_timezone" || /time ?zone/i.test(message)) [target, focus] = [tzErr, tz];
    else if (code === "invalid_holiday" || /holiday/i.test(message)) [target, focus] = [holidayErr, holidayAdd];
    else if ((code === "invalid_hours" || /weekly|interval/i.test(message)) && day) {
      target = days[day[0]].err;
      focus = days[day[0]].list.querySelector("input") || days[day[0]].add;
    } else if (code === "invalid_hours" || /weekly|interval/i.test(message)) target = hoursErr;
    else if (/queue_alert|alert/i.test(message)) [target, focus] = [alertErr, alertMinutes];
    else if (/away/i.test(message)) target = awayErr;
    else if (/routing|mode/i.test(message)) [target, focus] = [modeErr, modeInputs.find((i) => i.checked)];
    target.textContent = message;
    if (target !== formErr && err.status !== 0) formErr.textContent = t(target === tzErr
      ? "rt.not_saved.timezone" : target === holidayErr ? "rt.not_saved.holidays" : target === alertErr
        ? "rt.not_saved.alert" : target === awayErr ? "rt.not_saved.away" : target === modeErr ? "rt.not_saved.mode"
          : "rt.not_saved.hours");
    if (focus) focus.focus();
    else target.scrollIntoView({block: "nearest"});
  }

  async function refreshOpen() {
    try {
      const doc = await api("GET", "/routing");
      if (destroyed) return;
      takeRouting(app, doc);
      paintOpen(doc);
    } catch (err) { /* the line stays as it was */ }
  }

  // ---- events ----------------------------------------------------------------------------------------------
  form.addEventListener("input", (ev) => {
    const dayBox = ev.target.closest(".rt-day");
    if (dayBox) setText(days[dayBox.dataset.day].err, "");
    else if (ev.target === alertMinutes) setText(alertErr, "");
    else if (ev.target.classList.contains("rt-holiday")) setText(holidayErr, "");
    changed();
  });
  form.addEventListener("change", (ev) => {
    if (ev.target === tz) setText(tzErr, "");
    changed();
  });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors();
    const v = current();
    const invalid = check(v);
    if (invalid) {
      setStatus(t("sp.not_saved"), "error");
      formErr.textContent = t("sp.not_saved.fields");
      invalid.focus();
      return;
    }
    const body = changes(v);
    if (!Object.keys(body).length) {
      baseline = v;
      setDirty(false);
      setStatus(t("pf.nothing"));
      return;
    }
    saveBtn.disabled = true;
    saveBtn.textContent = t("saving");
    setStatus(t("saving"), "saving");
    try {
      const out = await api("PATCH", "/tenant", body);
      if (destroyed) return;
      const settings = out && out.settings ? out.settings : null;
      server = settings && settings.business_hours ? fromServer(settings) : v;
      baseline = JSON.parse(JSON.stringify(server));
      fill(server);
      setDirty(!same(current(), baseline));
      setStatus(t("sp.saved"), "saved");
      toast(t("rt.saved"));
      refreshOpen();
    } catch (err) {
      if (destroyed) return;
      setStatus(t("sp.not_saved"), "error");
      showError(err);
    } finally {
      saveBtn.disabled = false;
      saveBtn.textContent = t("save");
    }
  });

  // A routing frame (another admin switched the mode, hours began or ended…): the open line follows.
  const onRouting = (ev) => paintOpen(ev.detail && ev.detail.routing);
  window.addEventListener("callcenter:routing", onRouting);

  fill(baseline);
  paintOpen(routingNow);

  return {
    destroy() {
      destroyed = true;
      window.removeEventListener("callcenter:routing", onRouting);
    },
  };
}
