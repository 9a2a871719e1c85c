// /?invite=<token>: an admin's one-time link. "invite": join the team (choose a password); "reset": set a
// new password. GET /auth/invitations/<token> says which (and for whom); POST /auth/invitations/accept
// {token, password} answers like POST /auth/login, and the page signs in with it. The token leaves the
// address (history.replaceState) once it is used, so it is not kept in the history. Shown instead of the
// sign-in form and instead of the app (whoever is signed in in this browser: the link is for someone else).

import {api, ApiError, remembered, tokenStore} from "./api.js";
import {$, clear, h, setText} from "./dom.js";
import {formatDateTime as fmtDateTime, t} from "./i18n.js";
import {boot, signInWith} from "./signin.js";

const TOKEN_RE = /^[A-Za-z0-9_.~-]{8,300}$/;
const MIN_PASSWORD = 8;

/** The token of /?invite=<token>, or null. */
export function inviteTokenFromUrl() {
  const token = new URLSearchParams(location.search).get("invite");
  return token !== null ? token : null;
}

/** The address without ?invite= (the token is not kept in the history). */
function dropTokenFromUrl() {
  const url = new URL(location.href);
  url.searchParams.delete("invite");
  history.replaceState(null, "", url.pathname + url.search + url.hash);
}

function brand() {
  return h("div", {class: "login-brand"}, h("span", {class: "logo", "aria-hidden": "true"}, "☎"), "Callcenter");
}

/** Leave this page for the dashboard (its sign-in form, or the app with a stored token). */
function leave(app) {
  dropTokenFromUrl();
  $("invite-view").hidden = true;
  boot(app);
}

function card(...children) {
  const view = $("invite-view");
  clear(view).append(h("div", {class: "login-card invite-card"}, brand(), ...children));
  view.hidden = false;
  $("login-view").hidden = true;
  $("app").hidden = true;
  $("boot").hidden = true;
  return view;
}

function showInvalid(app, message = t("invite.invalid")) {
  const back = h("button", {type: "button", id: "invite-leave", class: "primary"}, t("invite.to_signin"));
  back.addEventListener("click", () => leave(app));
  card(h("h1", {id: "invite-title"}, t("invite.invalid.title")),
       h("p", {id: "invite-message", class: "login-message error", role: "alert"}, message), back);
  back.focus();
}

function showProblem(app, token, message) {
  const retry = h("button", {type: "button", class: "primary", id: "invite-retry"}, t("retry"));
  retry.addEventListener("click", () => showInvite(app));
  card(h("h1", {id: "invite-title"}, t("invite.problem.title")),
       h("p", {id: "invite-message", class: "login-message error", role: "alert"}, message), retry);
}

/** The /?invite= page: ask the server about the link, then the password form. */
export async function showInvite(app) {
  const token = inviteTokenFromUrl();
  if (token === null) {
    boot(app);
    return;
  }
  card(h("p", {class: "muted", role: "status"}, t("invite.checking")));
  if (!TOKEN_RE.test(token)) {
    showInvalid(app);
    return;
  }
  let info;
  try {
    info = await api("GET", "/auth/invitations/" + encodeURIComponent(token), undefined, {auth: false});
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 410 || err.code === "invitation_invalid")) {
      showInvalid(app);
    } else {
      showProblem(app, token, err.message || t("error.network"));
    }
    return;
  }
  showForm(app, token, info);
}

function showForm(app, token, info) {
  const reset = info.purpose === "reset";
  const tenantName = (info.tenant && (info.tenant.name || info.tenant.id)) || t("invite.your_team");
  const title = reset ? t("invite.reset.title") : t("invite.join.title", {team: tenantName});
  const message = h("p", {id: "invite-message", class: "login-message error", role: "alert", hidden: true});
  const password = h("input", {id: "invite-password", name: "new-password", type: "password",
                               autocomplete: "new-password", required: true, minlength: String(MIN_PASSWORD)});
  const confirm = h("input", {id: "invite-confirm", name: "confirm-password", type: "password",
                              autocomplete: "new-password", required: true});
  const submit = h("button", {id: "invite-submit", class: "primary", type: "submit"},
                   reset ? t("invite.reset.submit") : t("invite.join.submit"));
  const signedInAs = tokenStore.get()
    ? h("p", {class: "muted small invite-note"},
        t("invite.signed_in_other", {email: info.email || t("invite.links_agent")}))
    : null;
  const expires = info.expires_at
    ? h("p", {class: "muted small invite-note", title: fmtDateTime(info.expires_at, {dateStyle: "full", timeStyle: "short"})},
        t("invite.expires", {date: fmtDateTime(info.expires_at)})) : null;
  const cancel = h("button", {type: "button", class: "link-btn invite-cancel", id: "invite-cancel"},
                   reset ? t("cancel") : t("invite.not_now"));
  cancel.addEventListener("click", () => leave(app));
  // The e-mail as a read-only username field: password managers file the new password under it.
  const email = h("input", {id: "invite-email", type: "email", autocomplete: "username", readonly: true,
                            value: info.email || ""});
  const form = h("form", {id: "invite-form", class: "invite-form", novalidate: true},
    h("h1", {id: "invite-title"}, title),
    h("p", {class: "invite-sub"}, reset
      ? t("invite.reset.sub", {team: tenantName})
      : (info.name ? t("invite.welcome", {name: info.name}) + " " : "") + t("invite.join.sub")),
    message,
    h("label", {for: "invite-email"}, t("invite.email")), email,
    h("label", {for: "invite-password"}, reset ? t("invite.new_password") : t("invite.password")), password,
    h("p", {class: "muted small field-hint"}, t("invite.min_hint", {count: MIN_PASSWORD})),
    h("label", {for: "invite-confirm"}, t("invite.confirm")), confirm,
    expires, signedInAs, submit, cancel);
  const view = $("invite-view");
  clear(view).append(h("div", {class: "login-card invite-card"}, brand(), form));
  view.hidden = false;
  $("login-view").hidden = true;
  $("app").hidden = true;
  password.focus();

  const fail = (text) => {
    message.hidden = false;
    setText(message, text);
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (password.value.length < MIN_PASSWORD) {
      fail(t("invite.too_short", {count: MIN_PASSWORD}));
      password.focus();
      return;
    }
    if (password.value !== confirm.value) {
      fail(t("invite.mismatch"));
      confirm.select();
      return;
    }
    message.hidden = true;
    submit.disabled = true;
    setText(submit, t("invite.signing_in"));
    try {
      const res = await api("POST", "/auth/invitations/accept", {token, password: password.value}, {auth: false});
      password.value = confirm.value = "";
      dropTokenFromUrl();
      view.hidden = true;
      clear(view);
      const tenantId = (res.agent && res.agent.tenant_id) || (info.tenant && info.tenant.id);
      if (tenantId && info.email) remembered.save(tenantId, info.email);
      if (app.signedIn) {
        // Someone else was signed in in this tab: leave their session without showing the sign-in form.
        app.socket.stop();
      }
      signInWith(app, res);
    } catch (err) {
      submit.disabled = false;
      setText(submit, reset ? t("invite.reset.submit") : t("invite.join.submit"));
      if (err instanceof ApiError && (err.status === 404 || err.status === 410 || err.code === "invitation_invalid")) {
        showInvalid(app);
        return;
      }
      fail(err.message || t("error.generic"));
    }
  });
}
