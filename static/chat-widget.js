/*! callcenter chat widget */
/* Built by scripts/build_assets.py (esbuild: minified; __WIDGET_STRINGS__ the English texts, from the catalogues'
 * `common` + `widget` sections of static/i18n/en.json; __WIDGET_CSS__ static/chat-widget.css, minified;
 * __WIDGET_PACKS__ {lang: file} of the other languages' packs and __WIDGET_EXTRA__ the file of the lazily loaded
 * part, static/chat-widget-extra.js); /chat-widget.js serves the built file only. Keep the built widget within its
 * gzip budget (tests/test_assets.py). Dependency-free. A visitor in another language gets that language's pack
 * (static/dist/chat-widget-<lang>.<hash>.js, a script calling CallCenterChat._add(lang, {key: text})) before the
 * widget draws (at most 300 ms, then English); the files of messages, the uploads, the rating card and the
 * transcript come with the extra part (loaded when first needed, prefetched once the panel opens). Both are loaded
 * from the origin this script came from, /static/dist/ (content-hashed: cached for good). Embed (async; the stub
 * queues init until the script has loaded):
 *   <script>window.CallCenterChat=window.CallCenterChat||{q:[],init:function(o){this.q.push(o)}};
 *   CallCenterChat.init({tenantId: 'demo-tenant', position: 'bottom-right', primaryColor: '#4F46E5'});</script>
 *   <script async src="https://support.example.com/chat-widget.js"></script>
 * Options: apiUrl (default: the origin this script came from), tenantId, position (bottom-right | bottom-left),
 * primaryColor, title, subtitle, greeting, locale, prechat ({name, email}: "required" | "optional" | "hidden").
 * Each one left out is the tenant's saved widget setting (GET /chat/public/tenants/:id, fetched at start and kept
 * for the next page), else the default. Contrast: the text on the primary colour is white or dark, whichever
 * contrasts more (WCAG), and the primary is darkened/lightened until that reaches 4.5:1; links use the primary
 * darkened to 4.5:1 on white. API: init, open, close, toggle, setUser({name, email}),
 * on(event, fn) for "message" ({id, seq, sender, name, text, createdAt, files}) | "open" | "close" | "unread"
 * (returns an off function), shutdown({clear}).
 * States: the launcher is the close button while the panel is open; a reply while it is closed shows a preview
 * card above the launcher; the header shows the team (generic avatars for up to 3 agents online) and how fast it
 * typically replies (settings.team); the pre-chat form is a card in the message log; once resolved, "Start a new
 * conversation" (the old one stays readable until then). On a phone the panel covers the page: it is modal then
 * (aria-modal, Tab cycles inside); Escape closes it and focus returns to the launcher.
 * Visitors attach files (paperclip or paste): images show inline, other files download, both fetched with
 * the visitor's token. Everything renders in a Shadow DOM; the only global is CallCenterChat; text and file
 * names are only ever set as text. The conversation is kept in localStorage ("callcenter-chat:<tenantId>").
 * Once an agent resolves the conversation (unless the tenant's csat_enabled is off), the widget asks for a
 * rating (1-5 stars and an optional comment), which the visitor can change for 10 minutes, and offers the
 * conversation by e-mail (unless the server answers mail_disabled). While the conversation waits in the
 * tenant's routing queue, a line says the visitor's place in it (and about how long); outside the tenant's
 * business hours a notice says the team is away and when it is back, and the pre-chat form requires an e-mail
 * address. A link from one of the server's e-mails (#cc_resume=<token> in the page's address) reopens its
 * conversation here.
 */
(function () {
  "use strict";
  // The embed snippet's stub ({q: [init options]}) is replaced, its calls replayed at the end.
  var stub = window.CallCenterChat;
  if (stub && stub.version) return;

  var script = document.currentScript;
  var scriptOrigin = "";
  // apiUrl's default: the origin this script came from; the page's when that is unknown (inlined, opaque).
  try { scriptOrigin = new URL(script && script.src ? script.src : "", location.href).origin; } catch (e) {}
  if (!scriptOrigin || scriptOrigin === "null") scriptOrigin = location.origin;

  // {key: text}, English, from the catalogues (static/i18n), put in by the build; a text missing from a language's
  // pack is the English one. PACKS: {lang: file name} of the other languages' packs; EXTRA: the lazy part's.
  var EN = __WIDGET_STRINGS__, PACKS = __WIDGET_PACKS__, EXTRA = __WIDGET_EXTRA__;
  // What the packs and the extra part registered (CallCenterChat._add), and the callbacks waiting for each; base:
  // the origin they are loaded from (the widget's own).
  var mods = {}, waiting = {}, base = scriptOrigin;

  // static/chat-widget.css, minified by the build.
  var STYLE = __WIDGET_CSS__;

  var CHAT_ICON = "M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.5 3.4 6L5 21l4.3-2.3c.9.2 1.8.3 2.7.3 5.5 0 10-3.6 10-8s-4.5-8-10-8z";
  var X_ICON = "M18.3 5.7 12 12l6.3 6.3-1.4 1.4-6.3-6.3-6.3 6.3-1.4-1.4L10.6 12 4.3 5.7l1.4-1.4 6.3 6.3 6.3-6.3z";
  var PERSON = "M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zm0 2c-4 0-8 2-8 5v2h16v-2c0-3-4-5-8-5z";
  var SEND_ICON = "M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z";
  var CLIP_ICON = "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z";
  // What the server accepts (it decides from the bytes; this only spares the visitor a pointless upload).
  var ACCEPT = ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.log,.md,.docx,.xlsx,.pptx,.odt,.ods,.odp,.zip";
  var EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  var listeners = {message: [], open: [], close: [], unread: []};
  var widget = null, booting = null;
  var presetUser = null, presetOpen = null;

  function emit(name, arg) {
    listeners[name].slice().forEach(function (fn) {
      try { fn(arg); } catch (e) { setTimeout(function () { throw e; }); }
    });
  }

  // An element; `text` is only ever set as text. With a parent, it is appended there (and returned).
  function h(tag, cls, text, attrs, parent) {
    var el = document.createElement(tag);
    if (cls) el.className = cls;
    if (text != null) el.textContent = text;
    for (var k in attrs || {}) el.setAttribute(k, attrs[k]);
    return parent ? parent.appendChild(el) : el;
  }

  // An SVG icon appended to `el` (a button); returns `el`, so the button can be made in the same call.
  function icon(d, el, cls) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = el.appendChild(document.createElementNS(ns, "svg"));
    svg.setAttribute("viewBox", "0 0 24 24");
    if (cls) svg.setAttribute("class", cls);
    svg.setAttribute("aria-hidden", "true");
    svg.appendChild(document.createElementNS(ns, "path")).setAttribute("d", d);
    return el;
  }

  // [the language of the texts, the locale it was picked from (dates: "en-GB" writes 09:00, "en-US" 9:00 AM)]
  function pickLang(locale) {
    var tried = [locale].concat(navigator.languages || [navigator.language]);
    for (var i = 0; i < tried.length; i++) {
      // (Every language here is a bare one: "de-AT" is "de".)
      var code = String(tried[i] || "").toLowerCase().split(/[-_]/)[0];
      if (code === "en" || PACKS.hasOwnProperty(code)) return [code, String(tried[i]).replace("_", "-")];
    }
    return ["en", "en"];
  }

  // WCAG contrast of two [r, g, b] colours; a colour moved part `k` of the way to another.
  var WHITE = [255, 255, 255], DARK = [17, 24, 39];

  function lum(c) {
    return [.2126, .7152, .0722].reduce(function (s, w, i) {
      var v = c[i] / 255;
      return s + w * (v <= .04045 ? v / 12.92 : Math.pow((v + .055) / 1.055, 2.4));
    }, 0);
  }

  function ratio(a, b) {
    a = lum(a) + .05;
    b = lum(b) + .05;
    return a > b ? a / b : b / a;
  }

  function mix(c, to, k) {
    return c.map(function (v, i) { return Math.round(v + (to[i] - v) * Math.min(k, 1)); });
  }

  function newId() {
    var b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return "w" + Date.now().toString(36) + "-" + Array.prototype.map.call(b, function (x) {
      return (x + 256).toString(16).slice(1);
    }).join("");
  }

  function storage(kind) {
    try { var s = window[kind]; s.getItem("x"); return s; } catch (e) { return null; }
  }

  // apiUrl's base (no /api/v1): the option, else the origin this script came from.
  function apiBase(o) {
    return String(o.apiUrl || scriptOrigin).replace(/\/+$/, "").replace(/\/api\/v1$/, "");
  }

  // A language's pack or the extra part ("extra"): fn(what it registered), at once when it is here, else once its
  // script has run (a classic <script> from /static/dist/ of the widget's origin; removed again once run). One that
  // fails to load is asked for again by the next call; fn may be left out (a prefetch).
  function mod(name, fn) {
    var q = waiting[name] = waiting[name] || [];
    if (mods[name]) return fn && fn(mods[name]);
    if (fn) q.push(fn);
    if (q.s) return;
    var s = q.s = h("script", null, null, {src: base + "/static/dist/" + (PACKS[name] || EXTRA)});
    s.onload = s.onerror = function () {
      s.remove();
      q.s = mods[name];
    };
    (document.head || document.documentElement).appendChild(s);
  }

  function Widget(o) {
    var api = apiBase(o);
    var picked = pickLang(o.locale), lang = picked[0];
    // (Its pack did not come in time: English, all of it.)
    var L = lang === "en" ? EN : mods[lang] || (lang = picked[1] = "en", EN);
    var key = "callcenter-chat:" + o.tenantId;
    var local = storage("localStorage");
    var session = storage("sessionStorage");
    var st = load();
    var tenant = null;
    var ws = null, live = false, attempts = 0, retryT = 0, tickT = 0, lastRx = 0, lastPing = 0, hbMs = 20000, upAt = 0;
    var typingOn = false, typingAt = 0, typingStopT = 0, agentTypingT = 0, starting = null;
    var readSent = 0, isOpen = false, dead = false, conn = null, unreadShown = -1;
    var els = new WeakMap(), built = false, fmt;
    // ups: the composer's files not sent yet ({f: File, el: chip, p: its progress, x: the XHR while uploading,
    // a: the server's attachment once uploaded}; changed in place: the extra part has it too). X: the extra part
    // once loaded (its functions for this widget).
    var ups = [], X = null;

    // (en: the English text of a key only the extra part has.)
    function t(k, vars, en) {
      return (L[k] || EN[k] || en || k).replace(/\{(\w+)\}/g, function (_, v) { return vars && vars[v] != null ? vars[v] : ""; });
    }

    function load() {
      var raw = null;
      // Corrupt (or blocked): start over.
      try { raw = JSON.parse(local && local.getItem(key)); } catch (e) {}
      var s = raw && typeof raw === "object" ? raw : {};
      s.msgs = Array.isArray(s.msgs) ? s.msgs.filter(function (m) { return m && typeof m.b === "string"; }) : [];
      ["last", "vread", "aread"].forEach(function (k) { s[k] = +s[k] || 0; });
      return s;
    }

    function save() {
      if (!local || dead) return;
      var keep = st.msgs.filter(function (m, i) { return !m.seq || i >= st.msgs.length - 300; });
      var copy = Object.assign({}, st);
      // A message's files are kept as their metadata (id, name, size, kind); the bytes are fetched when shown.
      copy.msgs = keep.map(function (m) {
        return {id: m.id, seq: m.seq, t: m.t, n: m.n, b: m.b, c: m.c, at: m.at, st: m.st, f: m.f};
      });
      // Full or blocked: kept in memory only.
      try { local.setItem(key, JSON.stringify(copy)); } catch (e) {}
    }

    // ---- DOM -------------------------------------------------------------------
    var host = h("callcenter-chat");
    var root = host.attachShadow({mode: "open"});
    // A style sheet added after the ones before (the extra part adds its own).
    function style(css) {
      if (root.adoptedStyleSheets) {
        var sheet = new CSSStyleSheet();
        // Not blocked by a host page's style-src CSP.
        sheet.replaceSync(css);
        root.adoptedStyleSheets = root.adoptedStyleSheets.concat(sheet);
      } else {
        root.appendChild(h("style", null, css));
      }
    }
    style(STYLE);
    var wrap = h("div", "w", null, {lang: lang, dir: "ltr"}, root);

    // A reply while the panel is closed: a card above the launcher (who, the first line; a click opens the panel).
    var preview = h("div", "pv", null, {hidden: ""}, wrap);
    var pvBtn = h("button", "pb", null, {type: "button"}, preview);
    var pvWho = h("strong", null, null, null, pvBtn);
    var pvText = h("span", null, null, null, pvBtn);
    var pvX = icon(X_ICON, h("button", "x", null, {type: "button", "aria-label": t("close"), title: t("close")}, preview));
    // The launcher: a chat icon, an X while the panel is open.
    var bubble = icon(X_ICON, icon(CHAT_ICON, h("button", "bub", null, {type: "button", "aria-haspopup": "dialog",
      "aria-expanded": "false"}, wrap), "ci"), "xi");
    var badge = h("span", "bdg", null, {"aria-hidden": "true", hidden: ""}, bubble);
    // Said to screen readers while the panel is closed (a reply); open, the log is a live region itself.
    var news = h("div", "sr", null, {role: "status"}, wrap);

    var title, bare;
    var panel = h("section", "pn", null, {role: "dialog", "aria-labelledby": "tt", hidden: ""}, wrap);
    var head = h("div", "hd", null, null, panel);
    // The team: generic avatars (up to 3 agents online), the agent's initial once one has the conversation.
    var avatars = h("div", "avs", null, {"aria-hidden": "true"}, head);
    var headText = h("div", "ht", null, null, head);
    var titleEl = h("h2", "tt", null, {id: "tt"}, headText);
    var subtitle = h("p", "st", null, null, headText);
    var replyLine = h("p", "ry", null, null, headText);
    // (Shown on a phone only, where the panel hides the launcher.)
    var closeBtn = icon(X_ICON, h("button", "x", null, {type: "button", "aria-label": t("chat.close"),
      title: t("chat.close")}, head));
    var connLine = h("div", "cn", null, {role: "status", hidden: ""}, panel);
    // Under it: an e-mail's link that no longer works; the team away (business hours); the place in the queue.
    var linkLine = h("div", "nt e", null, {role: "alert", hidden: ""}, panel);
    // (Both filled in by the extra part.)
    var awayLine = h("div", "nt", null, {hidden: ""}, panel);
    var queueLine = h("div", "nt i", null, {"aria-live": "polite", hidden: ""}, panel);
    var logEl = h("div", "lg", null, {role: "log", "aria-label": t("log"), tabindex: "0"}, panel);
    var greetText = h("div", "b", null, null, h("div", "m a g", null, null, logEl));
    var typingEl = h("div", "ty", null, {role: "status", hidden: ""}, panel);
    var dots = h("span", "dt", null, {"aria-hidden": "true"}, typingEl);
    h("i", null, null, null, dots);
    h("i", null, null, null, dots);
    h("i", null, null, null, dots);
    var typingText = h("span", null, null, null, typingEl);
    // Once resolved: "E-mail me a transcript" (the extra part fills it in).
    var tx = h("form", "tx", null, {novalidate: "", hidden: ""}, panel);

    // Resolved: say so, and offer a new conversation (writing reopens this one).
    var newBar = h("div", "nw", null, {hidden: ""}, panel);
    h("p", null, t("resolved"), null, newBar);
    var newBtn = h("button", "go", t("new"), {type: "button"}, newBar);

    // The pre-chat form: a card in the log, under the greeting.
    var form = h("form", "fm", null, {novalidate: ""}, logEl);
    h("p", null, t("intro"), null, form);
    function field(name, type, auto) {
      var lab = h("label", null, null, null, form);
      var hint = h("small", null, "(" + t("optional") + ")", null, h("span", null, t(name) + " ", null, lab));
      var input = h("input", null, null, {type: type, name: name, autocomplete: auto,
        maxlength: name === "email" ? "254" : "200"}, lab);
      return {input: input, hint: hint, lab: lab};
    }
    var nameField = field("name", "text", "name");
    var emailField = field("email", "email", "email");
    var formErr = h("p", "er", null, {role: "alert", hidden: ""}, form);
    h("button", "go", t("start"), {type: "submit"}, form);

    var composer = h("form", "cp", null, null, panel);
    // Above the text box: the chips of files being attached, then why a file was refused.
    var chips = h("div", "ch", null, null, composer);
    var upErr = h("p", "er", null, {role: "alert", hidden: ""}, composer);
    // The file input is never shown (it looks different in every browser): the paperclip button opens it.
    var picker = h("input", null, null, {type: "file", multiple: "", accept: ACCEPT, hidden: ""}, composer);
    var clip = icon(CLIP_ICON, h("button", "go ac", null, {type: "button", "aria-label": t("attach"),
      title: t("attach")}, composer));
    var textLabel = h("label", null, null, null, composer);
    h("span", "sr", t("placeholder"), null, textLabel);
    var textarea = h("textarea", null, null, {rows: "1", maxlength: "5000", placeholder: t("placeholder")}, textLabel);
    icon(SEND_ICON, h("button", "go", null, {type: "submit", "aria-label": t("send"), title: t("send")}, composer));

    // ---- rendering ----------------------------------------------------------------
    function hhmm(iso) {
      // Made on first use: a cold Intl formatter costs tens of ms, which would delay the bubble.
      fmt = fmt || new Intl.DateTimeFormat(lang, {hour: "numeric", minute: "2-digit"});
      var d = new Date(iso || Date.now());
      return fmt.format(isNaN(d) ? Date.now() : d);
    }

    function status(m) {
      if (m.st === "failed") return "failed";
      if (!m.seq) return "pending";
      if (st.aread >= m.seq) return "read";
      return m.st === "delivered" ? "delivered" : "sent";
    }

    var TICKS = {pending: "○", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "!"};

    function draw(m, prev) {
      var el = els.get(m);
      var kind = m.t === "visitor" ? "v" : m.t === "system" ? "s" : m.t === "ai" ? "ai a" : "a";
      if (!el) {
        el = h("div");
        els.set(m, el);
        if (m.t === "agent" || m.t === "ai") {
          if (!prev || prev.t !== m.t || prev.n !== m.n) {
            var who = h("div", "who", m.t === "ai" ? (m.n || t("ai")) : (m.n || t("agent")));
            if (m.t === "ai") who.appendChild(h("span", "tag", t("aiTag")));
            el.appendChild(who);
          } else {
            el.appendChild(h("span", "sr", m.n || t("agent")));
          }
        } else if (m.t === "visitor") {
          el.appendChild(h("span", "sr", t("you")));
        }
        var body = el.appendChild(h("div", "b", m.b));
        // The files go in the bubble, under the text (a message of only files has none: no gap above them).
        if (Array.isArray(m.f) && m.f.length) {
          var box = h("div", m.b ? "fs" : "fs n", null, null, body);
          extra(function (x) { x.files(m.f, box); });
        }
        var meta = h("div", "mt");
        meta.appendChild(h("time"));
        if (m.t === "visitor") meta.appendChild(h("span", "tk", null, {role: "img"}));
        if (m.t !== "system") el.appendChild(meta);
      }
      var s = m.t === "visitor" ? status(m) : "";
      el.className = "m " + kind + (s === "pending" ? " pd" : s === "failed" ? " fl" : "");
      if (m.seq) el.setAttribute("data-seq", m.seq);
      if (s) el.setAttribute("data-status", s);
      var time = el.querySelector("time");
      if (time) {
        time.textContent = hhmm(m.at);
        if (m.at) time.setAttribute("datetime", m.at);
      }
      var tick = el.querySelector(".tk");
      if (tick) {
        tick.textContent = TICKS[s];
        tick.className = "tk" + (s === "read" ? " r" : s === "failed" ? " f" : "");
        tick.setAttribute("aria-label", t(s));
        tick.setAttribute("title", t(s));
      }
      return el;
    }

    // ---- the extra part ---------------------------------------------------------
    // fn(its functions), once it is here (loaded the first time something needs it). Shared with it: the
    // helpers, the state and the elements it fills in.
    function extra(fn) {
      mod("extra", function (make) {
        if (dead) return;
        X = X || make({h: h, t: t, st: st, api: api, root: root, log: logEl, tx: tx, chips: chips, ups: ups, say: say,
          request: request, save: save, updateHeader: updateHeader, setFormError: setFormError, sess: sess,
          ensureLive: ensureLive, EMAIL: EMAIL, style: style, tenant: function () { return tenant; }, lang: lang,
          locale: picked[1], away: awayLine, queueLine: queueLine, open: function () { return isOpen; }});
        fn(X);
      });
    }

    // Refusals add up (several files of one pick, an upload that fails later); say("") clears them.
    function say(text) {
      upErr.textContent = text && (upErr.textContent + " " + text).trim();
      upErr.hidden = !text;
    }

    function place(m) {
      var i = st.msgs.indexOf(m);
      if (i >= 0) st.msgs.splice(i, 1);
      var at = st.msgs.length;
      if (m.seq) {
        for (at = 0; at < st.msgs.length; at++) {
          var o2 = st.msgs[at];
          if (!o2.seq || o2.seq > m.seq) break;
        }
      }
      st.msgs.splice(at, 0, m);
      if (!built) return;
      var next = st.msgs[at + 1];
      // The rating card (X.r: once the extra part has made it, hidden or not) stays the log's last child.
      logEl.insertBefore(draw(m, st.msgs[at - 1]), next ? draw(next) : X && X.r);
    }

    // The conversation's DOM is built when the panel first opens, not before the bubble shows.
    function buildLog() {
      if (built) return;
      built = true;
      st.msgs.forEach(function (m, i) { logEl.insertBefore(draw(m, st.msgs[i - 1]), X && X.r); });
    }

    function redrawAll() {
      st.msgs.forEach(function (m) { if (els.has(m)) draw(m); });
    }

    function toBottom() {
      logEl.scrollTop = logEl.scrollHeight;
    }

    function updateBadge() {
      // Unread: the other side's messages after the visitor's read mark.
      var n = st.msgs.filter(function (m) { return m.seq > st.vread && (m.t === "agent" || m.t === "ai"); }).length;
      badge.hidden = !n;
      badge.textContent = n > 9 ? "9+" : n;
      var label = t(isOpen ? "chat.close" : "chat.open");
      bubble.setAttribute("aria-label", label + (n ? ", " + t("unread", {n: n}) : ""));
      bubble.setAttribute("title", label);
      if (n !== unreadShown) {
        var first = unreadShown < 0;
        unreadShown = n;
        if (!first || n) emit("unread", n);
      }
    }

    function updateHeader() {
      var agent = st.agent && st.agent.name;
      var w = (st.w || {}).widget || {};
      // The team's real numbers (settings.team): how fast it typically replies, how many are online.
      var team = (st.w || {}).team || {}, secs = team.typical_first_response_secs, n = +team.agents_online || 0;
      var reply = !agent && secs > 0 ? t(secs <= 600 ? "reply.mins" : secs <= 3600 ? "reply.hour" :
        secs <= 21600 ? "reply.hours" : "reply.day") : "";
      subtitle.textContent = agent ? t("with", {name: agent}) : (o.subtitle || w.subtitle || (reply ? "" : t("subtitle")));
      subtitle.hidden = !subtitle.textContent;
      replyLine.textContent = reply;
      replyLine.hidden = !reply;
      var face = agent ? (agent.trim()[0] || "?").toUpperCase() : Math.max(1, Math.min(3, n));
      if (avatars.k !== face) {
        avatars.k = face;
        avatars.textContent = "";
        if (agent) h("span", "av n", face, null, avatars);
        else for (var i = 0; i < face; i++) {
          icon(PERSON, h("span", "av", null, null, avatars)).style.background = ["#0e7490", "#7c3aed", "#be185d"][i];
        }
      }
      greetText.textContent = o.greeting || (w.greetings || {})[lang] || t("greeting");
      newBar.hidden = st.status !== "resolved";
      // Away (business hours), resolved (the rating card, the transcript offer), or one of them was: the extra
      // part draws them as the state says.
      if (X || st.status === "resolved" || ((st.w || {}).availability || {}).open === false) {
        extra(function (x) { x.up(); });
      }
    }

    // The place in the routing queue while no agent has the conversation yet (null: not waiting): shown by the
    // extra part (the latest one, whenever it comes).
    var waitQ = null;
    function queue(q) {
      waitQ = q;
      if (q || X) extra(function (x) { x.queue(waitQ); });
    }

    // The look: each init option, else the tenant's saved settings (st.w: kept for the next page, so that the
    // bubble shows in them at once), else ours. Called once the host is in the page (for the computed colour).
    function look() {
      var w = (st.w || {}).widget || {}, p = o.prechat || w.prechat || {}, c = o.primaryColor || w.primary_color;
      var css = wrap.style, rgb, f, q, k = 0;
      titleEl.textContent = title = o.title || w.title || t("title");
      wrap.classList.toggle("l", (o.position || w.position) === "bottom-left");
      css.setProperty("--p", CSS.supports("color", c) ? c : "#4F46E5");
      rgb = getComputedStyle(bubble).backgroundColor;
      rgb = /^rgb\(/.test(rgb) ? rgb.match(/\d+/g).map(Number) : [79, 70, 229];
      // The text on it: white or dark, whichever contrasts more; the primary then moved away from it (darker or
      // lighter) until they reach 4.5:1 (with any colour one of them nearly does).
      f = ratio(rgb, WHITE) >= ratio(rgb, DARK) ? WHITE : DARK;
      while (ratio(q = mix(rgb, f === WHITE ? [0, 0, 0] : WHITE, k), f) < 4.5) k += .05;
      css.setProperty("--p", "rgb(" + q + ")");
      css.setProperty("--f", "rgb(" + f + ")");
      // The primary as text (links) on the log's near-white: darkened until 4.5:1.
      for (k = 0; ratio(q = mix(rgb, [0, 0, 0], k), [248, 250, 252]) < 4.5;) k += .05;
      css.setProperty("--k", "rgb(" + q + ")");
      // Pre-chat fields: required, optional or hidden (both hidden: no form, the first message starts the chat).
      mode(nameField, p.name);
      // Away: replies go by e-mail, so the address is required.
      mode(emailField, ((st.w || {}).availability || {}).email_required ? "required" : p.email);
      bare = nameField.lab.hidden && emailField.lab.hidden;
      updateHeader();
      showView();
    }

    function showView() {
      var needForm = !st.sid && !st.u && !bare;
      form.hidden = !needForm;
      composer.hidden = needForm;
      nameField.input.value = nameField.input.value || st.name || "";
      emailField.input.value = emailField.input.value || st.email || "";
    }

    function setConn(state) {
      conn = state;
      var show = state && (st.sid || starting || pending().length) && state !== "connecting";
      connLine.hidden = !show;
      if (show) {
        connLine.textContent = t(state === "error" ? "unavailable" : state);
        connLine.className = "cn" + (state === "error" ? " e" : "");
      }
    }

    // ---- messages -------------------------------------------------------------------
    function pending() {
      return st.msgs.filter(function (m) { return !m.seq && m.t === "visitor" && m.st !== "failed"; });
    }

    function find(fn) {
      for (var i = 0; i < st.msgs.length; i++) if (fn(st.msgs[i])) return st.msgs[i];
      return null;
    }

    function fromServer(msg, m) {
      m = m || {};
      m.id = msg.id;
      m.seq = msg.seq;
      m.t = msg.sender_type;
      m.n = msg.sender_name || "";
      // A system line the server describes ("Ann joined the conversation") in the visitor's language when its
      // pack has it (English: the line as written).
      var line = msg.system, k = line && "system." + line.kind;
      m.b = k && L[k] ? t(k, line) : String(msg.body);
      m.c = msg.client_msg_id || m.c;
      m.at = msg.created_at;
      // The files' metadata only; their bytes are fetched with the token when shown.
      m.f = Array.isArray(msg.attachments) ? msg.attachments : [];
      return m;
    }

    // A message from the server (live, replayed or fetched): merged by client_msg_id or seq, never twice.
    function add(msg, isLive) {
      if (!msg || typeof msg.seq !== "number") return;
      // Scrolled to (nearly) the bottom: stays there.
      var stick = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 80;
      var m = (msg.client_msg_id && find(function (x) { return x.c === msg.client_msg_id; })) ||
        find(function (x) { return x.seq === msg.seq; });
      var fresh = !m || !m.seq;
      m = fromServer(msg, m);
      // Ours, back from the server: stored and relayed to the team.
      if (m.t === "visitor") m.st = "delivered";
      if (msg.seq > st.last) st.last = msg.seq;
      place(m);
      if (fresh) {
        if (m.t === "agent" || m.t === "ai") {
          hideTyping();
          if (isLive && !isOpen) {
            pvWho.textContent = m.n || t(m.t === "ai" ? "ai" : "agent");
            pvText.textContent = m.b.split("\n")[0];
            preview.hidden = false;
            news.textContent = pvWho.textContent + ": " + m.b;
          }
        }
        emitMessage(m);
      }
      if (stick || m.t === "visitor") toBottom();
    }

    // The host page's "message" event; its files as copies (name, size, contentType, kind), never ours.
    function emitMessage(m) {
      emit("message", {id: m.id, seq: m.seq, sender: m.t, name: m.n || "", text: m.b, createdAt: m.at,
        files: (m.f || []).map(function (f) { return {name: f.name, size: f.size, contentType: f.content_type, kind: f.kind}; })});
    }

    function ack(d) {
      var m = find(function (x) { return x.c === d.client_msg_id; });
      if (!m) return;
      var fresh = !m.seq;
      m.id = d.id;
      m.seq = d.seq;
      if (d.created_at) m.at = d.created_at;
      if (m.st !== "delivered") m.st = "sent";
      place(m);
      if (fresh) emitMessage(m);
      save();
    }

    function sendFrame(type, data) {
      if (!live || !ws) return false;
      try { ws.send(JSON.stringify({type: type, data: data})); return true; } catch (e) { return false; }
    }

    function transmit(m) {
      // The files go by the ids their uploads got; the server attaches them to this message.
      var ids = (m.f || []).map(function (a) { return a.id; });
      if (sendFrame("chat.message.send", {message: m.b, client_msg_id: m.c, attachment_ids: ids})) m.sentAt = Date.now();
    }

    function flush(staleOnly) {
      var now = Date.now();
      pending().forEach(function (m) {
        if (!staleOnly || !m.sentAt || now - m.sentAt > 10000) transmit(m);
      });
    }

    function submitText() {
      var text = textarea.value.trim();
      // A message waits for its files to finish uploading; it may be files alone, without text.
      if (ups.some(function (u) { return !u.a; })) return say(t("wait"));
      if (!text && !ups.length) return;
      // (Writing: the notice of an e-mail's expired link has been read.)
      linkLine.hidden = true;
      var f = ups.map(function (u) { u.el.remove(); return u.a; });
      ups.length = 0;
      say("");
      textarea.value = "";
      grow();
      var m = {c: newId(), b: text.slice(0, 5000), f: f, t: "visitor", at: new Date().toISOString(), st: "pending"};
      st.msgs.push(m);
      place(m);
      toBottom();
      save();
      stopTyping();
      if (live) transmit(m);
      else ensureLive();
      setConn(conn);
    }

    // ---- read receipts and unread ------------------------------------------------------
    function markRead() {
      if (!st.sid) return updateBadge();
      if (isOpen && document.visibilityState !== "hidden") {
        // Seen up to the newest message, once something from the other side is new.
        var all = 0, theirs = 0;
        st.msgs.forEach(function (m) {
          if (m.seq > all) all = m.seq;
          if (m.seq > theirs && m.t !== "visitor") theirs = m.seq;
        });
        if (theirs > st.vread) { st.vread = all; save(); }
      }
      updateBadge();
      if (st.vread > readSent) {
        var seq = st.vread;
        if (sendFrame("chat.message.read", {seq: seq})) readSent = seq;
        else if (navigator.onLine !== false && st.token) {
          // Not live: over HTTP. If that fails too, the next connection sends it.
          request("POST", "/chat/public/session/" + st.sid + "/read", {seq: seq}).then(function () {
            if (seq > readSent) readSent = seq;
          }, function () {});
        }
      }
    }

    // ---- typing -------------------------------------------------------------------------
    function hideTyping() {
      clearTimeout(agentTypingT);
      typingEl.hidden = true;
      typingEl.className = "ty";
    }

    function agentTyping(d) {
      if (d.sender !== "agent" && d.sender !== "ai") return;
      if (!d.is_typing) return hideTyping();
      var who = d.sender === "ai" ? (d.name || t("ai")) : (d.name || (st.agent && st.agent.name) || t("agent"));
      typingText.textContent = t("typing", {name: who});
      typingEl.className = "ty";
      typingEl.hidden = false;
      clearTimeout(agentTypingT);
      agentTypingT = setTimeout(hideTyping, +d.expires_in_ms || 6000);
    }

    // The AI's reply while it is written: plain text in the typing area, replaced by the message.
    function aiPartial(d) {
      if (typeof d.text !== "string" || !d.text) return;
      typingText.textContent = d.text;
      typingEl.className = "ty ai";
      typingEl.hidden = false;
      clearTimeout(agentTypingT);
      agentTypingT = setTimeout(hideTyping, 30000);
    }

    function onInput() {
      grow();
      if (!live || !textarea.value.trim()) return;
      var now = Date.now();
      if (!typingOn || now - typingAt > 3000) {
        typingOn = true;
        typingAt = now;
        sendFrame("chat.typing", {is_typing: true});
      }
      clearTimeout(typingStopT);
      typingStopT = setTimeout(stopTyping, 4000);
    }

    function stopTyping() {
      clearTimeout(typingStopT);
      if (typingOn) sendFrame("chat.typing", {is_typing: false});
      typingOn = false;
    }

    function grow() {
      textarea.style.height = "auto";
      textarea.style.height = Math.min(textarea.scrollHeight + 2, 120) + "px";
    }

    // ---- network -----------------------------------------------------------------------
    function request(method, path, body, noAuth) {
      var headers = {};
      if (body) headers["Content-Type"] = "application/json";
      if (!noAuth && st.token) headers.Authorization = "Bearer " + st.token;
      return fetch(api + "/api/v1" + path, {
        method: method, headers: headers, body: body ? JSON.stringify(body) : undefined,
        credentials: "omit", cache: "no-store"
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (r.ok) return j;
          var e = new Error((j.error && j.error.message) || "HTTP " + r.status);
          e.status = r.status;
          e.code = j.error && j.error.code;
          throw e;
        });
      });
    }

    function loadTenant() {
      // Fetched even with a session (which needs no form): its upload limit is checked before uploading.
      if (tenant) return;
      tenant = {};
      request("GET", "/chat/public/tenants/" + encodeURIComponent(o.tenantId), null, true).then(function (j) {
        st.w = tenant = j.settings || {};
        save();
        look();
      }, function (e) {
        tenant = null;
        if (e.status === 404) setFormError(t("unavailable"));
      });
    }

    function mode(f, m) {
      f.m = m;
      f.lab.hidden = m === "hidden";
      f.hint.hidden = m === "required";
      f.input.setAttribute("aria-required", m === "required");
    }

    // The pre-chat form's error line, or `el`.
    function setFormError(text, el) {
      el = el || formErr;
      el.textContent = text || "";
      el.hidden = !text;
    }

    function ensureLive() {
      if (dead) return;
      if (st.sid) return connect();
      if (!st.u && !bare || starting) return;
      setConn(navigator.onLine === false ? "offline" : "connecting");
      starting = request("POST", "/chat/public/start", {
        tenant_id: String(o.tenantId), channel: "web", customer_name: st.name || "", customer_email: st.email || "",
        page_url: String(location.href).slice(0, 1000)
      }, true).then(function (j) {
        starting = null;
        if (dead) return;
        st.sid = j.session_id;
        st.token = j.token;
        sess(j.session);
        queue(j.queue);
        st.last = st.vread = st.aread = 0;
        readSent = 0;
        save();
        updateHeader();
        connect();
        // Files picked before the session existed upload now.
        if (X) X.go();
      }, function (e) {
        starting = null;
        if (e.status >= 400 && e.status < 500 && e.status !== 429) {
          // The details were refused (or the tenant is gone): back to the form, with why.
          st.u = false;
          save();
          var byName = e.code === "customer_name_required", byEmail = e.code === "customer_email_required";
          if (byName) mode(nameField, "required");
          if (byEmail) mode(emailField, "required");
          setFormError(e.status === 404 ? t("unavailable") : byName || byEmail ?
            t("required", {field: t(byName ? "name" : "email")}) :
            /email/.test(e.message) ? t("badEmail") : t("error"));
          showView();
          setConn(null);
          return;
        }
        retry();
      });
    }

    function connect() {
      if (dead || ws || !st.token) return;
      clearTimeout(retryT);
      setConn(navigator.onLine === false ? "offline" : attempts ? "reconnecting" : "connecting");
      var sock;
      // ?tenant=: the balancer sends a tenant's sockets to one worker (the token, in the first frame, decides).
      try { sock = new WebSocket(api.replace(/^http/i, "ws") + "/ws?tenant=" + encodeURIComponent(o.tenantId)); }
      catch (e) { return retry(); }
      ws = sock;
      sock.onopen = function () {
        var resume = {};
        resume[st.sid] = st.last;
        sock.send(JSON.stringify({type: "auth", token: st.token, resume: resume}));
      };
      sock.onmessage = function (ev) {
        if (ws !== sock) return;
        lastRx = Date.now();
        var f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f && typeof f.type === "string") onFrame(f.type, f.data || {});
      };
      sock.onclose = function (ev) {
        if (ws === sock) lost(ev.code);
      };
    }

    // The socket is gone (closed by either side, or dropped here): sends wait in the outbox.
    function lost(code) {
      // A connection that stayed up 10 s starts the backoff afresh; one that keeps dropping backs off further.
      if (live && Date.now() - upAt > 1e4) attempts = 0;
      ws = null;
      live = false;
      clearInterval(tickT);
      typingOn = false;
      if (dead) return;
      if (code === 4001) return forget();
      if (code === 4003) return setConn("error");
      retry(code);
    }

    function drop() {
      var sock = ws;
      if (!sock) return;
      lost(1006);
      // Already closing: nothing to do.
      try { sock.close(); } catch (e) {}
    }

    function retry(code) {
      if (dead) return;
      clearTimeout(retryT);
      // Full jitter, random(0, min(30 s, 1 s * 2^attempts)); a worker that died (1006) or restarts (1012) spreads
      // even the first try over 3 s, so its thousands of visitors do not all come back in the same millisecond.
      var delay = Math.random() * Math.min(3e4, attempts ? 1e3 * Math.pow(2, attempts) :
        code == 1006 || code == 1012 ? 3e3 : 1e3);
      attempts++;
      setConn(navigator.onLine === false ? "offline" : "reconnecting");
      retryT = setTimeout(ensureLive, delay);
    }

    // The visitor token no longer opens the session (expired, or the data is gone): start afresh,
    // keeping unsent messages for the new conversation.
    // With `j` (an e-mail's link resumed: {session_id, token}): that session in its place, its messages fetched anew.
    function forget(j) {
      var keep = pending();
      st.msgs.forEach(function (m) {
        var el = els.get(m);
        if (el && keep.indexOf(m) < 0) el.remove();
      });
      st.sid = st.token = st.agent = st.status = st.rating = st.ce = null;
      st.last = st.vread = st.aread = readSent = 0;
      st.msgs = keep;
      if (j) {
        st.sid = j.session_id;
        st.token = j.token;
        st.u = true;
      }
      queue(null);
      save();
      updateHeader();
      showView();
      if (keep.length || j) ensureLive();
      else setConn(null);
    }

    function refresh() {
      var sid = st.sid;
      request("GET", "/chat/public/session/" + sid + "?after_seq=" + st.last).then(function (j) {
        if (dead || sid !== st.sid) return;
        (j.messages || []).forEach(function (m) { add(m, false); });
        st.agent = j.agent || null;
        queue(j.queue);
        if (j.session) {
          sess(j.session);
          st.aread = Math.max(st.aread, j.session.agent_read_seq || 0);
          readSent = Math.max(readSent, j.session.visitor_read_seq || 0);
          st.vread = Math.max(st.vread, readSent);
        }
        updateHeader();
        redrawAll();
        markRead();
        save();
      }, function (e) {
        if (e.status === 401 && sid === st.sid) forget();
      });
    }

    function tick() {
      var now = Date.now();
      // Our last ping has had no answer (nor anything else) for 10 s: a dead link; drop it and resume.
      if (lastPing > lastRx && now - lastPing > 10000) return drop();
      if (now - lastPing >= hbMs) {
        lastPing = now;
        sendFrame("ping", {t: now});
      }
      flush(true);
    }

    function onFrame(type, d) {
      switch (type) {
        case "auth.ok":
          live = true;
          upAt = Date.now();
          lastPing = lastRx;
          hbMs = Math.max(5, +d.heartbeat_interval_secs || 20) * 1000;
          clearInterval(tickT);
          tickT = setInterval(tick, Math.min(5000, hbMs / 2));
          setConn(null);
          flush(false);
          refresh();
          markRead();
          break;
        case "chat.message.new":
          add(d.message, true);
          markRead();
          save();
          break;
        case "chat.message.ack":
          ack(d);
          break;
        case "chat.typing":
          agentTyping(d);
          break;
        case "chat.ai.partial":
          aiPartial(d);
          break;
        case "chat.queue.updated":
          queue(d.queue);
          break;
        case "chat.session.assigned":
          queue(null);
          st.agent = d.agent || null;
          sess(d.session);
          updateHeader();
          save();
          break;
        case "chat.session.transferred":
          st.agent = d.to_agent || st.agent;
          updateHeader();
          save();
          break;
        case "chat.session.resolved":
        case "chat.session.reopened":
          // A new resolution is rated anew (its session says whether it is already).
          st.rating = null;
          sess(d.session || {status: type === "chat.session.resolved" ? "resolved" : "open"});
          hideTyping();
          updateHeader();
          save();
          break;
        case "chat.message.read":
          if (d.reader === "agent") {
            st.aread = Math.max(st.aread, +d.seq || 0);
            redrawAll();
          } else if (d.reader === "visitor") {
            st.vread = Math.max(st.vread, +d.seq || 0);
            readSent = Math.max(readSent, st.vread);
            updateBadge();
          }
          save();
          break;
        case "error":
          // attachment_…: a file that is gone, or already sent with another message; resending cannot help.
          var m = d.ref && find(function (x) { return x.c === d.ref && !x.seq; });
          // Refused for good; anything else is resent.
          if (m && /^(invalid_|payload_|attachment_)/.test(d.code)) {
            m.st = "failed";
            if (built) draw(m);
            save();
          }
          break;
      }
    }

    // A session from the server: its status and its rating.
    function sess(s) {
      if (!s) return;
      st.status = s.status;
      st.ce = s.customer_email || st.ce;
      if (s.rating && !st.rating) st.rx = Date.now() + 600000;
      st.rating = s.rating;
    }

    // ---- open / close -------------------------------------------------------------------
    function setOpen(value, byUser) {
      value = !!value;
      if (dead || isOpen === value) return;
      var hadFocus = root.activeElement;
      isOpen = value;
      panel.hidden = !value;
      // On a phone the panel covers the page: a modal dialog then (Tab stays inside, onKey).
      panel.setAttribute("aria-modal", phone());
      wrap.classList.toggle("o", value);
      bubble.setAttribute("aria-expanded", value);
      preview.hidden = true;
      // Remembered for this tab (the panel reopens on the next page); storage blocked: not remembered.
      if (session) try { session.setItem(key + ":open", value ? "1" : ""); } catch (e) {}
      if (value) {
        buildLog();
        loadTenant();
        updateHeader();
        showView();
        toBottom();
        markRead();
        if (byUser) (form.hidden ? textarea : (nameField.lab.hidden ? emailField : nameField).input).focus();
        // The extra part (files, rating, transcript, away, queue), loaded while nothing else is going on.
        (window.requestIdleCallback || setTimeout)(function () { extra(function () {}); });
      } else {
        updateBadge();
        if (hadFocus) bubble.focus();
      }
      emit(value ? "open" : "close");
    }

    function phone() {
      return matchMedia("(max-width:480px)").matches;
    }

    function onKey(ev) {
      if (ev.key === "Escape") {
        ev.stopPropagation();
        setOpen(false, true);
      }
      if (ev.key === "Tab" && phone()) {
        // Tab cycles among the panel's visible controls.
        var all = [].filter.call(panel.querySelectorAll("button,input,textarea,[tabindex]"), function (el) {
          return !el.disabled && el.getClientRects().length;
        });
        var at = all.indexOf(root.activeElement), to = ev.shiftKey ? at - 1 : at + 1;
        if (to < 0 || to >= all.length) {
          ev.preventDefault();
          all[(to + all.length) % all.length].focus();
        }
      }
    }

    function onVisible() {
      if (document.visibilityState !== "hidden") markRead();
    }

    function onOnline() {
      attempts = 0;
      if (!ws) ensureLive();
    }

    function onOffline() {
      // Sends wait in the outbox and go out once, on the next connection.
      drop();
      setConn("offline");
    }

    bubble.addEventListener("click", function () { setOpen(!isOpen, true); });
    pvBtn.addEventListener("click", function () { setOpen(true, true); });
    pvX.addEventListener("click", function () {
      preview.hidden = true;
      bubble.focus();
    });
    // A fresh conversation: the old one's socket closed, its messages gone (kept until now, to be read).
    newBtn.addEventListener("click", function () {
      var sock = ws;
      ws = null;
      live = false;
      clearInterval(tickT);
      if (sock) sock.close();
      forget();
      hideTyping();
      (form.hidden ? textarea : nameField.input).focus();
    });
    closeBtn.addEventListener("click", function () { setOpen(false, true); });
    panel.addEventListener("keydown", onKey);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var name = nameField.input.value.trim();
      var email = emailField.input.value.trim();
      if (nameField.m === "required" && !name) {
        setFormError(t("required", {field: t("name")}));
        return nameField.input.focus();
      }
      if ((emailField.m === "required" && !email) || (email && !EMAIL.test(email))) {
        setFormError(email ? t("badEmail") : t("required", {field: t("email")}));
        return emailField.input.focus();
      }
      setFormError("");
      st.name = name;
      st.email = email;
      st.u = true;
      save();
      showView();
      textarea.focus();
      ensureLive();
    });
    composer.addEventListener("submit", function (ev) {
      ev.preventDefault();
      submitText();
    });
    textarea.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        submitText();
      }
    });
    textarea.addEventListener("input", onInput);
    // A paste with files (a screenshot, say) attaches them; a paste of text goes on as usual.
    textarea.addEventListener("paste", function (ev) {
      var list = ev.clipboardData && ev.clipboardData.files;
      if (list && list.length) {
        ev.preventDefault();
        addFiles(list);
      }
    });
    clip.addEventListener("click", function () { picker.click(); });
    picker.addEventListener("change", function () { addFiles(picker.files); });

    // Files picked or pasted: a copy of the list (the picker is cleared, so picking the same file again fires
    // "change" again), added by the extra part.
    function addFiles(list) {
      list = [].slice.call(list);
      picker.value = "";
      extra(function (x) { x.add(list); });
    }
    window.addEventListener("online", onOnline);
    window.addEventListener("offline", onOffline);
    document.addEventListener("visibilitychange", onVisible);

    // ---- start -----------------------------------------------------------------------------
    if (presetUser) applyUser(presetUser);
    var cached = st.msgs;
    st.msgs = [];
    cached.forEach(place);
    updateBadge();
    (document.body || document.documentElement).appendChild(host);
    look();
    loadTenant();
    if (session && session.getItem(key + ":open")) {
      // Re-opened after the first frame with the bubble (at once in a hidden tab, which has no frames).
      var reopen = function () { setTimeout(function () { setOpen(true, false); }); };
      if (document.visibilityState === "hidden") reopen();
      else requestAnimationFrame(reopen);
    }
    // A link from one of our e-mails (#cc_resume=<token>, maybe among other parameters): that conversation, in
    // place of any kept here, in the open panel. The token leaves the address at once (a reload, a bookmark or a
    // shared address does not carry it); a link that no longer works says so, and the widget carries on as it was.
    var hash = location.hash.slice(1), link = new URLSearchParams(hash).get("cc_resume");
    if (link) {
      hash = hash.split("&").filter(function (p) { return !/^cc_resume=/.test(p); }).join("&");
      history.replaceState(history.state, "", location.pathname + location.search + (hash && "#" + hash));
      // (A "+" of the token read as a space: the link was not percent-encoded.)
      request("POST", "/chat/public/resume", {token: link.replace(/ /g, "+")}, true).then(forget, function (e) {
        linkLine.textContent = t(e.status === 400 || e.status === 401 ? "expired" : "error");
        linkLine.hidden = false;
        if (st.sid || pending().length) ensureLive();
      }).then(function () { setOpen(true, false); });
    } else if (st.sid || pending().length) ensureLive();

    function applyUser(u) {
      u = u || {};
      if (u.name != null) st.name = String(u.name).slice(0, 200);
      if (u.email != null) st.email = String(u.email).slice(0, 254);
      if (st.name || st.email) st.u = true;
      nameField.input.value = st.name || "";
      emailField.input.value = st.email || "";
      save();
      showView();
    }

    this.open = function () { setOpen(true, true); };
    this.close = function () { setOpen(false, true); };
    this.toggle = function () { setOpen(!isOpen, true); };
    this.setUser = applyUser;
    this.shutdown = function (opts) {
      stopTyping();
      dead = true;
      clearTimeout(retryT);
      clearInterval(tickT);
      clearTimeout(agentTypingT);
      if (ws) { var s = ws; ws = null; s.close(); }
      // Files attached but not sent are deleted on the server too; the blob: URLs are released.
      if (X) X.stop();
      window.removeEventListener("online", onOnline);
      window.removeEventListener("offline", onOffline);
      document.removeEventListener("visibilitychange", onVisible);
      host.remove();
      if (opts && opts.clear) {
        // Storage blocked: nothing to clear.
        try { local && local.removeItem(key); session && session.removeItem(key + ":open"); } catch (e) {}
      }
    };
  }

  var CC = window.CallCenterChat = {
    version: "1.0.0",
    init: function (opts) {
      // A second init is harmless: the first one stays (or the one still starting).
      if (widget || booting) return this;
      opts = opts || {};
      if (!opts.tenantId) {
        console.error("CallCenterChat.init: tenantId is required");
        return this;
      }
      // The packs and the extra part come from where this script came from (else from apiUrl's origin).
      if (!(script && script.src)) base = apiBase(opts);
      var boot = booting = {}, lang = pickLang(opts.locale)[0], left = 2, timer;
      // Started once the page has a body and the visitor's language has come (nothing drawn in English first),
      // or 300 ms have passed (then in English).
      var start = function () {
        if (--left || booting !== boot) return;
        booting = null;
        widget = new Widget(opts);
        // open()/close() called before the page was ready.
        if (presetOpen !== null) widget[presetOpen ? "open" : "close"]();
        presetOpen = null;
      };
      var packed = function () {
        if (timer < 0) return;
        clearTimeout(timer);
        timer = -1;
        start();
      };
      if (lang !== "en") {
        timer = setTimeout(packed, 300);
        mod(lang, packed);
      } else packed();
      if (document.body) start();
      else document.addEventListener("DOMContentLoaded", start);
      return this;
    },
    open: function () { if (widget) widget.open(); else presetOpen = true; },
    close: function () { if (widget) widget.close(); else presetOpen = false; },
    toggle: function () { if (widget) widget.toggle(); else presetOpen = !presetOpen; },
    setUser: function (user) {
      if (widget) widget.setUser(user);
      else presetUser = user;
    },
    on: function (name, fn) {
      if (!Array.isArray(listeners[name]) || typeof fn !== "function") throw new Error("CallCenterChat.on: unknown event " + name);
      listeners[name].push(fn);
      return function () {
        var i = listeners[name].indexOf(fn);
        if (i >= 0) listeners[name].splice(i, 1);
      };
    },
    shutdown: function (opts) {
      if (widget) widget.shutdown(opts);
      widget = booting = null;
    },
    // Internal: a language's pack or the extra part registers here (their scripts, loaded by mod()).
    _add: function (name, value) {
      mods[name] = value;
      (waiting[name] || []).splice(0).forEach(function (fn) { fn(value); });
    }
  };
  // init called on the snippet's stub before this script had loaded.
  ((stub && stub.q) || []).forEach(function (opts) { CC.init(opts); });
})();
