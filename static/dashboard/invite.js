// /?invite=<token>: an admin's one-time link. "invite": join the team (choose a password); "reset": set a
// new password. GET /auth/invitations/<token> says which (and for whom); POST /auth/invitations/accept
// {token, password} answers like POST /auth/login, and the page signs in with it. The token leaves the
// address (history.replaceState) once it is used, so it is not kept in the history. Shown instead of the
// sign-in form and instead of the app (whoever is signed in in this browser: the link is for someone else).

import {api, ApiError, remembered, tokenStore} from "./api.js";
import {$, clear, fmtDateTime, h, setText} from "./dom.js";
import {boot, signInWith} from "./signin.js";

const TOKEN_RE = /^[A-Za-z0-9_.~-]{8,300}$/;
const INVALID = "This link is no longer valid. Ask an admin for a new one.";
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

function showInvalid(app, message = INVALID) {
  const back = h("button", {type: "button", id: "invite-leave", class: "primary"}, "Go to the sign-in");
  back.addEventListener("click", () => leave(app));
  card(h("h1", {id: "invite-title"}, "Link not valid"),
       h("p", {id: "invite-message", class: "login-message error", role: "alert"}, message), back);
  back.focus();
}

function showProblem(app, token, message) {
  const retry = h("button", {type: "button", class: "primary", id: "invite-retry"}, "Try again");
  retry.addEventListener("click", () => showInvite(app));
  card(h("h1", {id: "invite-title"}, "Could not open the link"),
       h("p", {id: "invite-message", class: "login-message error", role: "alert"}, message), retry);
}

/** The /?invite= page: ask the server about the link, then the password form. */
export async function showInvite(app) {
  const token = inviteTokenFromUrl();
  if (token === null) {
    boot(app);
    return;
  }
  card(h("p", {class: "muted", role: "status"}, "Checking the link…"));
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
      showProblem(app, token, err.message || "The server cannot be reached.");
    }
    return;
  }
  showForm(app, token, info);
}

function showForm(app, token, info) {
  const reset = info.purpose === "reset";
  const tenantName = (info.tenant && (info.tenant.name || info.tenant.id)) || "your team";
  const title = reset ? "Set a new password" : "Join " + tenantName;
  const message = h("p", {id: "invite-message", class: "login-message error", role: "alert", hidden: true});
  const password = h("input", {id: "invite-password", name: "new-password", type: "password",
                               autocomplete: "new-password", required: true, minlength: String(MIN_PASSWORD)});
  const confirm = h("input", {id: "invite-confirm", name: "confirm-password", type: "password",
                              autocomplete: "new-password", required: true});
  const submit = h("button", {id: "invite-submit", class: "primary", type: "submit"},
                   reset ? "Set password and sign in" : "Join and sign in");
  const signedInAs = tokenStore.get()
    ? h("p", {class: "muted small invite-note"}, "You are signed in as someone else in this browser: continuing signs "
        + "this tab in as " + (info.email || "the link's agent") + ".")
    : null;
  const expires = info.expires_at
    ? h("p", {class: "muted small invite-note", title: new Date(info.expires_at).toLocaleString()},
        "This link works until " + fmtDateTime(info.expires_at) + ".") : null;
  const cancel = h("button", {type: "button", class: "link-btn invite-cancel", id: "invite-cancel"},
                   reset ? "Cancel" : "Not now");
  cancel.addEventListener("click", () => leave(app));
  // The e-mail as a read-only username field: password managers file the new password under it.
  const email = h("input", {id: "invite-email", type: "email", autocomplete: "username", readonly: true,
                            value: info.email || ""});
  const form = h("form", {id: "invite-form", class: "invite-form", novalidate: true},
    h("h1", {id: "invite-title"}, title),
    h("p", {class: "invite-sub"}, reset
      ? "Choose a new password for your account at " + tenantName + "."
      : (info.name ? "Welcome, " + info.name + ". " : "") + "Choose a password to start answering chats."),
    message,
    h("label", {for: "invite-email"}, "Email"), email,
    h("label", {for: "invite-password"}, reset ? "New password" : "Password"), password,
    h("p", {class: "muted small field-hint"}, "At least " + MIN_PASSWORD + " characters."),
    h("label", {for: "invite-confirm"}, "Confirm password"), confirm,
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
      fail("The password needs at least " + MIN_PASSWORD + " characters.");
      password.focus();
      return;
    }
    if (password.value !== confirm.value) {
      fail("The two passwords are not the same.");
      confirm.select();
      return;
    }
    message.hidden = true;
    submit.disabled = true;
    setText(submit, "Signing in…");
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
      setText(submit, reset ? "Set password and sign in" : "Join and sign in");
      if (err instanceof ApiError && (err.status === 404 || err.status === 410 || err.code === "invitation_invalid")) {
        showInvalid(app);
        return;
      }
      fail(err.message || "Something went wrong.");
    }
  });
}
