// The /websocket-test.html tool: sign in or paste a token, connect, watch every frame. With "Reconnect
// automatically", a lost socket comes back the way the widget's and the dashboard's do: full-jitter backoff
// (random up to min(30 s, 1 s * 2^attempt); a dead or restarting worker's first try spread over 3 s), resuming
// from the last seq seen per session; never after 4001/4003/4010 (the token or origin is refused).
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null;
  var pings = {};
  // wanted: the user asked to be connected (Connect, not Disconnect yet); seen: session id -> last seq received.
  var wanted = false, attempts = 0, retryT = 0, upAt = 0, token = "", resume = null, seen = {};

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
    ["ping", "send", "typing", "send-raw"].forEach(function (id) { $(id).disabled = !connected; });
    $("disconnect").disabled = state === "offline";
    $("connect").disabled = state !== "offline";
  }

  // The tenant the token names (its "tid" claim), else the Tenant field: /ws?tenant= lets the balancer send a
  // tenant's sockets to one worker (not a secret; the token, in the first frame, decides).
  function tenantOf(tok) {
    try {
      var tid = JSON.parse(atob(tok.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).tid;
      if (tid) return String(tid);
    } catch (e) { /* not a token we can read */ }
    return $("tenant").value.trim();
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
    token = $("token").value.trim();
    if (!token) { $("status").textContent = "sign in or paste a token first"; return; }
    resume = null;
    if ($("resume").value.trim()) {
      try { resume = JSON.parse($("resume").value); } catch (e) { $("status").textContent = "resume is not JSON"; return; }
    }
    $("status").textContent = "";
    wanted = true;
    attempts = 0;
    seen = {};
    open();
  });

  function open() {
    clearTimeout(retryT);
    setState("connecting", attempts ? "Reconnecting…" : "Connecting…");
    var tenant = tenantOf(token);
    var sock = ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
      (tenant ? "?tenant=" + encodeURIComponent(tenant) : ""));
    sock.onopen = function () {
      log("sys", "socket open; sending auth frame");
      var frame = {type: "auth", token: token};
      var from = Object.assign({}, resume || {}, seen);
      if (Object.keys(from).length) frame.resume = from;
      sock.send(JSON.stringify(frame));
      var shown = frame.resume ? ',"resume":' + JSON.stringify(frame.resume) : "";
      log("out", '{"type":"auth","token":"…"' + shown + "}");
    };
    sock.onmessage = function (ev) {
      log("in", ev.data);
      var frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      var m = frame.data && frame.data.message;
      if (m && m.session_id && m.seq > (seen[m.session_id] || 0)) seen[m.session_id] = m.seq;
      if (frame.type === "auth.ok") {
        upAt = Date.now();
        setState("live", "Live");
      }
      if (frame.type === "pong" && frame.data && pings[frame.data.t]) {
        var rtt = performance.now() - pings[frame.data.t];
        delete pings[frame.data.t];
        $("rtt").textContent = "RTT " + rtt.toFixed(1) + " ms";
      }
    };
    sock.onclose = function (ev) {
      log("sys", "closed: code " + ev.code + (ev.reason ? " (" + ev.reason + ")" : ""));
      if (ws !== sock) return;
      ws = null;
      // A connection that stayed up 10 s starts the backoff afresh.
      if (upAt && Date.now() - upAt > 10000) attempts = 0;
      upAt = 0;
      if (!wanted || !$("auto").checked || [4001, 4003, 4010].indexOf(ev.code) >= 0) {
        wanted = false;
        setState("offline", "Offline");
        return;
      }
      var ceiling = Math.min(30000, attempts ? 1000 * Math.pow(2, attempts) :
        ev.code === 1006 || ev.code === 1012 ? 3000 : 1000);
      var delay = Math.round(Math.random() * ceiling);
      attempts++;
      log("sys", "reconnecting in " + (delay / 1000).toFixed(1) + " s (attempt " + attempts + ")");
      setState("connecting", "Reconnecting…");
      retryT = setTimeout(open, delay);
    };
    sock.onerror = function () { log("sys", "socket error"); };
  }

  // Back online: try now.
  window.addEventListener("online", function () { if (wanted && !ws) open(); });

  $("disconnect").addEventListener("click", function () {
    wanted = false;
    clearTimeout(retryT);
    if (ws) ws.close(1000, "bye");
    else setState("offline", "Offline");
  });
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
