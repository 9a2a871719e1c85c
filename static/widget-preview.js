// Settings › Widget's live preview: the real chat-widget.js, re-initialised with the values of the form
// being edited, which the dashboard (the parent page, this page's own origin) posts as
// {type: "widget-preview", options: {title, subtitle, primaryColor, position, greeting, locale, prechat}}.
// The dashboard frames this page with sandbox="allow-scripts" (an opaque origin): it can read neither the
// dashboard's storage (its token) nor any storage of its own, and the widget's API calls are answered here
// (refused), so the preview can never start a real conversation.
(function () {
  "use strict";
  var origin = new URL(location.href).origin;
  var options = null;

  // Nothing here takes the focus from the field the admin is typing in.
  HTMLElement.prototype.focus = function () {};
  // No calls leave the preview: the widget then shows exactly the options it was given.
  window.fetch = function () { return Promise.reject(new TypeError("preview")); };

  function show() {
    if (!options || !window.CallCenterChat) return;
    CallCenterChat.shutdown();
    CallCenterChat.init(Object.assign({}, options, {tenantId: "preview", apiUrl: origin}));
    CallCenterChat.open();
  }

  // The widget draws once its language pack is here (a moment later for es/fr/de): guarded when it opens.
  if (window.CallCenterChat) {
    CallCenterChat.on("open", function () {
      var host = document.querySelector("callcenter-chat");
      if (host && host.shadowRoot) guard(host.shadowRoot);
      document.body.setAttribute("data-shown", String(Date.now()));
    });
  }

  // Sending, starting the chat and attaching do nothing in the preview (the form and the box stay as typed).
  function guard(root) {
    var stop = function (ev) { ev.preventDefault(); ev.stopImmediatePropagation(); };
    root.addEventListener("submit", stop, true);
    root.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && ev.target.tagName === "TEXTAREA") stop(ev);
    }, true);
    root.addEventListener("click", function (ev) {
      if (ev.target.closest && ev.target.closest(".ac")) stop(ev);
    }, true);
  }

  window.addEventListener("message", function (ev) {
    if (ev.source !== window.parent || ev.origin !== origin) return;
    var data = ev.data;
    if (!data || data.type !== "widget-preview" || typeof data.options !== "object") return;
    options = data.options;
    show();
  });
  // Ready: the dashboard sends the current values.
  window.parent.postMessage({type: "widget-preview-ready"}, origin);
})();
