// The /websocket-test.html tool: sign in or paste a token, connect, watch every frame.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null;
  var pings = {};

  function now() { return new Date().toISOString().slice(11, 23); }

  function log(kind, text) {
    var li = document.createElement("li");
    li.className = kind;
    var t = document.createElement("time");
    t.textContent = now();
    li.appendChild(t);
    li.appendChild(document.createTextNode((kind === "in" ? "⇦ " : kind === "out" ? "⇨ " : "· ") + text));
    $("log").appendChild(li);
    $("log").scrollTop = $("log").scrollHeight;
  }

  function setState(state, label) {
    var el = $("live");
    el.className = "indicator " + state;
    el.textContent = label;
    var connected = state === "live";
    ["disconnect", "ping", "send", "typing", "send-raw"].forEach(function (id) { $(id).disabled = !connected; });
    $("connect").disabled = state !== "offline";
  }

  function send(frame) {
    if (!ws || ws.readyState !== 1) return;
    var text = typeof frame === "string" ? frame : JSON.stringify(frame);
    ws.send(text);
    log("out", text);
  }

  $("login-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    $("status").textContent = "";
    fetch("/api/v1/auth/login", {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({email: $("email").value, password: $("password").value, tenant_id: $("tenant").value})
    }).then(function (r) { return r.json().then(function (b) { return {ok: r.ok, body: b}; }); })
      .then(function (res) {
        if (!res.ok) { $("status").textContent = res.body.error ? res.body.error.message : "sign-in failed"; return; }
        $("token").value = res.body.token;
        log("sys", "signed in as " + res.body.agent.email);
      })
      .catch(function (e) { $("status").textContent = "network error: " + e; });
  });

  $("connect").addEventListener("click", function () {
    var token = $("token").value.trim();
    if (!token) { $("status").textContent = "sign in or paste a token first"; return; }
    var resume = null;
    if ($("resume").value.trim()) {
      try { resume = JSON.parse($("resume").value); } catch (e) { $("status").textContent = "resume is not JSON"; return; }
    }
    $("status").textContent = "";
    setState("connecting", "Connecting…");
    ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onopen = function () {
      log("sys", "socket open; sending auth frame");
      var frame = {type: "auth", token: token};
      if (resume) frame.resume = resume;
      ws.send(JSON.stringify(frame));
      log("out", '{"type":"auth","token":"…"' + (resume ? ',"resume":' + JSON.stringify(resume) : "") + "}");
    };
    ws.onmessage = function (ev) {
      log("in", ev.data);
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      if (frame.type === "auth.ok") setState("live", "Live");
      if (frame.type === "pong" && frame.data && pings[frame.data.t]) {
        var rtt = performance.now() - pings[frame.data.t];
        delete pings[frame.data.t];
        $("rtt").textContent = "RTT " + rtt.toFixed(1) + " ms";
      }
    };
    ws.onclose = function (ev) {
      log("sys", "closed: code " + ev.code + (ev.reason ? " (" + ev.reason + ")" : ""));
      setState("offline", "Offline");
      ws = null;
    };
    ws.onerror = function () { log("sys", "socket error"); };
  });

  $("disconnect").addEventListener("click", function () { if (ws) ws.close(1000, "bye"); });
  $("ping").addEventListener("click", function () {
    var t = String(Date.now()) + Math.random().toString(16).slice(2, 6);
    pings[t] = performance.now();
    send({type: "ping", data: {t: t}});
  });
  $("send").addEventListener("click", function () {
    var data = {message: $("message").value, client_msg_id: "wt-" + Date.now()};
    if ($("session").value.trim()) data.session_id = $("session").value.trim();
    send({type: "chat.message.send", data: data});
  });
  $("typing").addEventListener("click", function () {
    var data = {is_typing: true};
    if ($("session").value.trim()) data.session_id = $("session").value.trim();
    send({type: "chat.typing", data: data});
  });
  $("send-raw").addEventListener("click", function () { send($("raw").value); });
  $("clear").addEventListener("click", function () { $("log").textContent = ""; });
  setState("offline", "Offline");
})();
