// Settings → AI assistant (admins): the tenant's AI settings (GET / PATCH /ai/settings: mode, name,
// instructions, knowledge, daily token cap), whether AI is available on this server, today's tokens against
// the cap, and the last 30 days of use (GET /ai/usage?days=30) as a bar chart of plain elements sized with
// CSS, every bar with a text equivalent (its title and aria-label) and the numbers as a table too.

import {formatDate, formatNumber, formatPercent, t} from "../i18n.js";

// Labels and hints: the catalogue's "ai.mode.<value>" and "ai.mode.<value>.hint".
const MODES = [{value: "off"}, {value: "suggest"}, {value: "auto"}];
const MAX_INSTRUCTIONS = 4000;
const MAX_KNOWLEDGE = 30000;
const DAYS = 30;

const fmtInt = (n) => formatNumber(Number(n || 0));

function fmtDay(iso) {
  const d = new Date(iso + "T00:00:00Z");
  return isNaN(d) ? String(iso) : formatDate(d, {month: "short", day: "numeric", timeZone: "UTC"});
}

export async function render(ctx) {
  const {root, api, h, setDirty} = ctx;
  let data = await api("GET", "/ai/settings");
  let destroyed = false;

  const uid = (s) => "ai-" + s;
  const modeInputs = MODES.map((m) => h("input", {type: "radio", name: "ai-mode", id: uid("mode-" + m.value),
                                                 value: m.value}));
  const name = h("input", {id: uid("name"), maxlength: "60", required: true});
  const instructions = h("textarea", {id: uid("instructions"), rows: "5", maxlength: String(MAX_INSTRUCTIONS)});
  const knowledge = h("textarea", {id: uid("knowledge"), rows: "8", maxlength: String(MAX_KNOWLEDGE)});
  const cap = h("input", {id: uid("cap"), type: "number", min: "0", step: "1000", inputmode: "numeric",
                          "aria-describedby": uid("cap-hint") + " " + uid("cap-error")});
  const capErr = h("p", {id: uid("cap-error"), class: "error-text sp-error", role: "alert"});
  const nameErr = h("p", {id: uid("name-error"), class: "error-text sp-error", role: "alert"});
  const counts = {instructions: h("span", {class: "muted small sp-count"}), knowledge: h("span", {class: "muted small sp-count"})};
  const saveBtn = h("button", {id: uid("save"), class: "primary", type: "submit"}, t("save"));
  const status = h("p", {id: uid("status"), class: "st-form-status", role: "status"});
  const formErr = h("p", {id: uid("error"), class: "error-text", role: "alert"});

  const availability = h("div", {id: uid("availability"), class: "sp-note"});
  const today = h("div", {id: uid("today"), class: "sp-usage-today"});
  const chartBox = h("div", {id: uid("usage"), class: "sp-usage"});

  const form = h("form", {id: uid("form"), class: "sp-form", novalidate: true},
    availability,
    h("section", {class: "st-card"},
      h("h4", null, t("ai.mode")),
      h("fieldset", {class: "sp-fieldset"}, h("legend", {class: "sr-only"}, t("ai.mode")),
        MODES.map((m, i) => h("label", {class: "sp-choice", for: modeInputs[i].id}, modeInputs[i],
          h("span", null, h("strong", null, t("ai.mode." + m.value)),
            h("span", {class: "muted small sp-block"}, t("ai.mode." + m.value + ".hint"))))))),
    h("section", {class: "st-card"},
      h("h4", null, t("ai.assistant")),
      h("div", {class: "sp-field"}, h("label", {for: name.id}, t("pf.name")),
        h("p", {class: "sp-hint muted"}, t("ai.name.hint")), name, nameErr),
      h("div", {class: "sp-field"},
        h("div", {class: "sp-label-row"}, h("label", {for: instructions.id}, t("ai.instructions")), counts.instructions),
        h("p", {class: "sp-hint muted"}, t("ai.instructions.hint")),
        instructions),
      h("div", {class: "sp-field"},
        h("div", {class: "sp-label-row"}, h("label", {for: knowledge.id}, t("ai.knowledge")), counts.knowledge),
        h("p", {class: "sp-hint muted"}, t("ai.knowledge.hint")),
        knowledge)),
    h("section", {class: "st-card"},
      h("h4", null, t("ai.usage")),
      h("div", {class: "sp-field"}, h("label", {for: cap.id}, t("ai.cap")),
        h("p", {class: "sp-hint muted", id: uid("cap-hint")}, t("ai.cap.hint")),
        cap, capErr),
      today, chartBox),
    formErr,
    h("div", {class: "st-actions sp-sticky-actions"}, status, saveBtn));
  root.append(form);

  // ---- state ------------------------------------------------------------------------------------
  function fromServer(d) {
    const s = d.settings || {};
    return {mode: s.ai_mode || "off", name: s.ai_name || "", instructions: s.ai_instructions || "",
            knowledge: s.ai_knowledge || "", cap: String(s.ai_daily_token_cap || 0)};
  }
  let saved = fromServer(data);

  function current() {
    const checked = modeInputs.find((i) => i.checked);
    return {mode: checked ? checked.value : saved.mode, name: name.value.trim(), instructions: instructions.value.trim(),
            knowledge: knowledge.value.trim(), cap: cap.value.trim()};
  }

  function fill(v) {
    for (const i of modeInputs) i.checked = i.value === v.mode;
    name.value = v.name;
    instructions.value = v.instructions;
    knowledge.value = v.knowledge;
    cap.value = v.cap;
    updateCounts();
  }

  function updateCounts() {
    counts.instructions.textContent = fmtInt(instructions.value.length) + " / " + fmtInt(MAX_INSTRUCTIONS);
    counts.knowledge.textContent = fmtInt(knowledge.value.length) + " / " + fmtInt(MAX_KNOWLEDGE);
  }

  function paintAvailability() {
    availability.className = "sp-note " + (data.available ? "ok" : "warn");
    availability.textContent = data.available
      ? t("ai.available", {model: data.model || "?"})
      : t("ai.unavailable");
  }

  function paintToday(capValue) {
    const used = data.tokens_today || 0;
    const capN = Number(capValue) || 0;
    const pct = capN ? Math.min(100, Math.round((100 * used) / capN)) : 0;
    const text = capN ? t("ai.today.cap", {used: fmtInt(used), cap: fmtInt(capN), pct: formatPercent(pct / 100)})
      : t("ai.today", {used: fmtInt(used)});
    const meter = h("div", {class: "sp-meter", role: "img", "aria-label": text},
                    h("span", {class: "sp-meter-fill" + (pct >= 100 ? " full" : pct >= 80 ? " high" : "")}));
    meter.firstChild.style.width = pct + "%";
    today.replaceChildren(h("p", {id: uid("today-text"), class: "sp-today-text"}, text), capN ? meter : null);
  }

  // ---- the chart ------------------------------------------------------------------------------------
  async function loadUsage() {
    chartBox.replaceChildren(h("p", {class: "muted"}, t("ai.usage.loading", {count: DAYS})));
    let usage;
    try {
      usage = await api("GET", "/ai/usage?days=" + DAYS);
    } catch (err) {
      if (destroyed) return;
      chartBox.replaceChildren(h("p", {class: "error-text", role: "alert"},
        t("ai.usage.error", {error: err.message})),
        h("button", {type: "button", on: {click: loadUsage}}, t("retry")));
      return;
    }
    if (destroyed) return;
    drawChart(usage);
  }

  function drawChart(usage) {
    const days = (usage.days || []).map((d) => ({date: String(d.date), tokens: Number(d.tokens) || 0}));
    const capN = Number(usage.cap) || 0;
    const top = Math.max(capN, ...days.map((d) => d.tokens), 1);
    const total = days.reduce((a, d) => a + d.tokens, 0);
    const caption = t("ai.usage.caption", {count: days.length});
    const bars = h("ol", {id: uid("bars"), class: "sp-bars", "aria-label": caption});
    for (const d of days) {
      const text = fmtDay(d.date) + ": " + t("ai.tokens", {count: d.tokens});
      const bar = h("span", {class: "sp-bar" + (capN && d.tokens >= capN ? " over" : ""), "aria-hidden": "true"});
      bar.style.height = d.tokens ? Math.max(2, (100 * d.tokens) / top) + "%" : "0";
      bars.appendChild(h("li", {class: "sp-bar-slot", title: text, "aria-label": text,
                                dataset: {date: d.date, tokens: String(d.tokens)}}, bar));
    }
    const plot = h("div", {class: "sp-plot"}, bars);
    if (capN) {
      const line = h("div", {class: "sp-cap-line", "aria-hidden": "true"},
                     h("span", null, t("ai.cap.line", {n: fmtInt(capN)})));
      line.style.bottom = (100 * capN) / top + "%";
      plot.appendChild(line);
    }
    const table = h("table", {class: "sp-table"},
      h("caption", {class: "sr-only"}, caption),
      h("thead", null, h("tr", null, h("th", {scope: "col"}, t("an.col.day")), h("th", {scope: "col"}, t("ai.col.tokens")))),
      h("tbody", null, days.slice().reverse().map((d) => h("tr", null, h("td", null, fmtDay(d.date)),
                                                           h("td", null, fmtInt(d.tokens))))));
    const details = h("details", {class: "sp-details"}, h("summary", null, t("an.as_table")), table);
    chartBox.replaceChildren(
      h("div", {class: "sp-chart-head"}, h("strong", null, caption),
        h("span", {class: "muted small", id: uid("usage-total")}, t("ai.tokens.total", {count: total}))),
      days.length ? plot : h("p", {class: "muted"}, t("ai.usage.none")),
      days.length ? h("div", {class: "sp-axis muted small", "aria-hidden": "true"},
                      h("span", null, fmtDay(days[0].date)), h("span", null, fmtDay(days[days.length - 1].date)))
        : null,
      days.length ? details : null);
  }

  // ---- events --------------------------------------------------------------------------------------
  function changed() {
    updateCounts();
    const dirty = JSON.stringify(current()) !== JSON.stringify(saved);
    setDirty(dirty);
    if (dirty) status.textContent = "";
  }
  form.addEventListener("input", (ev) => {
    if (ev.target === cap) capErr.textContent = "";
    if (ev.target === name) nameErr.textContent = "";
    changed();
  });
  form.addEventListener("change", changed);

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = current();
    capErr.textContent = nameErr.textContent = formErr.textContent = "";
    if (!v.name) {
      nameErr.textContent = t("ai.name.missing");
      name.focus();
      return;
    }
    if (!/^\d+$/.test(v.cap)) {
      capErr.textContent = t("ai.cap.invalid");
      cap.focus();
      return;
    }
    const body = {ai_mode: v.mode, ai_name: v.name, ai_instructions: v.instructions, ai_knowledge: v.knowledge,
                  ai_daily_token_cap: Number(v.cap)};
    saveBtn.disabled = true;
    saveBtn.textContent = t("saving");
    status.textContent = t("saving");
    status.dataset.kind = "saving";
    try {
      data = await api("PATCH", "/ai/settings", body);
      if (destroyed) return;
      saved = fromServer(data);
      fill(saved);
      setDirty(false);
      status.textContent = t("sp.saved");
      status.dataset.kind = "saved";
      paintAvailability();
      paintToday(saved.cap);
      if (ctx.app) ctx.app.ai = data;  // agent assist (Suggest reply) follows the new mode at once
      loadUsage();
    } catch (err) {
      if (destroyed) return;
      status.textContent = t("sp.not_saved");
      status.dataset.kind = "error";
      const msg = err.status === 0 ? t("pf.offline_not_saved") : err.message;
      if (/cap/.test(msg)) {
        capErr.textContent = msg;
        cap.focus();
      } else if (/ai_name/.test(msg)) {
        nameErr.textContent = msg;
        name.focus();
      } else {
        formErr.textContent = msg;
      }
    } finally {
      saveBtn.disabled = false;
      saveBtn.textContent = t("save");
    }
  });

  fill(saved);
  paintAvailability();
  paintToday(saved.cap);
  loadUsage();

  return {destroy() { destroyed = true; }};
}
