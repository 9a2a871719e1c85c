// The Settings view's pages, in the order of its navigation. A page module exports
// `async function render(ctx)`, ctx = {app, root (an empty element to fill), api, toast, h,
// setDirty(bool) (unsaved changes: leaving the page asks first)}, and may return {destroy()}.
// adminOnly pages are neither listed nor opened for agents (the server refuses their calls anyway).

export const PAGES = [
  {id: "profile", title: "Profile", adminOnly: false, load: () => import("./profile.js")},
  {id: "team", title: "Team", adminOnly: true, load: () => import("./team.js")},
  {id: "routing", title: "Routing", adminOnly: true, load: () => import("./routing.js")},
  {id: "widget", title: "Widget", adminOnly: true, load: () => import("./widget.js")},
  {id: "ai", title: "AI assistant", adminOnly: true, load: () => import("./ai.js")},
  {id: "webhooks", title: "Webhooks", adminOnly: true, load: () => import("./webhooks.js")},
  {id: "audit", title: "Audit log", adminOnly: true, load: () => import("./audit.js")},
];
