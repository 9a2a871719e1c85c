// The agent dashboard's service worker (served at /sw.js, scope /): Web Push messages become
// OS notifications while no dashboard is on screen, and a click on one opens (or focuses) the
// dashboard on that conversation. No fetch handler: nothing is cached, every request goes to
// the network as without a worker.
//
// Everything in a push comes from the server but is still treated as data: titles and bodies
// are notification text (never markup), and the only URLs ever opened are same-origin paths.
"use strict";

const GENERIC_TITLE = "New activity in callcenter";
const GENERIC_BODY = "Open the agent dashboard to see what is new.";
const ICON = "/static/icons/icon-192.png";
const BADGE = "/static/icons/badge-96.png";
const MAX_TITLE = 120;
const MAX_BODY = 300;
// How long a visible dashboard has to say it took the push (it answers at once; a page that is
// frozen or signed out does not, and then the notification is shown after all).
const HANDOFF_WAIT_MS = 2000;

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch (e) {
    payload = null; // not JSON (or not decryptable text): the generic notification below
  }
  if (!payload || typeof payload !== "object" || Array.isArray(payload)) payload = null;
  event.waitUntil(onPush(payload).catch(() => showGeneric()));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  event.waitUntil(openDashboard(sessionIdFrom(data.session_id), data.url));
});

async function onPush(payload) {
  if (!payload) return showGeneric();
  const note = notificationFor(payload);
  // A test notification is shown whatever is on screen: seeing it is the point.
  if (payload.type !== "test") {
    const visible = (await dashboardClients()).filter((c) => c.focused || c.visibilityState === "visible");
    if (visible.length && await handedToPage(visible, payload)) return undefined;
  }
  return self.registration.showNotification(note.title, note.options);
}

function showGeneric() {
  return self.registration.showNotification(GENERIC_TITLE, {
    body: GENERIC_BODY, tag: "cc-activity", renotify: true, icon: ICON, badge: BADGE, timestamp: Date.now(),
    data: {url: "/", session_id: null},
  });
}

/** The notification for a push payload: text fields only, a tag and URL we trust. */
function notificationFor(p) {
  const sessionId = sessionIdFrom(p.session_id);
  const tag = typeof p.tag === "string" && /^cc-[A-Za-z0-9_-]{1,100}$/.test(p.tag) ? p.tag
    : "cc-" + (sessionId || "activity");
  const sent = Number(p.sent_at_ms);
  return {
    title: text(p.title, MAX_TITLE) || GENERIC_TITLE,
    options: {
      body: text(p.body, MAX_BODY),
      tag,
      renotify: true,
      icon: ICON,
      badge: BADGE,
      timestamp: Number.isFinite(sent) && sent > 0 ? sent : Date.now(),
      data: {url: dashboardUrl(p.url, sessionId), session_id: sessionId},
    },
  };
}

function text(value, max) {
  return typeof value === "string" ? value.slice(0, max) : "";
}

/** A conversation id as the server makes them (letters, digits, - and _), else null. */
function sessionIdFrom(value) {
  return typeof value === "string" && /^[A-Za-z0-9_-]{1,100}$/.test(value) ? value : null;
}

/** The dashboard URL to open: the payload's if it is a path of this origin's dashboard (`/` or
 *  `/?session=…`), else one built from the session id. Never another origin or page. */
function dashboardUrl(url, sessionId) {
  const fallback = sessionId ? "/?session=" + encodeURIComponent(sessionId) : "/";
  if (typeof url !== "string" || !url.startsWith("/") || url.startsWith("//") || url.startsWith("/\\")) return fallback;
  try {
    const parsed = new URL(url, self.location.origin);
    if (parsed.origin !== self.location.origin || parsed.pathname !== "/") return fallback;
    const session = parsed.searchParams.get("session");
    if (session === null) return "/";
    return sessionIdFrom(session) ? "/?session=" + encodeURIComponent(session) : fallback;
  } catch (e) {
    return fallback;
  }
}

/** Open dashboard windows (the page at `/` of this origin), controlled by this worker or not. */
async function dashboardClients() {
  const all = await self.clients.matchAll({type: "window", includeUncontrolled: true});
  return all.filter((c) => {
    try {
      const url = new URL(c.url);
      return url.origin === self.location.origin && url.pathname === "/";
    } catch (e) {
      return false;
    }
  });
}

/** Give the push to the visible dashboards; true when one of them says it took it (a signed-in
 *  dashboard: its live socket shows the same events), false when none does in time. */
function handedToPage(clients, payload) {
  return new Promise((resolve) => {
    let waiting = clients.length;
    const timer = setTimeout(() => resolve(false), HANDOFF_WAIT_MS);
    const answer = (handled) => {
      waiting--;
      if (handled || waiting === 0) {
        clearTimeout(timer);
        resolve(!!handled);
      }
    };
    for (const client of clients) {
      const channel = new MessageChannel();
      channel.port1.onmessage = (ev) => answer(!!(ev.data && ev.data.handled));
      try {
        client.postMessage({type: "cc-push", payload}, [channel.port2]);
      } catch (e) {
        answer(false);
      }
    }
  });
}

async function openDashboard(sessionId, url) {
  const target = dashboardUrl(url, sessionId);
  const windows = await dashboardClients();
  // The one the agent used last is first in the list (most recently focused).
  const existing = windows.find((c) => c.focused) || windows.find((c) => c.visibilityState === "visible") || windows[0];
  if (existing) {
    try {
      const focused = await existing.focus();
      (focused || existing).postMessage({type: "cc-open-session", session_id: sessionId});
      return;
    } catch (e) {
      // focus() may be refused (no user activation left): open a window instead.
    }
  }
  if (self.clients.openWindow) await self.clients.openWindow(target);
}
