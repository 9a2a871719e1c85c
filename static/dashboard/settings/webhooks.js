// Settings → Webhooks (admins): the workspace's webhooks (GET/POST /webhooks, PATCH/DELETE /webhooks/:id,
// POST /webhooks/:id/rotate-secret) and each one's recent deliveries (GET /webhooks/:id/deliveries).
// A new or rotated signing secret is shown once, with Copy. URLs, reasons and errors from the server are
// put in the page as text only.

import {formatDateTime as fmtDateTime, formatNumber, t} from "../i18n.js";

// Each event's hint: the catalogue's "wh.event.<name>".
export const EVENTS = [
  {name: "conversation.created"}, {name: "message.created"}, {name: "conversation.assigned"},
  {name: "conversation.resolved"}, {name: "conversation.rated"},
];

function deliveryState(d) {
  const key = d.delivered ? "delivered" : d.next_attempt_at ? "retrying" : "failed";
  return {key, text: t("wh.state." + key)};
}

/** A checkbox drawn as a switch (settings.css's .switch). */
function switchOf(input) {
  const span = document.createElement("span");
  span.className = "switch";
  const track = document.createElement("span");
  track.className = "switch-track";
  track.setAttribute("aria-hidden", "true");
  span.append(input, track);
  return span;
}

export async function render(ctx) {
  const {root, api, toast, h, setDirty} = ctx;
  let hooks = (await api("GET", "/webhooks")).webhooks || [];
  let destroyed = false;
  const open = new Set();  // webhook ids whose deliveries are shown

  // ---- add form -----------------------------------------------------------------------------------
  const url = h("input", {id: "wh-url", type: "url", inputmode: "url", placeholder: t("wh.url.placeholder"),
                          spellcheck: "false", autocapitalize: "off", autocomplete: "off", required: true,
                          "aria-describedby": "wh-url-error"});
  const urlErr = h("p", {id: "wh-url-error", class: "error-text sp-error", role: "alert"});
  const eventBoxes = EVENTS.map((e) => h("input", {type: "checkbox", id: "wh-ev-" + e.name.replace(".", "-"),
                                                   value: e.name, checked: true}));
  const eventsErr = h("p", {id: "wh-events-error", class: "error-text sp-error", role: "alert"});
  const active = h("input", {type: "checkbox", id: "wh-active", role: "switch", class: "switch-input", checked: true});
  const addBtn = h("button", {id: "wh-add", class: "primary", type: "submit"}, t("wh.add"));
  const formErr = h("p", {id: "wh-error", class: "error-text", role: "alert"});
  const addForm = h("form", {id: "wh-form", class: "st-card sp-form", novalidate: true},
    h("h4", null, t("wh.add.title")),
    h("div", {class: "sp-field"}, h("label", {for: "wh-url"}, t("wh.url")),
      h("p", {class: "sp-hint muted"}, t("wh.url.hint")), url, urlErr),
    h("fieldset", {class: "sp-fieldset"}, h("legend", null, t("wh.events")),
      h("div", {class: "sp-checks"}, EVENTS.map((e, i) => h("label", {class: "sp-check", for: eventBoxes[i].id},
        eventBoxes[i], h("span", null, h("code", null, e.name),
          h("span", {class: "muted small sp-block"}, t("wh.event." + e.name)))))),
      eventsErr),
    h("label", {class: "sp-switch compact", for: "wh-active"}, switchOf(active), h("span", null, t("wh.active"))),
    formErr,
    h("div", {class: "st-actions"}, addBtn));

  // ---- the secret, shown once ----------------------------------------------------------------------
  const secretBox = h("div", {id: "wh-secret", class: "sp-secret", role: "status", hidden: true});

  function showSecret(secret, hookUrl, rotated) {
    const input = h("input", {id: "wh-secret-value", class: "sp-secret-value", readonly: true, value: secret,
                              spellcheck: "false", "aria-label": t("wh.secret")});
    const copy = h("button", {id: "wh-secret-copy", type: "button", class: "primary"}, t("copy"));
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        toast(t("wh.secret.copied"));
      } catch (err) {
        input.select();
        toast(t("wh.secret.copy_manually"));
      }
    });
    const dismiss = h("button", {id: "wh-secret-done", type: "button"}, t("wh.done"));
    dismiss.addEventListener("click", () => {
      secretBox.hidden = true;
      secretBox.replaceChildren();
    });
    secretBox.replaceChildren(
      h("p", null, h("strong", null, rotated ? t("wh.secret.new") : t("wh.secret")), " " + t("wh.secret.for") + " ",
        h("span", {class: "sp-url"}, hookUrl)),
      h("p", {class: "small"}, t("wh.secret.help")),
      h("div", {class: "sp-secret-row"}, input, copy, dismiss));
    secretBox.hidden = false;
    input.focus();
    input.select();
  }

  // ---- the list --------------------------------------------------------------------------------------
  const list = h("div", {id: "wh-list", class: "sp-hooks"});
  root.append(h("div", {class: "sp-webhooks"}, secretBox, list, addForm));

  function emptyState() {
    return h("div", {id: "wh-empty", class: "st-card sp-empty"},
      h("h4", null, t("wh.empty.title")),
      h("p", null, t("wh.empty.text")),
      h("p", {class: "muted"}, t("wh.empty.readme")));
  }

  function renderList() {
    const nodes = hooks.map(hookCard);
    list.replaceChildren(...(nodes.length ? nodes : [emptyState()]));
  }

  function hookCard(hook) {
    const id = hook.id;
    const toggle = h("input", {type: "checkbox", role: "switch", id: "wh-active-" + id, class: "switch-input",
                               checked: !!hook.active, "aria-label": t("wh.active.label", {url: hook.url})});
    toggle.addEventListener("change", () => setActive(hook, toggle));
    const deliveriesBtn = h("button", {type: "button", class: "wh-deliveries-btn",
                                       "aria-expanded": open.has(id) ? "true" : "false",
                                       "aria-controls": "wh-deliveries-" + id},
                            open.has(id) ? t("wh.deliveries.hide") : t("wh.deliveries"));
    const edit = h("button", {type: "button", class: "wh-edit"}, t("edit"));
    const rotate = h("button", {type: "button", class: "wh-rotate"}, t("wh.rotate"));
    const del = h("button", {type: "button", class: "wh-delete danger-outline"}, t("delete"));
    const deliveries = h("div", {id: "wh-deliveries-" + id, class: "sp-deliveries", hidden: !open.has(id)});
    const state = t(!hook.active && hook.disabled_reason ? "wh.switched_off" : hook.active ? "wh.active" : "wh.paused");
    const card = h("article", {class: "st-card sp-hook", dataset: {id: String(id)}},
      h("div", {class: "sp-hook-head"},
        h("div", {class: "sp-hook-title"},
          h("span", {class: "sp-url wh-url"}, hook.url),
          h("span", {class: "sp-pill " + (hook.active ? "ok" : "off")}, state)),
        h("label", {class: "sp-switch compact", for: toggle.id}, switchOf(toggle), h("span", null, t("wh.active")))),
      h("ul", {class: "sp-events", "aria-label": t("wh.events")}, (hook.events || []).map((e) => h("li", null, h("code", null, e)))),
      hook.disabled_reason ? h("p", {class: "sp-warn wh-reason", role: "note"}, hook.disabled_reason) : null,
      hook.failing_since && hook.active
        ? h("p", {class: "sp-warn wh-failing"}, t("wh.failing", {date: fmtDateTime(hook.failing_since)})) : null,
      h("div", {class: "sp-hook-actions"}, deliveriesBtn, edit, rotate, del),
      deliveries);
    deliveriesBtn.addEventListener("click", () => {
      if (open.has(id)) open.delete(id); else open.add(id);
      const shown = open.has(id);
      deliveries.hidden = !shown;
      deliveriesBtn.textContent = shown ? t("wh.deliveries.hide") : t("wh.deliveries");
      deliveriesBtn.setAttribute("aria-expanded", shown ? "true" : "false");
      if (shown) loadDeliveries(hook, deliveries);
    });
    edit.addEventListener("click", () => card.replaceWith(editCard(hook)));
    rotate.addEventListener("click", () => rotateSecret(hook, rotate));
    del.addEventListener("click", () => remove(hook, del));
    if (open.has(id)) loadDeliveries(hook, deliveries);
    return card;
  }

  /** The webhook's URL and events as a form in place of its card (PATCH /webhooks/:id); Cancel or Escape
   *  puts the card back unchanged. */
  function editCard(hook) {
    const id = hook.id;
    const urlInput = h("input", {id: "wh-edit-url-" + id, type: "url", inputmode: "url", value: hook.url,
                                 spellcheck: "false", autocapitalize: "off", autocomplete: "off", required: true,
                                 "aria-describedby": "wh-edit-error-" + id});
    const boxes = EVENTS.map((e) => h("input", {type: "checkbox", id: "wh-edit-ev-" + id + "-" + e.name.replace(".", "-"),
                                                value: e.name, checked: (hook.events || []).includes(e.name)}));
    const err = h("p", {id: "wh-edit-error-" + id, class: "error-text", role: "alert"});
    const save = h("button", {type: "submit", class: "primary wh-edit-save"}, t("save"));
    const cancel = h("button", {type: "button", class: "wh-edit-cancel"}, t("cancel"));
    const form = h("form", {class: "st-card sp-form sp-hook wh-edit-form", novalidate: true, dataset: {id: String(id)}},
      h("h4", null, t("wh.edit.title")),
      h("div", {class: "sp-field"}, h("label", {for: urlInput.id}, t("wh.url")), urlInput),
      h("fieldset", {class: "sp-fieldset"}, h("legend", null, t("wh.events")),
        h("div", {class: "sp-checks"}, EVENTS.map((e, i) => h("label", {class: "sp-check", for: boxes[i].id},
          boxes[i], h("span", null, h("code", null, e.name)))))),
      err,
      h("div", {class: "st-actions"}, cancel, save));
    const close = () => { setDirty(false); renderList(); };
    cancel.addEventListener("click", close);
    form.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { ev.stopPropagation(); close(); } });
    form.addEventListener("input", () => { setDirty(true); err.textContent = ""; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const target = urlInput.value.trim();
      const events = boxes.filter((b) => b.checked).map((b) => b.value);
      if (!target) { err.textContent = t("wh.url.missing"); urlInput.focus(); return; }
      if (!events.length) { err.textContent = t("wh.events.missing"); boxes[0].focus(); return; }
      save.disabled = true;
      save.textContent = t("saving");
      try {
        const res = await api("PATCH", "/webhooks/" + encodeURIComponent(id), {url: target, events});
        if (destroyed) return;
        Object.assign(hook, res.webhook || {url: target, events});
        toast(t("wh.saved"));
        close();
      } catch (e) {
        if (destroyed) return;
        err.textContent = e.status === 0 ? t("wh.offline_not_changed") : e.message;
        save.disabled = false;
        save.textContent = t("save");
      }
    });
    setTimeout(() => urlInput.focus(), 0);
    return form;
  }

  async function loadDeliveries(hook, box) {
    const refresh = h("button", {type: "button", class: "wh-refresh"}, t("tm.refresh"));
    refresh.addEventListener("click", () => loadDeliveries(hook, box));
    if (!box.firstChild) box.append(h("p", {class: "muted"}, t("wh.deliveries.loading")));
    box.setAttribute("aria-busy", "true");
    let items;
    try {
      items = (await api("GET", "/webhooks/" + encodeURIComponent(hook.id) + "/deliveries")).deliveries || [];
    } catch (err) {
      if (destroyed) return;
      box.removeAttribute("aria-busy");
      box.replaceChildren(h("p", {class: "error-text", role: "alert"}, t("wh.deliveries.error", {error: err.message})),
                          refresh);
      return;
    }
    if (destroyed) return;
    box.removeAttribute("aria-busy");
    const head = h("div", {class: "sp-deliveries-head"},
      h("strong", null, t("wh.deliveries.recent")), refresh);
    if (!items.length) {
      box.replaceChildren(head, h("p", {class: "muted wh-no-deliveries"}, t("wh.deliveries.none")));
      return;
    }
    const rows = items.map((d) => {
      const s = deliveryState(d);
      const result = d.status_code ? "HTTP " + d.status_code : (d.error || t("wh.no_answer"));
      return h("tr", {class: "wh-delivery", dataset: {state: s.key, event: d.event}},
        h("td", null, h("code", null, d.event)),
        h("td", null, h("span", {class: "sp-pill " + s.key}, s.text)),
        h("td", {class: "wh-result"}, result, d.status_code && d.error ? h("span", {class: "muted small sp-block"}, d.error) : null),
        h("td", null, d.duration_ms != null ? t("wh.ms", {n: formatNumber(d.duration_ms)}) : "–"),
        h("td", null, formatNumber(d.attempts || 0)),
        h("td", null, d.next_attempt_at && !d.delivered ? fmtDateTime(d.next_attempt_at) : "–"),
        h("td", null, fmtDateTime(d.last_attempt_at || d.created_at)));
    });
    box.replaceChildren(head, h("div", {class: "sp-table-wrap"},
      h("table", {class: "sp-table wh-table"},
        h("caption", {class: "sr-only"}, t("wh.deliveries.caption", {url: hook.url})),
        h("thead", null, h("tr", null, ["event", "status", "result", "duration", "attempts", "next", "when"]
          .map((col) => h("th", {scope: "col"}, t("wh.col." + col))))),
        h("tbody", null, rows))));
  }

  // ---- actions -------------------------------------------------------------------------------------
  async function reload() {
    const res = await api("GET", "/webhooks");
    if (destroyed) return;
    hooks = res.webhooks || [];
    renderList();
  }

  async function setActive(hook, toggle) {
    toggle.disabled = true;
    try {
      const res = await api("PATCH", "/webhooks/" + encodeURIComponent(hook.id), {active: toggle.checked});
      Object.assign(hook, (res && res.webhook) || {active: toggle.checked});
      toast(toggle.checked ? t("wh.toast.on") : t("wh.toast.paused"));
      renderList();
    } catch (err) {
      toggle.checked = !toggle.checked;
      toggle.disabled = false;
      toast(err.message, "error");
    }
  }

  async function rotateSecret(hook, btn) {
    if (!window.confirm(t("wh.rotate.confirm", {url: hook.url}))) return;
    btn.disabled = true;
    try {
      const res = await api("POST", "/webhooks/" + encodeURIComponent(hook.id) + "/rotate-secret", {});
      if (destroyed) return;
      if (res.webhook) Object.assign(hook, res.webhook);
      renderList();
      showSecret(res.secret, hook.url, true);
    } catch (err) {
      btn.disabled = false;
      toast(err.message, "error");
    }
  }

  async function remove(hook, btn) {
    if (!window.confirm(t("wh.delete.confirm", {url: hook.url}))) return;
    btn.disabled = true;
    try {
      await api("DELETE", "/webhooks/" + encodeURIComponent(hook.id));
      if (destroyed) return;
      hooks = hooks.filter((x) => x.id !== hook.id);
      open.delete(hook.id);
      renderList();
      toast(t("wh.deleted"));
    } catch (err) {
      btn.disabled = false;
      toast(err.message, "error");
    }
  }

  addForm.addEventListener("input", () => {
    setDirty(!!url.value.trim());
  });
  url.addEventListener("input", () => { urlErr.textContent = ""; });
  addForm.addEventListener("change", (ev) => { if (ev.target.type === "checkbox") eventsErr.textContent = ""; });

  addForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    urlErr.textContent = eventsErr.textContent = formErr.textContent = "";
    const target = url.value.trim();
    const events = eventBoxes.filter((b) => b.checked).map((b) => b.value);
    if (!target) {
      urlErr.textContent = t("wh.url.missing");
      url.focus();
      return;
    }
    if (!events.length) {
      eventsErr.textContent = t("wh.events.missing");
      eventBoxes[0].focus();
      return;
    }
    addBtn.disabled = true;
    addBtn.textContent = t("wh.adding");
    try {
      const res = await api("POST", "/webhooks", {url: target, events, active: active.checked});
      if (destroyed) return;
      url.value = "";
      setDirty(false);
      hooks = [...hooks.filter((x) => x.id !== res.webhook.id), res.webhook];
      renderList();
      showSecret(res.secret, res.webhook.url, false);
    } catch (err) {
      if (destroyed) return;
      const msg = err.status === 0 ? t("wh.offline_not_added") : err.message;
      if (err.code === "invalid_url" || /url/i.test(msg) && err.code !== "limit_reached") {
        urlErr.textContent = msg;
        url.focus();
      } else if (err.code === "unknown_event" || /event/i.test(msg) && err.code !== "limit_reached") {
        eventsErr.textContent = msg;
      } else {
        formErr.textContent = msg;
      }
    } finally {
      addBtn.disabled = false;
      addBtn.textContent = t("wh.add");
    }
  });

  renderList();
  // A webhook switched off meanwhile (webhook.disabled, frames.js) shows up here at once.
  const onDisabled = () => { reload().catch(() => {}); };
  window.addEventListener("callcenter:webhook-disabled", onDisabled);

  return {
    destroy() {
      destroyed = true;
      window.removeEventListener("callcenter:webhook-disabled", onDisabled);
    },
  };
}
