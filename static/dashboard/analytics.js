// The Analytics view: GET /api/v1/analytics over a range of the agent's own days (presets or
// custom dates), shown as cards (totals, response and resolution times), a chart of conversations
// started and resolved per day, one of conversations started per hour, the customers' ratings (average,
// share satisfied, how many of each score), conversations per label, and a table per agent.
// Charts are plain elements sized with CSS; every bar has a text equivalent (title and aria-label)
// and each chart can be shown as a table. Everything from the server is put in the page as text.

import {api, ApiError, query} from "./api.js";
import {$, clear, h, setText} from "./dom.js";
import {formatDate, formatNumber, formatPercent, formatTime, t} from "./i18n.js";
import {labelChip} from "./labels.js";

const RANGE_KEY = "cc.dashboard.analytics.range";
const PRESETS = {today: 1, 7: 7, 30: 30, 90: 90};
const DEFAULT_PRESET = "7";

/** The browser's IANA time zone ("Europe/Berlin"), or null where it cannot tell. */
function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch (err) {
    return null;
  }
}

// ---- formatting --------------------------------------------------------------------------

/** Seconds as a short human duration: "0.8 s", "42 s", "3 min 5 s", "1 h 2 min", "2 d 3 h"; "—" for null.
 *  (Numbers and unit words in the dashboard's language: "0,8 s", "2 j 3 h".) */
export function fmtSecs(secs) {
  if (secs === null || secs === undefined || !isFinite(secs)) return "—";
  const value = Math.max(0, Number(secs));
  const n = (x) => ({n: formatNumber(x, {maximumFractionDigits: 1})});
  if (value < 9.95) return t("dur.s", n(Math.round(value * 10) / 10));
  const total = Math.round(value);
  if (total < 60) return t("dur.s", n(total));
  if (total < 3600) {
    const m = Math.floor(total / 60), s = total % 60;
    return t("dur.min", n(m)) + (s ? " " + t("dur.s", n(s)) : "");
  }
  if (total < 86400) {
    const hrs = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60);
    return t("dur.h", n(hrs)) + (m ? " " + t("dur.min", n(m)) : "");
  }
  const days = Math.floor(total / 86400), hrs = Math.floor((total % 86400) / 3600);
  return t("dur.d", n(days)) + (hrs ? " " + t("dur.h", n(hrs)) : "");
}

const fmtCount = (n) => formatNumber(Number(n || 0));

/** An average rating: "4.3"; "—" when there is none. */
const fmtAverage = (avg) => (avg === null || avg === undefined ? "—"
  : formatNumber(Number(avg), {minimumFractionDigits: 1, maximumFractionDigits: 1}));

function pct(part, whole) {
  if (!whole) return "—";
  return formatPercent(part / whole);
}

/** A YYYY-MM-DD of the local calendar. */
export function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate());
}

/** The local days of a preset: {from, to} (both included, ending today). */
export function presetRange(preset, now = new Date()) {
  const days = PRESETS[preset] || 7;
  const first = new Date(now.getFullYear(), now.getMonth(), now.getDate() - (days - 1));
  return {from: isoDay(first), to: isoDay(now)};
}

/** A YYYY-MM-DD as a Date at UTC midnight (formatted with timeZone UTC: no shift by the zone). */
function utcDay(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

function fmtDay(iso, opts) {
  return formatDate(utcDay(iso), Object.assign({timeZone: "UTC"}, opts));
}

function fmtRange(range) {
  const sameYear = range.from.slice(0, 4) === range.to.slice(0, 4);
  const last = fmtDay(range.to, {year: "numeric", month: "short", day: "numeric"});
  const days = t("an.days", {count: range.days});
  if (range.from === range.to) return last + " · " + days;
  const first = fmtDay(range.from, sameYear ? {month: "short", day: "numeric"}
    : {year: "numeric", month: "short", day: "numeric"});
  return first + " – " + last + " · " + days;
}

const pad2 = (n) => String(n).padStart(2, "0");

/** A translated sentence with elements in it: "{pct} satisfied · {n} ratings" → [node, " satisfied · ", node, …]. */
function fill(text, nodes) {
  return text.split(/(\{\w+\})/).map((part) => {
    const m = part.match(/^\{(\w+)\}$/);
    return m && nodes[m[1]] ? nodes[m[1]] : part;
  }).filter((part) => part !== "");
}

/** The top of a chart's scale: 1, 2, 5, 10, 20, 50, … at least `max`. */
function niceMax(max) {
  if (max <= 5) return Math.max(1, max);
  const pow = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * pow >= max) return step * pow;
  }
  return 10 * pow;
}

// ---- the view --------------------------------------------------------------------------------

export class AnalyticsView {
  constructor(app) {
    this.app = app;
    this.el = {
      root: $("analytics"), title: $("analytics-title"), rangeLabel: $("an-range-label"), from: $("an-from"),
      to: $("an-to"), custom: $("an-custom"), refresh: $("an-refresh"), status: $("an-status"), error: $("an-error"),
      errorText: $("an-error-text"), retry: $("an-retry"), empty: $("an-empty"), body: $("an-body"),
      totals: $("an-totals"), durations: $("an-durations"), days: $("an-days"), hours: $("an-hours"),
      agents: $("an-agents"), csat: $("an-csat"), labels: $("an-labels"),
    };
    this.presetButtons = [...this.el.root.querySelectorAll("[data-preset]")];
    this.gen = 0;
    this.controller = null;
    this.data = null;
    this.visible = false;
    this.customTimer = null;
    this._restoreRange();
    this._bind();
  }

  _bind() {
    for (const btn of this.presetButtons) {
      btn.addEventListener("click", () => this.setPreset(btn.dataset.preset));
    }
    const onDate = () => {
      this.range = {preset: null, from: this.el.from.value, to: this.el.to.value};
      this._paintRangeControls();
      this._saveRange();
      // Typing a date fires a change per complete date: wait for the agent to finish.
      clearTimeout(this.customTimer);
      this.customTimer = setTimeout(() => this.load(), 350);
    };
    this.el.from.addEventListener("change", onDate);
    this.el.to.addEventListener("change", onDate);
    this.el.custom.addEventListener("submit", (ev) => {
      ev.preventDefault();
      clearTimeout(this.customTimer);
      this.load();
    });
    this.el.refresh.addEventListener("click", () => this.load());
    this.el.retry.addEventListener("click", () => this.load());
  }

  _restoreRange() {
    let saved = null;
    try { saved = JSON.parse(sessionStorage.getItem(RANGE_KEY) || "null"); } catch (e) { saved = null; }
    if (saved && saved.preset && PRESETS[saved.preset]) this.range = {preset: saved.preset};
    else if (saved && typeof saved.from === "string" && typeof saved.to === "string") {
      this.range = {preset: null, from: saved.from, to: saved.to};
    } else this.range = {preset: DEFAULT_PRESET};
  }

  _saveRange() {
    try {
      sessionStorage.setItem(RANGE_KEY, JSON.stringify(this.range.preset ? {preset: this.range.preset} : this.range));
    } catch (e) { /* storage off: the range lasts as long as the page */ }
  }

  /** from/to of the current range (a preset counts from today, so it moves on at midnight). */
  _dates() {
    return this.range.preset ? presetRange(this.range.preset) : {from: this.range.from, to: this.range.to};
  }

  _paintRangeControls() {
    for (const btn of this.presetButtons) {
      const on = btn.dataset.preset === this.range.preset;
      btn.classList.toggle("active", on);
      btn.setAttribute("aria-pressed", on ? "true" : "false");
    }
    const {from, to} = this._dates();
    if (this.el.from.value !== from) this.el.from.value = from || "";
    if (this.el.to.value !== to) this.el.to.value = to || "";
  }

  setPreset(preset) {
    if (!PRESETS[preset]) return;
    clearTimeout(this.customTimer);
    this.range = {preset};
    this._saveRange();
    this.load();
  }

  show() {
    this.visible = true;
    this.el.root.hidden = false;
    this.load();
  }

  hide() {
    this.visible = false;
    this.el.root.hidden = true;
    clearTimeout(this.customTimer);
    if (this.controller) {
      // Left while loading: that answer is not waited for (showing the view again loads afresh).
      this.controller.abort();
      this.gen++;
      this._finish();
      this.el.root.dataset.state = "idle";
    }
  }

  /** Signed out: nothing of this agent's numbers stays in the page. */
  reset() {
    this.hide();
    this.gen++;
    this.data = null;
    this.range = {preset: DEFAULT_PRESET};
    try { sessionStorage.removeItem(RANGE_KEY); } catch (e) { /* ignore */ }
    this._clearBody();
    this.el.body.hidden = true;
    this.el.empty.hidden = true;
    this.el.error.hidden = true;
    setText(this.el.status, "");
    setText(this.el.rangeLabel, "");
    this.el.root.dataset.state = "idle";
  }

  async load() {
    clearTimeout(this.customTimer);
    this._paintRangeControls();
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    const gen = ++this.gen;
    const {from, to} = this._dates();
    // The zone, not just today's offset: a range across a daylight-saving change keeps local days.
    const params = {from, to, utc_offset_minutes: -new Date().getTimezoneOffset(), tz: browserTimeZone()};
    this.el.root.dataset.state = "loading";
    this.el.root.setAttribute("aria-busy", "true");
    this.el.body.classList.add("stale");
    setText(this.el.status, t("loading"));
    this.el.error.hidden = true;
    let data;
    try {
      data = await api("GET", "/analytics" + query(params), undefined, {signal: controller.signal});
    } catch (err) {
      if (gen !== this.gen || (err && err.name === "AbortError")) return;
      this._finish();
      this.el.root.dataset.state = "error";
      setText(this.el.status, "");
      setText(this.el.errorText, err instanceof ApiError ? err.message : t("an.error"));
      this.el.error.hidden = false;
      this.el.body.hidden = true;
      this.el.empty.hidden = true;
      this._clearBody();
      return;
    }
    if (gen !== this.gen) return;
    this._finish();
    this.render(data);
  }

  /** No cards, charts or table rows: the empty and error states leave none of an earlier range's
   *  numbers behind (hidden, they would still be in the page for screen readers and queries). */
  _clearBody() {
    for (const box of [this.el.totals, this.el.durations, this.el.days, this.el.hours, this.el.agents,
                       this.el.csat, this.el.labels]) clear(box);
    delete this.el.days.dataset.count;
    this.el.days.classList.remove("dense");
  }

  _finish() {
    this.controller = null;
    this.el.root.removeAttribute("aria-busy");
    this.el.body.classList.remove("stale");
  }

  render(data) {
    this.data = data;
    const tot = data.totals;
    // A rating given in the range counts even when its conversation started before it.
    const empty = !tot.conversations && !tot.resolved_in_range && !(data.ratings && data.ratings.count);
    setText(this.el.rangeLabel, fmtRange(data.range));
    this.el.rangeLabel.dataset.from = data.range.from;
    this.el.rangeLabel.dataset.to = data.range.to;
    this.el.error.hidden = true;
    this.el.empty.hidden = !empty;
    this.el.body.hidden = empty;
    this.el.root.dataset.state = empty ? "empty" : "ready";
    setText(this.el.status, empty ? "" : t("an.updated", {time: formatTime(new Date(), {hour: "2-digit",
                                                                                         minute: "2-digit"})}));
    if (empty) {
      // Nothing to draw, and nothing of the range shown before may stay (the previous days' groups).
      this._clearBody();
      return;
    }
    this._renderTotals(tot);
    this._renderDurations(data);
    this._renderRatings(data.ratings);
    this._renderLabels(data.labels || [], tot.conversations);
    this._renderDays(data.by_day);
    this._renderHours(data.by_hour);
    this._renderAgents(data.agents);
  }

  // ---- cards ----------------------------------------------------------------------------

  _card(metric, label, value, sub, extra) {
    return h("div", {class: "an-card", dataset: {metric}},
      h("div", {class: "an-card-label", text: label}),
      h("div", {class: "an-card-value", text: value}),
      sub ? h("div", {class: "an-card-sub", text: sub}) : null,
      extra || null);
  }

  _renderTotals(tot) {
    const answered = tot.conversations - tot.unanswered;
    clear(this.el.totals).append(
      this._card("conversations", t("an.conversations"), fmtCount(tot.conversations), t("an.conversations.sub")),
      this._card("resolved", t("an.resolved"), fmtCount(tot.resolved),
                 tot.conversations ? t("an.resolved.sub", {pct: pct(tot.resolved, tot.conversations)})
                   : t("an.resolved.none")),
      this._card("unanswered", t("an.unanswered"), fmtCount(tot.unanswered), t("an.unanswered.sub")),
      this._card("answered_by_ai_first", t("an.ai_first"), fmtCount(tot.answered_by_ai_first),
                 answered ? t("an.ai_first.sub", {pct: pct(tot.answered_by_ai_first, answered)})
                   : t("an.ai_first.none")),
      this._card("handed_off", t("an.handed_off"), fmtCount(tot.handed_off), t("an.handed_off.sub")),
      this._card("resolved_in_range", t("an.resolved_in_range"), fmtCount(tot.resolved_in_range),
                 t("an.resolved_in_range.sub")));
  }

  _renderDurations(data) {
    const card = (metric, label, stats, what) => {
      const dl = h("dl", {class: "an-stats"},
        h("dt", {text: t("an.p90")}), h("dd", {dataset: {stat: "p90"}, text: fmtSecs(stats.p90)}),
        h("dt", {text: t("an.mean")}), h("dd", {dataset: {stat: "mean"}, text: fmtSecs(stats.mean)}),
        h("dt", {text: t("an.of")}), h("dd", {dataset: {stat: "count"}, text: what(stats.count)}));
      const el = this._card(metric, label, fmtSecs(stats.p50), t("an.median"), dl);
      el.querySelector(".an-card-value").dataset.stat = "p50";
      return el;
    };
    clear(this.el.durations).append(
      card("first_response_secs", t("an.first_response"), data.first_response_secs,
           (count) => t("an.count.answered", {count})),
      card("first_agent_response_secs", t("an.first_agent_response"), data.first_agent_response_secs,
           (count) => t("an.count.answered_person", {count})),
      card("resolution_secs", t("an.resolution"), data.resolution_secs,
           (count) => t("an.count.resolved", {count})));
  }

  // ---- satisfaction and labels -----------------------------------------------------------

  /** Horizontal bars: rows = [{key, head (nodes), n, text (the numbers beside the bar)}], widths against the
   *  largest n. */
  _hbars(caption, rows, fillClass) {
    const max = Math.max(1, ...rows.map((r) => r.n));
    return h("ol", {class: "an-hbars", "aria-label": caption}, rows.map((r) => {
      const fill = h("span", {class: "an-fill " + fillClass});
      fill.style.width = r.n ? Math.max(1.5, (100 * r.n) / max) + "%" : "0";
      return h("li", {class: "an-hbar-row", dataset: {key: r.key, value: r.n}},
        h("span", {class: "an-hbar-head"}, r.head),
        h("span", {class: "an-track", "aria-hidden": "true"}, fill),
        h("span", {class: "an-hbar-n", text: r.text}));
    }));
  }

  _renderRatings(ratings) {
    const box = clear(this.el.csat);
    const r = ratings || {count: 0, average: null, distribution: {}};
    if (!r.count) {
      box.appendChild(h("p", {class: "muted an-none", text: t("an.ratings.none")}));
      return;
    }
    const dist = r.distribution || {};
    const score = (s) => Number(dist[String(s)] || 0);
    const satisfied = score(4) + score(5);
    box.append(
      h("div", {class: "an-csat-summary"},
        h("span", {class: "an-card-value", dataset: {stat: "average"}}, fmtAverage(r.average),
          h("span", {class: "an-csat-of", text: " / 5"})),
        h("span", {class: "an-card-sub"},
          ...fill(t("an.ratings.summary", {count: r.count}), {
            pct: h("span", {dataset: {stat: "satisfied"}, text: pct(satisfied, r.count)}),
            n: h("span", {dataset: {stat: "count"}, text: fmtCount(r.count)}),
          }))),
      this._hbars(t("an.ratings.by_score"), [5, 4, 3, 2, 1].map((s) => ({
        key: String(s), n: score(s), text: fmtCount(score(s)) + " · " + pct(score(s), r.count),
        head: [formatNumber(s), h("span", {class: "an-star", "aria-hidden": "true", text: " ★"}),
               h("span", {class: "sr-only", text: " " + t("an.stars", {count: s}) + ":"})],
      })), "star"));
  }

  /** The tenant's labels were loaded again (their colours): the per-label bars are drawn with them. */
  labelsChanged() {
    if (this.data && this.el.root.dataset.state === "ready") {
      this._renderLabels(this.data.labels || [], this.data.totals.conversations);
    }
  }

  _renderLabels(labels, conversations) {
    const box = clear(this.el.labels);
    const used = labels.filter((l) => l.conversations > 0)
      .sort((a, b) => b.conversations - a.conversations || a.name.localeCompare(b.name));
    if (!used.length) {
      box.appendChild(h("p", {class: "muted an-none", text: t("an.labels.none")}));
      return;
    }
    box.appendChild(this._hbars(t("an.labels.caption"), used.map((l) => ({
      key: l.name, n: l.conversations, head: labelChip(this.app, l.name),
      text: fmtCount(l.conversations) + " · " + pct(l.conversations, conversations),
    })), "label"));
  }

  // ---- charts ---------------------------------------------------------------------------

  /** A bar chart: `groups` = [{key, label (axis, may be ""), text (the bar's words), values: [{cls, n}],
   *  cells (optional: more columns of its table, as text)}]. */
  _chart(kind, caption, groups, series) {
    const max = niceMax(Math.max(0, ...groups.flatMap((g) => g.values.map((v) => v.n))));
    const bars = h("ol", {class: "an-bars", role: "list", "aria-label": caption});
    for (const g of groups) {
      const li = h("li", {class: "an-group", dataset: {key: g.key}, title: g.text, "aria-label": g.text});
      for (const v of g.values) {
        const bar = h("span", {class: "an-bar " + v.cls, "aria-hidden": "true", dataset: {value: v.n}});
        bar.style.height = v.n ? Math.max(1.5, (100 * v.n) / max) + "%" : "0";
        li.appendChild(bar);
      }
      if (g.label) li.appendChild(h("span", {class: "an-tick", "aria-hidden": "true", text: g.label}));
      bars.appendChild(li);
    }
    const mid = max / 2;
    const axis = h("div", {class: "an-axis", "aria-hidden": "true"},
      h("span", {text: fmtCount(max)}), h("span", {text: Number.isInteger(mid) ? fmtCount(mid) : ""}),
      h("span", {text: "0"}));
    // The same numbers as a table (screen readers, copying).
    const table = h("table", {class: "an-table"},
      h("caption", {class: "sr-only", text: caption}),
      h("thead", null, h("tr", null, h("th", {scope: "col", text: series.head}),
                                      series.cols.map((c) => h("th", {scope: "col", class: "num", text: c})))),
      h("tbody", null, groups.map((g) => h("tr", null,
        h("th", {scope: "row", text: g.name}),
        g.values.map((v) => h("td", {class: "num", text: fmtCount(v.n)})),
        (g.cells || []).map((text) => h("td", {class: "num", text}))))));
    return [
      h("div", {class: "an-chart an-chart-" + kind},
        axis,
        h("div", {class: "an-scroll", tabindex: "0", role: "group", "aria-label": caption},
          h("div", {class: "an-plot"}, bars))),
      h("details", {class: "an-as-table"}, h("summary", {text: t("an.as_table")}),
        h("div", {class: "an-table-wrap"}, table)),
    ];
  }

  _renderDays(byDay) {
    const n = byDay.length;
    const every = n <= 14 ? 1 : n <= 31 ? 3 : 7;
    const groups = byDay.map((d, i) => {
      const name = fmtDay(d.date, {weekday: "short", month: "short", day: "numeric"});
      const label = i % every ? "" : every >= 7 ? fmtDay(d.date, {month: "short", day: "numeric"})
        : formatNumber(utcDay(d.date).getUTCDate());
      const rated = d.ratings || {count: 0, average: null};
      const ratedText = rated.count
        ? ", " + t("an.day.ratings", {count: rated.count, average: fmtAverage(rated.average)}) : "";
      return {key: d.date, name, label,
              text: name + ": " + t("an.day.text", {started: d.started, resolved: d.resolved}) + ratedText,
              values: [{cls: "started", n: d.started}, {cls: "resolved", n: d.resolved}],
              cells: [fmtCount(rated.count), fmtAverage(rated.average)]};
    });
    const box = clear(this.el.days);
    box.dataset.count = String(n);
    box.classList.toggle("dense", n > 31);
    box.append(...this._chart("days", t("an.days.caption"), groups,
                              {head: t("an.col.day"), cols: [t("an.col.started"), t("an.col.resolved"),
                                                             t("an.col.ratings"), t("an.col.average")]}));
    // When the days do not fit (a phone, 90 days), the latest are in view first.
    const scroller = box.querySelector(".an-scroll");
    scroller.scrollLeft = scroller.scrollWidth;
  }

  _renderHours(byHour) {
    const groups = byHour.map((n, hour) => {
      const name = pad2(hour) + ":00–" + pad2(hour) + ":59";
      return {key: String(hour), name, label: hour % 3 ? "" : pad2(hour),
              text: name + ": " + t("an.hour.text", {count: n}),
              values: [{cls: "started", n}]};
    });
    clear(this.el.hours).append(...this._chart("hours", t("an.hours.caption"), groups,
                                                {head: t("an.col.hour"), cols: [t("an.col.started")]}));
  }

  _renderAgents(agents) {
    const box = clear(this.el.agents);
    if (!agents.length) {
      box.appendChild(h("p", {class: "muted an-none",
                              text: t("an.agents.none")}));
      return;
    }
    const me = this.app.me;
    box.appendChild(h("div", {class: "an-table-wrap", tabindex: "0", role: "group", "aria-label": t("an.agents.caption")},
                      h("table", {class: "an-table an-agents"},
      h("caption", {class: "sr-only", text: t("an.agents.caption")}),
      h("thead", null, h("tr", null,
        h("th", {scope: "col", text: t("an.col.agent")}),
        h("th", {scope: "col", class: "num", text: t("an.col.conversations")}),
        h("th", {scope: "col", class: "num", text: t("an.col.resolved")}),
        h("th", {scope: "col", class: "num", text: t("an.col.first_response")}),
        h("th", {scope: "col", class: "num", text: t("an.p90")}),
        h("th", {scope: "col", class: "num", text: t("an.col.rating")}))),
      h("tbody", null, agents.map((a) => h("tr", {dataset: {agentId: a.agent_id}},
        h("th", {scope: "row"}, h("span", {class: "agent-name", text: a.name}),
          me && me.id === a.agent_id ? h("span", {class: "muted", text: " " + t("an.you")}) : null),
        h("td", {class: "num", dataset: {col: "conversations"}, text: fmtCount(a.conversations)}),
        h("td", {class: "num", dataset: {col: "resolved"}, text: fmtCount(a.resolved)}),
        h("td", {class: "num", dataset: {col: "p50"}, text: fmtSecs(a.first_response_secs.p50)}),
        h("td", {class: "num", dataset: {col: "p90"}, text: fmtSecs(a.first_response_secs.p90)}),
        this._ratingCell(a.ratings)))))));
  }

  _ratingCell(ratings) {
    const r = ratings || {count: 0, average: null};
    if (!r.count) return h("td", {class: "num muted", dataset: {col: "rating"}, text: "—"});
    return h("td", {class: "num", dataset: {col: "rating"},
                    title: t("an.rating.title", {count: r.count})},
      fmtAverage(r.average), h("span", {class: "muted", text: " (" + fmtCount(r.count) + ")"}));
  }
}
