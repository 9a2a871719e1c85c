// Settings → Team (admins): the tenant's agents (GET /agents) with role, status (invited / active /
// deactivated, online), their load against capacity ("3 / 5", live from the routing document) and their
// capacity (conversations at a time, PATCH max_conversations); invite one (POST /agents → a one-time link, shown once with
// Copy and its expiry); a new link for an invited agent; change a role (PATCH); reset a password (a link;
// the agent is signed out everywhere); deactivate / reactivate, each after a confirmation in the row. The
// server's refusals (last_admin, …) are shown in the row they concern. Names and e-mails are text.

import {ApiError} from "../api.js";
import {isHexColor, avatarColor, textOn} from "../colors.js";
import {initials, setText} from "../dom.js";
import {formatDateTime as fmtDateTime, formatNumber, t} from "../i18n.js";
import {loadOf} from "../queue.js";
import {renderTopMenu} from "../top-menu.js";

// Labels: the catalogue's "role.<value>" and "tm.status.<status>".
const ROLES = ["agent", "admin"];
const REFRESH_MS = 30000;
const MIN_CAPACITY = 1;
const MAX_CAPACITY = 50;

function statusOf(a) {
  if (a.status === "active" || a.status === "invited" || a.status === "deactivated") return a.status;
  if (a.invited) return "invited";
  return a.active === false ? "deactivated" : "active";
}

function openCount(a) {
  const n = a.open_conversations !== undefined ? a.open_conversations : a.open_sessions;
  return typeof n === "number" ? n : null;
}

/** {open, max} (max null when unknown): the routing document's when it lists the agent (fresher), else GET
 *  /agents'. */
function loadFor(app, a) {
  const routed = loadOf(app, a.id);
  if (routed) return routed;
  return {open: openCount(a), max: Number.isInteger(a.max_conversations) ? a.max_conversations : null};
}

function loadText(load) {
  if (load.open === null) return "—";
  return load.max === null ? t("team.load", {count: load.open}) : formatNumber(load.open) + " / " + formatNumber(load.max);
}

/** A link's expiry as an ISO string (the API's expires_at, or expires_at_ms). */
function expiryOf(link) {
  if (!link) return null;
  if (link.expires_at) return link.expires_at;
  if (typeof link.expires_at_ms === "number") return new Date(link.expires_at_ms).toISOString();
  return null;
}

export async function render(ctx) {
  const {app, root, api, toast, h, setDirty} = ctx;
  let agents = [];
  let destroyed = false;
  const rowState = new Map(); // agent id → {confirm: "deactivate"|"activate"|"reset"|null, error: "", busy: false}
  const stateOf = (id) => {
    if (!rowState.has(id)) rowState.set(id, {confirm: null, error: "", busy: false});
    return rowState.get(id);
  };

  // ---- invite --------------------------------------------------------------------------------------
  const email = h("input", {id: "tm-invite-email", type: "email", maxlength: "254", autocomplete: "off",
                            spellcheck: "false", autocapitalize: "off", required: true, placeholder: t("tm.placeholder.email")});
  const name = h("input", {id: "tm-invite-name", maxlength: "100", autocomplete: "off", required: true,
                           placeholder: t("tm.placeholder.name")});
  const role = h("select", {id: "tm-invite-role"}, ROLES.map((r) => h("option", {value: r}, t("role." + r))));
  const inviteErr = h("p", {id: "tm-invite-error", class: "error-text", role: "alert"});
  const inviteBtn = h("button", {id: "tm-invite-submit", class: "primary", type: "submit"}, t("tm.invite"));
  const inviteForm = h("form", {id: "tm-invite", class: "st-card tm-invite", novalidate: true},
    h("h4", null, t("tm.invite.title")),
    h("p", {class: "muted small st-card-help"}, t("tm.invite.help")),
    h("div", {class: "tm-invite-fields"},
      h("div", null, h("label", {for: "tm-invite-email"}, t("invite.email")), email),
      h("div", null, h("label", {for: "tm-invite-name"}, t("pf.name")), name),
      h("div", null, h("label", {for: "tm-invite-role"}, t("tm.role")), role),
      h("div", {class: "tm-invite-go"}, inviteBtn)),
    inviteErr);
  const inviteDirty = () => !!(email.value.trim() || name.value.trim());
  for (const input of [email, name]) {
    input.addEventListener("input", () => {
      setDirty(inviteDirty());
      setText(inviteErr, "");
    });
  }

  // ---- the one-time link ------------------------------------------------------------------------------
  const linkBox = h("section", {id: "tm-link", class: "st-card tm-link", "aria-live": "polite", hidden: true});
  function showLink(title, link, who) {
    const url = new URL(link.url, location.origin).href;
    const field = h("input", {id: "tm-link-url", class: "tm-link-url", readonly: true, value: url,
                              "aria-label": t("tm.link.label"), spellcheck: "false"});
    const copy = h("button", {id: "tm-link-copy", class: "primary", type: "button"}, t("copy"));
    const copied = h("span", {id: "tm-link-copied", class: "tm-link-copied", role: "status"});
    copy.addEventListener("click", async () => {
      let ok = false;
      try {
        await navigator.clipboard.writeText(url);
        ok = true;
      } catch (e) {
        field.select();
        try { ok = document.execCommand("copy"); } catch (e2) { ok = false; }
      }
      setText(copy, ok ? t("copied") : t("copy"));
      setText(copied, ok ? t("tm.link.copied") : t("tm.link.copy_manually"));
      if (!ok) field.select();
    });
    field.addEventListener("focus", () => field.select());
    const close = h("button", {class: "ghost icon-btn tm-link-close", type: "button", "aria-label": t("tm.link.close")},
                    "✕");
    close.addEventListener("click", () => {
      linkBox.hidden = true;
      linkBox.replaceChildren();
    });
    const expires = expiryOf(link);
    linkBox.replaceChildren(
      h("div", {class: "tm-link-head"}, h("h4", {id: "tm-link-title"}, title), close),
      h("p", {class: "small tm-link-who"}, ...t("tm.link.who").split(/(\{name\})/).filter(Boolean)
        .map((part) => (part === "{name}" ? h("b", null, who) : part))),
      h("div", {class: "tm-link-row"}, field, copy),
      h("p", {id: "tm-link-expiry", class: "muted small", title: expires ? fmtDateTime(expires, {dateStyle: "full", timeStyle: "medium"}) : null},
        expires ? t("tm.link.expires", {date: fmtDateTime(expires)}) : ""),
      copied);
    linkBox.hidden = false;
    linkBox.scrollIntoView({block: "nearest"});
    copy.focus();
  }

  inviteForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    setText(inviteErr, "");
    const body = {email: email.value.trim(), name: name.value.trim(), role: role.value};
    if (!body.email || !/^[^\s@]+@[^\s@]+$/.test(body.email)) {
      setText(inviteErr, t("tm.invite.email_missing"));
      email.focus();
      return;
    }
    if (!body.name) {
      setText(inviteErr, t("tm.invite.name_missing"));
      name.focus();
      return;
    }
    inviteBtn.disabled = true;
    setText(inviteBtn, t("tm.inviting"));
    try {
      const res = await api("POST", "/agents", body);
      if (destroyed) return;
      email.value = name.value = "";
      role.value = "agent";
      setDirty(false);
      showLink(t("tm.link.invitation"), res.invitation, (res.agent && res.agent.name) || body.name);
      toast(t("tm.invited", {email: body.email}));
      await reload();
    } catch (err) {
      if (destroyed) return;
      setText(inviteErr, err instanceof ApiError && err.code === "email_taken"
        ? err.message || t("tm.email_taken") : err.message);
    } finally {
      inviteBtn.disabled = false;
      setText(inviteBtn, t("tm.invite"));
    }
  });

  // ---- the list ---------------------------------------------------------------------------------------
  const count = h("span", {id: "tm-count", class: "muted small"});
  const refreshBtn = h("button", {id: "tm-refresh", type: "button", class: "ghost"}, t("tm.refresh"));
  const listErr = h("p", {id: "tm-list-error", class: "error-text", role: "alert"});
  const list = h("ul", {id: "tm-list", class: "tm-list", "aria-label": t("tm.agents")});
  const empty = h("p", {id: "tm-empty", class: "st-empty", hidden: true}, t("tm.empty"));
  const listCard = h("section", {class: "st-card tm-agents", "aria-labelledby": "tm-agents-title"},
    h("div", {class: "tm-agents-head"}, h("h4", {id: "tm-agents-title"}, t("tm.agents") + " ", count), refreshBtn),
    h("div", {class: "tm-cols", "aria-hidden": "true"}, h("span", null, t("an.col.agent")), h("span", null, t("tm.role")),
      h("span", null, t("tm.status")), h("span", {title: t("tm.load.title")}, t("tm.load")),
      h("span", {title: t("tm.capacity.title")}, t("tm.capacity")), h("span", null, "")),
    list, empty, listErr);
  refreshBtn.addEventListener("click", () => reload({announce: true}));

  function avatar(a) {
    const bg = isHexColor(a.avatar_color) ? a.avatar_color : avatarColor(a.name);
    const el = h("span", {class: "avatar tm-avatar", "aria-hidden": "true"}, initials(a.name));
    el.style.background = bg;
    el.style.color = textOn(bg);
    return el;
  }

  function isOnline(a) {
    if (typeof a.online === "boolean") return a.online;
    return app.presence.get(a.id) === "online";
  }

  async function act(a, fn, {after} = {}) {
    const st = stateOf(a.id);
    st.busy = true;
    st.error = "";
    paintRow(a);
    try {
      const res = await fn();
      if (destroyed) return;
      st.confirm = null;
      if (after) after(res);
      await reload();
    } catch (err) {
      if (destroyed) return;
      st.error = err.message || t("error.generic");
    } finally {
      st.busy = false;
      if (!destroyed) paintRow(agents.find((x) => x.id === a.id) || a);
    }
  }

  const CONFIRM = {
    deactivate: (a) => ({text: t("tm.deactivate.confirm", {name: a.name}), button: t("tm.deactivate"), danger: true,
                         run: () => act(a, () => api("POST", "/agents/" + a.id + "/deactivate", {}),
                                        {after: () => toast(t("tm.deactivated", {name: a.name}))})}),
    activate: (a) => ({text: t("tm.activate.confirm", {name: a.name}),
                       button: t("tm.activate"), danger: false,
                       run: () => act(a, () => api("POST", "/agents/" + a.id + "/activate", {}),
                                      {after: () => toast(t("tm.activated", {name: a.name}))})}),
    reset: (a) => ({text: t("tm.reset.confirm", {name: a.name}), button: t("tm.reset"), danger: true,
                    run: () => act(a, () => api("POST", "/agents/" + a.id + "/password-reset", {}),
                                   {after: (res) => showLink(t("tm.link.reset"), res, a.name)})}),
  };

  function paintRow(a) {
    const li = list.querySelector('[data-agent-id="' + a.id + '"]');
    if (li) li.replaceWith(row(a));
  }

  function row(a) {
    const st = stateOf(a.id);
    const status = statusOf(a);
    const me = app.me && a.id === app.me.id;
    const online = status === "active" && isOnline(a);
    const roleSelect = h("select", {class: "tm-role", "aria-label": t("tm.role.of", {name: a.name}),
                                    disabled: st.busy || status === "deactivated" ? true : null},
                         ROLES.map((r) => h("option", {value: r}, t("role." + r))));
    roleSelect.value = a.role;
    roleSelect.addEventListener("change", () => {
      const to = roleSelect.value;
      act(a, () => api("PATCH", "/agents/" + a.id, {role: to}), {after: () => {
        toast(t(to === "admin" ? "tm.now_admin" : "tm.now_agent", {name: a.name}));
        if (me && app.me) {
          app.me.role = to;
          document.getElementById("app").dataset.role = to;
          renderTopMenu(app);
          if (app.settings) app.settings.refresh();
        }
      }});
      roleSelect.value = a.role; // until the server agrees
    });
    const actions = [];
    const button = (label, cls, onClick, extra = {}) => {
      const b = h("button", Object.assign({type: "button", class: cls, disabled: st.busy ? true : null}, extra), label);
      b.addEventListener("click", onClick);
      return b;
    };
    const ask = (kind) => () => {
      st.confirm = kind;
      st.error = "";
      paintRow(a);
      const yes = list.querySelector('[data-agent-id="' + a.id + '"] .tm-confirm-yes');
      if (yes) yes.focus();
    };
    if (status === "invited") {
      actions.push(button(t("tm.new_link"), "tm-renew", () => act(a, () => api("POST", "/agents/" + a.id + "/invitation", {}),
        {after: (res) => showLink(t("tm.link.invitation"), res, a.name)}), {"aria-label": t("tm.new_link.label", {name: a.name})}));
    }
    if (status === "active" && !me) {
      actions.push(button(t("tm.reset"), "tm-reset", ask("reset"), {"aria-label": t("tm.reset.label", {name: a.name})}));
      actions.push(button(t("tm.deactivate"), "tm-deactivate danger-text", ask("deactivate"),
                          {"aria-label": t("tm.deactivate.label", {name: a.name})}));
    }
    if (status === "invited" && !me) {
      actions.push(button(t("tm.deactivate"), "tm-deactivate danger-text", ask("deactivate"),
                          {"aria-label": t("tm.cancel_invitation.label", {name: a.name})}));
    }
    if (status === "deactivated") {
      actions.push(button(t("tm.activate"), "tm-activate", ask("activate"), {"aria-label": t("tm.activate.label", {name: a.name})}));
    }
    let confirm = null;
    if (st.confirm && CONFIRM[st.confirm]) {
      const c = CONFIRM[st.confirm](a);
      const yes = button(c.button, "tm-confirm-yes " + (c.danger ? "danger" : "primary"), () => c.run());
      const no = button(t("cancel"), "tm-confirm-no", () => {
        st.confirm = null;
        paintRow(a);
      });
      confirm = h("div", {class: "tm-confirm", role: "group", "aria-label": t("tm.confirm")},
                  h("p", {class: "tm-confirm-text"}, c.text), h("div", {class: "tm-confirm-actions"}, no, yes));
    }
    const load = loadFor(app, a);
    const capacity = h("input", {class: "tm-capacity", type: "number", min: String(MIN_CAPACITY),
                                 max: String(MAX_CAPACITY), step: "1", inputmode: "numeric",
                                 "aria-label": t("tm.capacity.label", {name: a.name}),
                                 value: Number.isInteger(a.max_conversations) ? String(a.max_conversations) : "",
                                 disabled: st.busy || status === "deactivated" ? true : null});
    capacity.addEventListener("change", () => {
      const text = capacity.value.trim();
      const value = Number(text);
      if (!/^\d+$/.test(text) || value < MIN_CAPACITY || value > MAX_CAPACITY) {
        st.error = t("tm.capacity.invalid", {name: a.name, min: MIN_CAPACITY, max: MAX_CAPACITY});
        paintRow(a);
        const again = list.querySelector('[data-agent-id="' + a.id + '"] .tm-capacity');
        if (again) {
          again.value = text;
          again.focus();
        }
        return;
      }
      if (value === a.max_conversations) return;
      act(a, () => api("PATCH", "/agents/" + a.id, {max_conversations: value}),
          {after: () => toast(t("tm.capacity.saved", {name: a.name, count: value}))});
    });
    const li = h("li", {class: "tm-row", dataset: {agentId: a.id, status}},
      h("div", {class: "tm-who"}, avatar(a),
        h("div", {class: "tm-who-text"},
          h("span", {class: "tm-name"}, a.name, me ? h("span", {class: "muted"}, " " + t("an.you")) : null),
          h("span", {class: "tm-email muted small"}, a.email || ""))),
      h("div", {class: "tm-cell tm-role-cell"}, roleSelect),
      h("div", {class: "tm-cell tm-status-cell"},
        h("span", {class: "tm-status " + status}, t("tm.status." + status)),
        online ? h("span", {class: "tm-online", title: t("customer.online")}, h("span", {class: "dot online", "aria-hidden": "true"}),
                   t("tm.online")) : null),
      h("div", {class: "tm-cell tm-open", title: t("tm.load.cell_title")},
        h("span", {class: "tm-narrow-only tm-cell-label"}, t("tm.load") + " "),
        h("span", {class: "tm-load" + (load.max !== null && load.open >= load.max ? " full" : "")}, loadText(load))),
      h("label", {class: "tm-cell tm-capacity-cell"},
        h("span", {class: "tm-narrow-only tm-cell-label"}, t("tm.at_a_time")), capacity),
      h("div", {class: "tm-actions"}, actions),
      confirm,
      st.error ? h("p", {class: "error-text tm-row-error", role: "alert"}, st.error) : null);
    return li;
  }

  function paintList() {
    const order = {active: 0, invited: 1, deactivated: 2};
    const sorted = [...agents].sort((a, b) => (order[statusOf(a)] - order[statusOf(b)])
      || String(a.name).localeCompare(String(b.name)));
    list.replaceChildren(...sorted.map(row));
    empty.hidden = agents.length > 0;
    const active = agents.filter((a) => statusOf(a) === "active").length;
    const invited = agents.filter((a) => statusOf(a) === "invited").length;
    setText(count, t("tm.count.active", {count: active}) + (invited ? " · " + t("tm.count.invited", {count: invited}) : ""));
  }

  async function reload({announce = false, quiet = false} = {}) {
    try {
      const res = await api("GET", "/agents");
      if (destroyed) return;
      // A background refresh does not pull the row the admin is working in from under them.
      if (quiet && (list.contains(document.activeElement) || [...rowState.values()].some((st) => st.busy))) return;
      agents = res.agents || [];
      setText(listErr, "");
      paintList();
      if (app.refreshAgentsSoon) app.refreshAgentsSoon();
      if (announce) toast(t("tm.updated"));
    } catch (err) {
      if (destroyed) return;
      setText(listErr, t("tm.load_error", {error: err.message}));
    }
  }

  // The first load: its failure is the page's (the shell shows it with "Try again").
  const first = await api("GET", "/agents");
  agents = first.agents || [];
  root.append(h("div", {class: "tm"}, inviteForm, linkBox, listCard));
  paintList();

  // The routing document moved (an assignment, a resolve, a capacity change): the loads follow in place.
  const onRouting = () => {
    for (const a of agents) {
      const cell = list.querySelector('[data-agent-id="' + a.id + '"] .tm-load');
      const load = loadOf(app, a.id);
      if (!cell || !load) continue;
      setText(cell, formatNumber(load.open) + " / " + formatNumber(load.max));
      cell.classList.toggle("full", load.open >= load.max);
    }
  };
  window.addEventListener("callcenter:routing", onRouting);
  const onFocus = () => { if (document.visibilityState === "visible") reload({quiet: true}); };
  window.addEventListener("focus", onFocus);
  // A colleague came online or went away (their status, or an invitation just accepted): once per burst.
  let presenceTimer = null;
  const onPresence = () => {
    clearTimeout(presenceTimer);
    presenceTimer = setTimeout(() => reload({quiet: true}), 300);
  };
  window.addEventListener("callcenter:presence", onPresence);
  const timer = setInterval(() => { if (document.visibilityState === "visible") reload({quiet: true}); }, REFRESH_MS);
  return {
    destroy() {
      destroyed = true;
      clearInterval(timer);
      clearTimeout(presenceTimer);
      window.removeEventListener("focus", onFocus);
      window.removeEventListener("callcenter:presence", onPresence);
      window.removeEventListener("callcenter:routing", onRouting);
    },
  };
}
