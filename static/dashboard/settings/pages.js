// The Settings view's pages, in the order of its navigation. A page module exports
// `async function render(ctx)`, ctx = {app, root (an empty element to fill), api, toast, h,
// setDirty(bool) (unsaved changes: leaving the page asks first)}, and may return {destroy()}.
// adminOnly pages are neither listed nor opened for agents (the server refuses their calls anyway).
// A page's title is the catalogue's "settings.page.<id>" in the dashboard's language (i18n.js).

import {t} from "../i18n.js";

const page = (id, adminOnly, load) => ({id, adminOnly, load, get title() { return t("settings.page." + id); }});

export const PAGES = [
  page("profile", false, () => import("./profile.js")),
  page("team", true, () => import("./team.js")),
  page("routing", true, () => import("./routing.js")),
  page("widget", true, () => import("./widget.js")),
  page("ai", true, () => import("./ai.js")),
  page("webhooks", true, () => import("./webhooks.js")),
  page("audit", true, () => import("./audit.js")),
];
