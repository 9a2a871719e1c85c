// Settings → Webhooks (admins): the workspace's webhooks (GET/POST /webhooks, PATCH/DELETE /webhooks/:id,
// POST /webhooks/:id/rotate-secret) and each one's recent deliveries (GET /webhooks/:id/deliveries).
// A new or rotated signing secret is shown once, with Copy. URLs, reasons and errors from the server are
// put in the page as text only.

import {fmtDateTime} from "../dom.js";

export const EVENTS = [
  {name: "conversation.created", hint: "A visitor started a chat"},
  {name: "message.created", hint: "A message from a visitor, an agent or the AI"},
  {name: "conversation.assigned", hint: "A conversation was assigned or transferred"},
  {name: "conversation.resolved", hint: "A conversation was resolved"},
  {name: "conversation.rated", hint: "A visitor rated a conversation"},
];

function deliveryState(d) {
  if (d.delivered) return {key: "delivered", text: "Delivered"};
  if (d.next_attempt_at) return {key: "retrying", text: "Retrying"};
  return {key: "failed", text: "Failed"};
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
  const url = h("input", {id: "wh-url", type: "url", inputmode: "url", placeholder: "https://example.com/hooks/callcenter",
                          spellcheck: "false", autocapitalize: "off", autocomplete: "off", required: true,
                          "aria-describedby": "wh-url-error"});
  const urlErr = h("p", {id: "wh-url-error", class: "error-text sp-error", role: "alert"});
  const eventBoxes = EVENTS.map((e) => h("input", {type: "checkbox", id: "wh-ev-" + e.name.replace(".", "-"),
                                                   value: e.name, checked: true}));
  const eventsErr = h("p", {id: "wh-events-error", class: "error-text sp-error", role: "alert"});
  const active = h("input", {type: "checkbox", id: "wh-active", role: "switch", class: "switch-input", checked: true});
  const addBtn = h("button", {id: "wh-add", class: "primary", type: "submit"}, "Add webhook");
  const formErr = h("p", {id: "wh-error", class: "error-text", role: "alert"});
  const addForm = h("form", {id: "wh-form", class: "st-card sp-form", novalidate: true},
    h("h4", null, "Add a webhook"),
    h("div", {class: "sp-field"}, h("label", {for: "wh-url"}, "Payload URL"),
      h("p", {class: "sp-hint muted"}, "An https:// address of your server that answers POST requests "
        + "(private and local addresses are refused)."), url, urlErr),
    h("fieldset", {class: "sp-fieldset"}, h("legend", null, "Events"),
      h("div", {class: "sp-checks"}, EVENTS.map((e, i) => h("label", {class: "sp-check", for: eventBoxes[i].id},
        eventBoxes[i], h("span", null, h("code", null, e.name), h("span", {class: "muted small sp-block"}, e.hint))))),
      eventsErr),
    h("label", {class: "sp-switch compact", for: "wh-active"}, switchOf(active), h("span", null, "Active")),
    formErr,
    h("div", {class: "st-actions"}, addBtn));

  // ---- the secret, shown once ----------------------------------------------------------------------
  const secretBox = h("div", {id: "wh-secret", class: "sp-secret", role: "status", hidden: true});

  function showSecret(secret, hookUrl, rotated) {
    const input = h("input", {id: "wh-secret-value", class: "sp-secret-value", readonly: true, value: secret,
                              spellcheck: "false", "aria-label": "Signing secret"});
    const copy = h("button", {id: "wh-secret-copy", type: "button", class: "primary"}, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(secret);
        toast("Secret copied.");
      } catch (err) {
        input.select();
        toast("Press Ctrl+C (⌘C) to copy the selected secret.");
      }
    });
    const dismiss = h("button", {id: "wh-secret-done", type: "button"}, "Done");
    dismiss.addEventListener("click", () => {
      secretBox.hidden = true;
      secretBox.replaceChildren();
    });
    secretBox.replaceChildren(
      h("p", null, h("strong", null, rotated ? "New signing secret" : "Signing secret"), " for ",
        h("span", {class: "sp-url"}, hookUrl)),
      h("p", {class: "small"}, "Copy it now: you won't see it again. Your server checks each delivery's "
        + "X-Callcenter-Signature header (sha256=HMAC-SHA256 of the raw body with this secret)."),
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
      h("h4", null, "No webhooks yet"),
      h("p", null, "A webhook tells another system what happens here: when a conversation starts, a message "
        + "arrives, a conversation is assigned, resolved or rated, this server POSTs a JSON event to your URL, "
        + "signed with a secret, and retries for 24 hours if your server does not answer."),
      h("p", {class: "muted"}, "The events, their payloads and how to check the signature are described in the "
        + "README (section “Webhooks”)."));
  }

  function renderList() {
    const nodes = hooks.map(hookCard);
    list.replaceChildren(...(nodes.length ? nodes : [emptyState()]));
  }

  function hookCard(hook) {
    const id = hook.id;
    const toggle = h("input", {type: "checkbox", role: "switch", id: "wh-active-" + id, class: "switch-input",
                               checked: !!hook.active, "aria-label": "Active: " + hook.url});
    toggle.addEventListener("change", () => setActive(hook, toggle));
    const deliveriesBtn = h("button", {type: "button", class: "wh-deliveries-btn",
                                       "aria-expanded": open.has(id) ? "true" : "false",
                                       "aria-controls": "wh-deliveries-" + id},
                            open.has(id) ? "Hide deliveries" : "Deliveries");
    const edit = h("button", {type: "button", class: "wh-edit"}, "Edit");
    const rotate = h("button", {type: "button", class: "wh-rotate"}, "Rotate secret");
    const del = h("button", {type: "button", class: "wh-delete danger-outline"}, "Delete");
    const deliveries = h("div", {id: "wh-deliveries-" + id, class: "sp-deliveries", hidden: !open.has(id)});
    const state = !hook.active && hook.disabled_reason ? "Switched off" : hook.active ? "Active" : "Paused";
    const card = h("article", {class: "st-card sp-hook", dataset: {id: String(id)}},
      h("div", {class: "sp-hook-head"},
        h("div", {class: "sp-hook-title"},
          h("span", {class: "sp-url wh-url"}, hook.url),
          h("span", {class: "sp-pill " + (hook.active ? "ok" : "off")}, state)),
        h("label", {class: "sp-switch compact", for: toggle.id}, switchOf(toggle), h("span", null, "Active"))),
      h("ul", {class: "sp-events", "aria-label": "Events"}, (hook.events || []).map((e) => h("li", null, h("code", null, e)))),
      hook.disabled_reason ? h("p", {class: "sp-warn wh-reason", role: "note"}, hook.disabled_reason) : null,
      hook.failing_since && hook.active
        ? h("p", {class: "sp-warn wh-failing"}, "Failing since " + fmtDateTime(hook.failing_since)
            + ": it is switched off after 24 hours of failures.") : null,
      h("div", {class: "sp-hook-actions"}, deliveriesBtn, edit, rotate, del),
      deliveries);
    deliveriesBtn.addEventListener("click", () => {
      if (open.has(id)) open.delete(id); else open.add(id);
      const shown = open.has(id);
      deliveries.hidden = !shown;
      deliveriesBtn.textContent = shown ? "Hide deliveries" : "Deliveries";
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
    const save = h("button", {type: "submit", class: "primary wh-edit-save"}, "Save");
    const cancel = h("button", {type: "button", class: "wh-edit-cancel"}, "Cancel");
    const form = h("form", {class: "st-card sp-form sp-hook wh-edit-form", novalidate: true, dataset: {id: String(id)}},
      h("h4", null, "Edit webhook"),
      h("div", {class: "sp-field"}, h("label", {for: urlInput.id}, "Payload URL"), urlInput),
      h("fieldset", {class: "sp-fieldset"}, h("legend", null, "Events"),
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
      if (!target) { err.textContent = "Enter the URL to send the events to."; urlInput.focus(); return; }
      if (!events.length) { err.textContent = "Choose at least one event."; boxes[0].focus(); return; }
      save.disabled = true;
      save.textContent = "Saving…";
      try {
        const res = await api("PATCH", "/webhooks/" + encodeURIComponent(id), {url: target, events});
        if (destroyed) return;
        Object.assign(hook, res.webhook || {url: target, events});
        toast("Webhook saved.");
        close();
      } catch (e) {
        if (destroyed) return;
        err.textContent = e.status === 0 ? "The server cannot be reached: nothing was changed." : e.message;
        save.disabled = false;
        save.textContent = "Save";
      }
    });
    setTimeout(() => urlInput.focus(), 0);
    return form;
  }

  async function loadDeliveries(hook, box) {
    const refresh = h("button", {type: "button", class: "wh-refresh"}, "Refresh");
    refresh.addEventListener("click", () => loadDeliveries(hook, box));
    if (!box.firstChild) box.append(h("p", {class: "muted"}, "Loading deliveries…"));
    box.setAttribute("aria-busy", "true");
    let items;
    try {
      items = (await api("GET", "/webhooks/" + encodeURIComponent(hook.id) + "/deliveries")).deliveries || [];
    } catch (err) {
      if (destroyed) return;
      box.removeAttribute("aria-busy");
      box.replaceChildren(h("p", {class: "error-text", role: "alert"}, "Deliveries could not be loaded: " + err.message),
                          refresh);
      return;
    }
    if (destroyed) return;
    box.removeAttribute("aria-busy");
    const head = h("div", {class: "sp-deliveries-head"},
      h("strong", null, "Recent deliveries"), refresh);
    if (!items.length) {
      box.replaceChildren(head, h("p", {class: "muted wh-no-deliveries"}, "No deliveries yet. They appear here once "
        + "one of its events happens."));
      return;
    }
    const rows = items.map((d) => {
      const s = deliveryState(d);
      const result = d.status_code ? "HTTP " + d.status_code : (d.error || "No answer");
      return h("tr", {class: "wh-delivery", dataset: {state: s.key, event: d.event}},
        h("td", null, h("code", null, d.event)),
        h("td", null, h("span", {class: "sp-pill " + s.key}, s.text)),
        h("td", {class: "wh-result"}, result, d.status_code && d.error ? h("span", {class: "muted small sp-block"}, d.error) : null),
        h("td", null, d.duration_ms != null ? d.duration_ms + " ms" : "–"),
        h("td", null, String(d.attempts || 0)),
        h("td", null, d.next_attempt_at && !d.delivered ? fmtDateTime(d.next_attempt_at) : "–"),
        h("td", null, fmtDateTime(d.last_attempt_at || d.created_at)));
    });
    box.replaceChildren(head, h("div", {class: "sp-table-wrap"},
      h("table", {class: "sp-table wh-table"},
        h("caption", {class: "sr-only"}, "Recent deliveries to " + hook.url),
        h("thead", null, h("tr", null, ["Event", "Status", "Result", "Duration", "Attempts", "Next attempt", "When"]
          .map((t) => h("th", {scope: "col"}, t)))),
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
      toast(toggle.checked ? "Webhook switched on." : "Webhook paused.");
      renderList();
    } catch (err) {
      toggle.checked = !toggle.checked;
      toggle.disabled = false;
      toast(err.message, "error");
    }
  }

  async function rotateSecret(hook, btn) {
    if (!window.confirm("Rotate the signing secret of " + hook.url + "? Deliveries are signed with the new "
      + "secret at once: update your server right after.")) return;
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
    if (!window.confirm("Delete the webhook " + hook.url + "? Its deliveries stop at once.")) return;
    btn.disabled = true;
    try {
      await api("DELETE", "/webhooks/" + encodeURIComponent(hook.id));
      if (destroyed) return;
      hooks = hooks.filter((x) => x.id !== hook.id);
      open.delete(hook.id);
      renderList();
      toast("Webhook deleted.");
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
      urlErr.textContent = "Enter the URL to send the events to.";
      url.focus();
      return;
    }
    if (!events.length) {
      eventsErr.textContent = "Choose at least one event.";
      eventBoxes[0].focus();
      return;
    }
    addBtn.disabled = true;
    addBtn.textContent = "Adding…";
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
      const msg = err.status === 0 ? "The server cannot be reached: nothing was added." : err.message;
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
      addBtn.textContent = "Add webhook";
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
