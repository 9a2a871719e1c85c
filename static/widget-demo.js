// /widget-demo.html: the reference's embed snippet, run as an external script (the page's CSP forbids inline ones).
(function () {
  "use strict";
  var options = {
    apiUrl: location.origin,
    tenantId: "demo-tenant",
    position: "bottom-right",
    primaryColor: "#4F46E5",
    title: "Chat with us"
  };
  CallCenterChat.init(options);

  var $ = function (id) { return document.getElementById(id); };

  function snippet() {
    var lines = ["apiUrl: '" + options.apiUrl + "'", "tenantId: '" + options.tenantId + "'",
      "position: '" + options.position + "'", "primaryColor: '" + options.primaryColor + "'",
      "title: '" + options.title + "'"];
    if (options.locale) lines.push("locale: '" + options.locale + "'");
    $("snippet").textContent = "<script>\n  window.CallCenterChat = window.CallCenterChat || " +
      "{q: [], init: function (o) { this.q.push(o); }};\n  CallCenterChat.init({\n    " + lines.join(",\n    ") +
      "\n  });\n</script>\n<script async src=\"" + location.origin + "/chat-widget.js\"></script>";
  }

  function logEvent(text) {
    var li = document.createElement("li");
    li.textContent = new Date().toLocaleTimeString() + " · " + text;
    $("events").insertBefore(li, $("events").firstChild);
    while ($("events").children.length > 8) $("events").removeChild($("events").lastChild);
  }

  CallCenterChat.on("open", function () { logEvent("open"); });
  CallCenterChat.on("close", function () { logEvent("close"); });
  CallCenterChat.on("unread", function (n) { logEvent("unread: " + n); });
  CallCenterChat.on("message", function (m) {
    var files = (m.files || []).map(function (f) { return "📎 " + f.name; }).join(", ");
    logEvent("message from " + (m.sender === "visitor" ? "you" : m.name || m.sender) + ": " +
             [m.text.slice(0, 60), files].filter(Boolean).join(" "));
  });

  function restart(clear) {
    CallCenterChat.shutdown({clear: clear});
    CallCenterChat.init(options);
    snippet();
  }

  $("open-chat").addEventListener("click", function () { CallCenterChat.open(); });
  $("locale").addEventListener("change", function () {
    if (this.value) options.locale = this.value;
    else delete options.locale;
    restart(false);
  });
  $("position").addEventListener("change", function () {
    options.position = this.value;
    restart(false);
  });
  $("color").addEventListener("change", function () {
    options.primaryColor = this.value;
    restart(false);
  });
  $("restart").addEventListener("click", function () {
    restart(true);
    CallCenterChat.open();
  });
  snippet();
})();
