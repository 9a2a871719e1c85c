// Opening a given conversation from outside: the address /?session=<id> (a push notification's URL),
// or a notification clicked while this window was open. Kept until the agent is signed in.

import {openConversation} from "./sections.js";

const SESSION_ID_RE = /^[A-Za-z0-9_-]{1,100}$/;

/** The conversation the address asks for (`?session=`), or null. */
export function sessionFromUrl() {
  const id = new URLSearchParams(location.search).get("session");
  return id && SESSION_ID_RE.test(id) ? id : null;
}

/** The address without `?session=` (it was for opening the page, not for a reload). */
function dropSessionFromUrl() {
  const url = new URL(location.href);
  if (!url.searchParams.has("session")) return;
  url.searchParams.delete("session");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

/** Right after sign-in: the conversation asked for, if any. */
export function openPendingSession(app) {
  const id = app.pendingSession;
  app.pendingSession = null;
  dropSessionFromUrl();
  if (id && app.signedIn) openConversation(app, id);
}

/** A notification was clicked and the service worker brought this window forward. */
export function openFromNotification(app, id) {
  if (!id) return;
  app.pendingSession = id;
  if (app.signedIn) openPendingSession(app);
}
