/*! callcenter chat widget */
/* Only the line above is served: the server leaves out whole-line comments like these notes (pages.py
 * compact_script), so they cost visitors no bytes. Keep the served script within its gzip budget
 * (scripts/bench_widget.py): no trailing comments, no template literals (with one, it is served as it is).
 * One dependency-free script.
 *   <script src="https://support.example.com/chat-widget.js"></script>
 *   <script>CallCenterChat.init({tenantId: 'demo-tenant', position: 'bottom-right', primaryColor: '#4F46E5',
 *                                title: 'Chat with us', subtitle: 'We typically reply instantly'});</script>
 * Options: apiUrl (default: the origin this script came from), tenantId, position (bottom-right | bottom-left),
 * primaryColor, title, subtitle, greeting, locale, prechat ({name, email}: "required" | "optional" | "hidden").
 * Each one left out is the tenant's saved widget setting (GET /chat/public/tenants/:id, fetched at start and kept
 * for the next page), else the default; the text on primaryColor is white or dark, whichever reads better. API: init, open, close, toggle, setUser({name, email}),
 * on(event, fn) for "message" ({id, seq, sender, name, text, createdAt, files}) | "open" | "close" | "unread"
 * (returns an off function), shutdown({clear}).
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
  if (window.CallCenterChat && window.CallCenterChat.init) return;

  var script = document.currentScript;
  var scriptOrigin = "";
  // apiUrl's default: the origin this script came from; the page's when that is unknown (inlined, opaque).
  try { scriptOrigin = new URL(script && script.src ? script.src : "", location.href).origin; } catch (e) {}
  if (!scriptOrigin || scriptOrigin === "null") scriptOrigin = location.origin;

  // The texts of each language, "|"-separated in the order of KEYS (one string: the smallest script). A language is
  // one more entry; an empty text falls back to English.
  var KEYS = ("title subtitle greeting open close unread intro name email optional start required badEmail " +
    "placeholder send you agent ai aiTag typing with pending sent delivered read failed offline " +
    "reconnecting unavailable error resolved log attach remove big wait many ask of comment thanks change " +
    "line next soon min mins away awayMsg back expired mail sentTo").split(" ");
  var STRINGS = {
    en: "Chat with us|We typically reply instantly|Hi! How can we help you today?|Open chat|Close chat|" +
      "{n} unread|Tell us who you are, then start the chat.|Name|Email|optional|Start chat|{field} is required|" +
      "Enter a valid email address|Type a message…|Send|You|Support|AI assistant|AI|{name} is typing…|" +
      "Chatting with {name}|Waiting to send|Sent|Delivered|Read|Not sent|" +
      "You're offline. Messages will be sent when you're back online.|Reconnecting…|" +
      "Chat is unavailable right now.|Something went wrong. Please try again.|" +
      "This conversation is closed. Write to reopen it.|Conversation|Attach files|Remove|" +
      "{name} is larger than {max}.|Wait until the files have uploaded.|Up to {n} files per message.|" +
      "How was this conversation?|{n} of 5|Comment|Thanks for your feedback!|Change|You are number {n} in line|" +
      "You are next in line|less than a minute|about a minute|about {n} minutes|We're away.|" +
      "Leave a message and we'll reply by e-mail.|Back {when}.|This link has expired — start a new chat.|" +
      "E-mail me a transcript|Sent to {to}.",
    es: "Chatea con nosotros|Solemos responder al instante|¡Hola! ¿En qué podemos ayudarte?|Abrir chat|" +
      "Cerrar chat|{n} sin leer|Dinos quién eres y empieza el chat.|Nombre|Correo electrónico|opcional|" +
      "Iniciar chat|{field} es obligatorio|Introduce un correo electrónico válido|Escribe un mensaje…|Enviar|" +
      "Tú|Soporte|Asistente IA|IA|{name} está escribiendo…|Hablando con {name}|Pendiente de envío|Enviado|" +
      "Entregado|Leído|No enviado|Sin conexión. Los mensajes se enviarán cuando vuelvas a estar en línea.|" +
      "Reconectando…|El chat no está disponible ahora.|Algo salió mal. Inténtalo de nuevo.|" +
      "Esta conversación está cerrada. Escribe para reabrirla.|Conversación|Adjuntar archivos|Quitar|" +
      "{name} supera {max}.|Espera a que se suban los archivos.|Hasta {n} archivos por mensaje.|" +
      "¿Qué tal ha ido esta conversación?|{n} de 5|Comentario|¡Gracias por tu opinión!|Cambiar|" +
      "Eres el número {n} en la cola|Eres el siguiente en la cola|menos de un minuto|un minuto aprox.|" +
      "unos {n} minutos|Ahora no estamos.|Deja un mensaje y te responderemos por correo electrónico.|" +
      "Volvemos el {when}.|Este enlace ha caducado: inicia un chat nuevo.|Enviarme la conversación por correo|" +
      "Enviada a {to}.",
    fr: "Discutez avec nous|Nous répondons généralement tout de suite|" +
      "Bonjour ! Comment pouvons-nous vous aider ?|Ouvrir le chat|Fermer le chat|{n} non lu(s)|" +
      "Dites-nous qui vous êtes, puis lancez la discussion.|Nom|E-mail|facultatif|Démarrer|" +
      "{field} est obligatoire|Saisissez une adresse e-mail valide|Écrivez un message…|Envoyer|Vous|Support|" +
      "Assistant IA|IA|{name} est en train d'écrire…|En discussion avec {name}|En attente d'envoi|Envoyé|" +
      "Distribué|Lu|Non envoyé|Vous êtes hors ligne. Les messages partiront dès le retour de la connexion.|" +
      "Reconnexion…|Le chat n'est pas disponible pour le moment.|Une erreur s'est produite. Réessayez.|" +
      "Cette conversation est close. Écrivez pour la rouvrir.|Conversation|Joindre des fichiers|Retirer|" +
      "{name} dépasse {max}.|Attendez la fin de l'envoi des fichiers.|{n} fichiers au plus par message.|" +
      "Comment s'est passée cette conversation ?|{n} sur 5|Commentaire|Merci pour votre avis !|Modifier|" +
      "Vous êtes n° {n} dans la file d'attente|Vous êtes le prochain dans la file d'attente|" +
      "moins d'une minute|environ une minute|environ {n} minutes|Nous sommes absents.|" +
      "Laissez un message, nous vous répondrons par e-mail.|De retour {when}.|" +
      "Ce lien a expiré : démarrez une nouvelle discussion.|M'envoyer la conversation par e-mail|Envoyée à {to}.",
    de: "Chatten Sie mit uns|Wir antworten meist sofort|Hallo! Wie können wir helfen?|Chat öffnen|Chat schließen|" +
      "{n} ungelesen|Sagen Sie uns, wer Sie sind, und starten Sie den Chat.|Name|E-Mail|optional|Chat starten|" +
      "{field} ist erforderlich|Bitte eine gültige E-Mail-Adresse eingeben|Nachricht schreiben…|Senden|Sie|" +
      "Support|KI-Assistent|KI|{name} schreibt…|Im Chat mit {name}|Wartet auf Versand|Gesendet|Zugestellt|" +
      "Gelesen|Nicht gesendet|Sie sind offline. Nachrichten werden gesendet, sobald die Verbindung zurück ist.|" +
      "Verbinde erneut…|Der Chat ist gerade nicht verfügbar.|Etwas ist schiefgelaufen. Bitte erneut versuchen.|" +
      "Dieses Gespräch ist abgeschlossen. Schreiben Sie, um es wieder zu öffnen.|Unterhaltung|Dateien anhängen|" +
      "Entfernen|{name} ist größer als {max}.|Warten Sie, bis die Dateien hochgeladen sind.|" +
      "Höchstens {n} Dateien pro Nachricht.|Wie war dieses Gespräch?|{n} von 5|Kommentar|" +
      "Danke für Ihr Feedback!|Ändern|Sie sind Nummer {n} in der Warteschlange|Sie sind als Nächstes dran|" +
      "weniger als eine Minute|etwa eine Minute|etwa {n} Minuten|Wir sind gerade nicht da.|" +
      "Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.|Wieder da: {when}.|" +
      "Dieser Link ist abgelaufen – starten Sie einen neuen Chat.|Gespräch per E-Mail senden|Gesendet an {to}."
  };

  var STYLE = [
    ":host{all:initial!important}",
    "*{box-sizing:border-box}",
    "[hidden]{display:none!important}",
    ".w{position:fixed;bottom:20px;right:20px;z-index:2147483000;font:14px/1.45 system-ui,sans-serif;color:#111827}",
    ".w.l{right:auto;left:20px}",
    "button,input,textarea{font:inherit;color:inherit;margin:0}",
    "button{cursor:pointer}",
    ":focus-visible{outline:3px solid #93c5fd;outline-offset:2px}",
    ".bub{position:relative;display:flex;align-items:center;justify-content:center;width:58px;height:58px;padding:0;border:0;border-radius:50%;background:var(--p);color:var(--f);box-shadow:0 6px 18px rgba(17,24,39,.28)}",
    ".bub svg{width:28px;height:28px;fill:currentColor}",
    ".bdg{position:absolute;top:-3px;right:-3px;min-width:21px;height:21px;padding:0 6px;border-radius:11px;background:#dc2626;color:#fff;font-size:12px;font-weight:700;line-height:21px;text-align:center}",
    ".pn{position:absolute;bottom:74px;right:0;display:flex;flex-direction:column;width:370px;max-width:calc(100vw - 40px);height:580px;max-height:calc(100vh - 110px);background:#fff;border-radius:16px;box-shadow:0 16px 48px rgba(17,24,39,.25);overflow:hidden}",
    ".l .pn{right:auto;left:0}",
    ".hd{display:flex;align-items:center;gap:10px;padding:14px 10px 14px 16px;background:var(--p);color:var(--f)}",
    ".av{flex:none;display:flex;align-items:center;justify-content:center;width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.22);font-weight:700}",
    ".ht{flex:1;min-width:0}",
    ".tt{margin:0;font-size:16px;font-weight:650;line-height:1.25}",
    ".st{margin:2px 0 0;font-size:12.5px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".x{flex:none;width:34px;height:34px;border:0;border-radius:8px;background:transparent;font-size:24px;line-height:1}",
    ".cn,.nt{padding:6px 14px;background:#fef3c7;color:#92400e;font-size:12.5px}",
    ".cn.e,.nt.e{background:#fee2e2;color:#991b1b}.nt.i{background:#eef2ff;color:#3730a3}",
    ".lg{flex:1;display:flex;flex-direction:column;gap:4px;padding:14px;overflow-y:auto;background:#f8fafc}",
    ".m{display:flex;flex-direction:column;align-items:flex-start;max-width:84%}",
    ".m.v{align-self:flex-end;align-items:flex-end}",
    ".m.s{align-self:center;align-items:center;max-width:92%}",
    ".b{padding:8px 12px;border:1px solid #e5e7eb;border-radius:16px 16px 16px 4px;background:#fff;white-space:pre-wrap;overflow-wrap:anywhere}",
    ".v .b{border-color:transparent;border-radius:16px 16px 4px 16px;background:var(--p);color:var(--f)}",
    ".ai .b{border-color:#c7d2fe;background:#eef2ff}",
    ".s .b{padding:2px 6px;border:0;background:none;color:#6b7280;font-size:12px;font-style:italic;text-align:center}",
    ".pd .b{opacity:.7}.fl .b{background:#fee2e2;color:#991b1b}",
    ".who{margin:8px 4px 2px;color:#6b7280;font-size:11.5px;font-weight:600}",
    ".tag{margin-left:5px;padding:0 4px;border-radius:4px;background:#e0e7ff;color:#3730a3;font-size:10px;font-weight:700}",
    ".mt{display:flex;gap:5px;margin:2px 5px 4px;color:#9ca3af;font-size:11px}",
    ".tk{letter-spacing:-2px}.tk.r{color:#2563eb}.tk.f{color:#dc2626;letter-spacing:0}",
    ".ty{display:flex;align-items:center;gap:6px;padding:4px 16px 8px;background:#f8fafc;color:#6b7280;font-size:12px}",
    ".ty.ai{align-items:flex-start;color:#374151;font-size:13px;max-height:96px;overflow:hidden;white-space:pre-wrap}",
    ".dt i{display:inline-block;width:6px;height:6px;margin-right:3px;border-radius:50%;background:#9ca3af;opacity:.3;animation:cc 1.2s infinite}",
    ".dt i:nth-child(2){animation-delay:.15s}.dt i:nth-child(3){animation-delay:.3s}",
    "@keyframes cc{30%{opacity:1;transform:translateY(-3px)}}",
    ".fm{display:flex;flex-direction:column;gap:10px;padding:16px;border-top:1px solid #e5e7eb}",
    ".fm p{margin:0;color:#374151}",
    ".fm label{display:flex;flex-direction:column;gap:4px;font-size:12.5px;font-weight:600;color:#374151}",
    ".fm label small{font-weight:400;color:#6b7280}",
    "input,textarea{width:100%;padding:9px 11px;border:1px solid #d1d5db;border-radius:10px;background:#fff;font-size:14px}",
    ".er{color:#b91c1c;font-size:12.5px}",
    ".go{padding:10px 14px;border:0;border-radius:10px;background:var(--p);color:var(--f);font-weight:600}",
    ".cp{display:flex;flex-wrap:wrap;align-items:flex-end;gap:8px;padding:10px;border-top:1px solid #e5e7eb}",
    ".ch,.cp .er{flex-basis:100%;min-width:0;margin:0}.ch{display:flex;flex-wrap:wrap;gap:6px}.cp .ac{background:#e5e7eb;color:#374151}",
    ".cf,.fc{display:flex;align-items:center;gap:6px;padding:4px 8px;border:1px solid #d1d5db;border-radius:8px;background:rgba(127,127,127,.1);color:inherit;font-size:12.5px;white-space:nowrap}",
    ".cf span,.fc span{overflow:hidden;text-overflow:ellipsis}.cf button{border:0;background:none;font-size:16px}",
    ".fc:before{content:'';flex:none;width:9px;height:12px;border:2px solid;border-radius:2px}",
    ".fs{display:grid;justify-items:start;gap:6px;margin-top:6px}.fs.n{margin:0}",
    ".b,.th,.cf,.fc{max-width:100%}.th{padding:0;border:0;border-radius:8px;overflow:hidden;background:#e5e7eb}.ld{width:120px;height:90px}",
    ".th img{display:block;max-width:100%;max-height:200px}.e img{display:none}.th.e:before{content:'⚠ ' attr(title)}",
    ".fs .e{padding:6px;background:#fee2e2;color:#991b1b}",
    ".cp label{flex:1}.cp textarea{min-height:42px;max-height:120px;resize:none}",
    ".cp .go{flex:none;display:flex;align-items:center;justify-content:center;width:42px;height:42px;padding:0}",
    ".go svg{width:20px;height:20px;fill:currentColor}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
    ".rt{margin:10px 0 4px;padding:12px;border:1px solid #e5e7eb;border-radius:12px;background:#fff}",
    ".rs{display:flex;margin:0;padding:0;border:0}legend{padding:0;font-weight:600}",
    ".rs label{position:relative;padding:0 4px;color:#d97706;font-size:30px;line-height:1.2}.rs:enabled label{cursor:pointer}",
    ".rs :focus-visible+span{outline:3px solid #93c5fd}.rs span:before{content:'☆'}",
    ".rs:has(:checked) span:before{content:'★'}.rs label:has(:checked)~label span:before{content:'☆'}",
    ".lk{align-self:flex-start;padding:0;border:0;background:none;color:var(--p);text-decoration:underline}",
    ".tx{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;padding:8px 14px;border-top:1px solid #e5e7eb;font-size:13px}.tx input{flex:1;min-width:0;padding:6px 9px}.tx .lk{align-self:auto}.tx p{flex-basis:100%;margin:0}",
    "@media (max-width:480px){.w{bottom:14px;right:14px}.w.l{left:14px}.w .pn{position:fixed;inset:0;width:auto;max-width:none;height:auto;max-height:none;border-radius:0}.o .bub{display:none}input,textarea{font-size:16px}}",
    "@media (prefers-reduced-motion:reduce){.dt i{animation:none}}"
  ].join("");

  var CHAT_ICON = "M12 3C6.5 3 2 6.6 2 11c0 2.4 1.3 4.5 3.4 6L5 21l4.3-2.3c.9.2 1.8.3 2.7.3 5.5 0 10-3.6 10-8s-4.5-8-10-8z";
  var SEND_ICON = "M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z";
  var CLIP_ICON = "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z";
  // What the server accepts (it decides from the bytes; this only spares the visitor a pointless upload).
  var ACCEPT = ".png,.jpg,.jpeg,.gif,.webp,.pdf,.txt,.csv,.log,.md,.docx,.xlsx,.pptx,.odt,.ods,.odp,.zip";
  var EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
  var listeners = {message: [], open: [], close: [], unread: []};
  var widget = null;
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
  function icon(d, el) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = el.appendChild(document.createElementNS(ns, "svg"));
    svg.setAttribute("viewBox", "0 0 24 24");
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
      if (STRINGS[code]) return [code, String(tried[i]).replace("_", "-")];
    }
    return ["en", "en"];
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

  function Widget(o) {
    var api = String(o.apiUrl || scriptOrigin).replace(/\/+$/, "").replace(/\/api\/v1$/, "");
    var picked = pickLang(o.locale), lang = picked[0];
    var L = STRINGS[lang].split("|"), EN = STRINGS.en.split("|");
    var key = "callcenter-chat:" + o.tenantId;
    var local = storage("localStorage");
    var session = storage("sessionStorage");
    var st = load();
    var tenant = null;
    var ws = null, live = false, attempts = 0, retryT = 0, tickT = 0, lastRx = 0, lastPing = 0, hbMs = 20000;
    var typingOn = false, typingAt = 0, typingStopT = 0, agentTypingT = 0, starting = null;
    var readSent = 0, isOpen = false, dead = false, conn = null, unreadShown = -1;
    var els = new WeakMap(), built = false, fmt;
    // ups: the composer's files not sent yet ({f: File, el: chip, p: its progress, x: the XHR while uploading,
    // a: the server's attachment once uploaded}). urls: attachment id -> Promise of a blob: URL, so a thumbnail
    // is fetched once however often its message is drawn.
    var ups = [], urls = {};

    function t(k, vars) {
      var i = KEYS.indexOf(k), s = L[i] || EN[i];
      return s.replace(/\{(\w+)\}/g, function (_, v) { return vars && vars[v] != null ? vars[v] : ""; });
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
    if (root.adoptedStyleSheets) {
      var sheet = new CSSStyleSheet();
      // Not blocked by a host page's style-src CSP.
      sheet.replaceSync(STYLE);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(h("style", null, STYLE));
    }
    var wrap = h("div", "w", null, {lang: lang, dir: "ltr"}, root);

    var bubble = icon(CHAT_ICON, h("button", "bub", null, {type: "button", "aria-haspopup": "dialog",
      "aria-expanded": "false"}, wrap));
    var badge = h("span", "bdg", null, {"aria-hidden": "true", hidden: ""}, bubble);

    var title, bare;
    var panel = h("section", "pn", null, {role: "dialog", "aria-labelledby": "tt", hidden: ""}, wrap);
    var head = h("header", "hd", null, null, panel);
    var avatar = h("span", "av", null, {"aria-hidden": "true"}, head);
    var headText = h("div", "ht", null, null, head);
    var titleEl = h("h2", "tt", null, {id: "tt"}, headText);
    var subtitle = h("p", "st", null, null, headText);
    var closeBtn = h("button", "x", "×", {type: "button", "aria-label": t("close"), title: t("close")}, head);
    var connLine = h("div", "cn", null, {role: "status", hidden: ""}, panel);
    // Under it: an e-mail's link that no longer works; the team away (business hours); the place in the queue.
    var linkLine = h("div", "nt e", null, {role: "alert", hidden: ""}, panel);
    var awayLine = h("div", "nt", null, {hidden: ""}, panel);
    h("strong", null, t("away") + " ", null, awayLine);
    var awayText = h("span", null, null, null, awayLine);
    var queueLine = h("div", "nt i", null, {"aria-live": "polite", hidden: ""}, panel);
    var logEl = h("div", "lg", null, {role: "log", "aria-label": t("log"), tabindex: "0"}, panel);
    var greetText = h("div", "b", null, null, h("div", "m a g", null, null, logEl));
    var typingEl = h("div", "ty", null, {role: "status", hidden: ""}, panel);
    var dots = h("span", "dt", null, {"aria-hidden": "true"}, typingEl);
    h("i", null, null, null, dots);
    h("i", null, null, null, dots);
    h("i", null, null, null, dots);
    var typingText = h("span", null, null, null, typingEl);
    // Once resolved: "E-mail me a transcript", with a box for the address when the session has none.
    var tx = h("form", "tx", null, {novalidate: "", hidden: ""}, panel);
    // (Named by its placeholder only: a label "Email" would be a second one beside the pre-chat form's.)
    var txIn = h("input", null, null, {type: "email", autocomplete: "email", maxlength: "254", placeholder: t("email")},
      tx);
    var txBtn = h("button", "lk", t("mail"), null, tx);
    var txOut = h("p", null, null, {role: "status", hidden: ""}, tx);

    var form = h("form", "fm", null, {novalidate: ""}, panel);
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
        if (Array.isArray(m.f) && m.f.length) body.appendChild(files(m.f, !m.b));
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

    // ---- attachments ------------------------------------------------------------
    function size(n) {
      return n < 1024 ? n + " B" : n < 1048576 ? Math.round(n / 1024) + " KB" : +(n / 1048576).toFixed(1) + " MB";
    }

    // A file of the chat as an object URL (the token goes in a header, never in a URL).
    function fetchUrl(a) {
      // Not request(): the answer is the file's bytes, not JSON.
      return fetch(api + "/api/v1/chat/public/session/" + st.sid + "/attachments/" + encodeURIComponent(a.id),
        {headers: {Authorization: "Bearer " + st.token}}).then(function (r) {
        if (!r.ok) throw r.status;
        return r.blob();
      }).then(function (b) { return URL.createObjectURL(b); });
    }

    // A message's files: images as thumbnails (a click opens the image), others as chips that download.
    // Each is a button, so it is reached with the keyboard; a file's name is only ever text or an attribute.
    function files(list, alone) {
      var box = h("div", alone ? "fs n" : "fs");
      list.forEach(function (a) {
        var name = String(a.name), pic = a.kind === "image", img;
        // "ld": a placeholder of a thumbnail's size while the image is fetched and loads.
        var el = h("button", pic ? "th ld" : "fc", null, {type: "button", title: name}, box);
        var fail = function () { el.className = pic ? "th e" : "fc e"; };
        if (pic) {
          img = h("img", null, null, {alt: name}, el);
          img.onload = function () { el.className = "th"; };
          img.onerror = fail;
          // An <img> cannot send the token: the image is fetched with it, and shown from its blob: URL.
          // A failed fetch is forgotten, so drawing the message again tries again.
          (urls[a.id] = urls[a.id] || fetchUrl(a)).then(function (u) { img.src = u; }, function () {
            delete urls[a.id];
            fail();
          });
        } else {
          h("span", null, name, null, el);
          h("small", null, size(+a.size || 0), null, el);
        }
        el.onclick = function () {
          // An image opens in a new tab from the blob already fetched (only once it has loaded).
          if (pic) return el.className === "th" && window.open(img.src);
          fetchUrl(a).then(function (u) {
            el.className = "fc";
            // A file is saved through a transient <a download> (under its own name, not the blob's); its URL is
            // released a minute later, by when the download has started.
            var link = h("a", null, null, {href: u, download: name}, root);
            link.click();
            link.remove();
            setTimeout(function () { URL.revokeObjectURL(u); }, 60000);
          }, fail);
        };
      });
      return box;
    }

    // Files picked or pasted: each gets a chip and uploads at once, so that sending is immediate.
    function addFiles(list) {
      say("");
      // Refused here before a byte is sent: an eleventh file (the server takes 10 per message), or one over
      // the tenant's size limit (10 MB unless its settings say otherwise). The server checks both again.
      var max = tenant && tenant.max_upload_bytes || 10485760;
      [].forEach.call(list, function (file) {
        var name = file.name, u = {f: file};
        if (ups.length > 9) return say(t("many", {n: 10}));
        if (file.size > max) return say(t("big", {name: name, max: size(max)}));
        u.el = h("span", "cf", null, null, chips);
        h("span", null, name, null, u.el);
        u.p = h("small", null, "…", null, u.el);
        h("button", null, "×", {type: "button", "aria-label": t("remove") + " " + name}, u.el).onclick = function () {
          unpick(u);
        };
        ups.push(u);
        upload(u);
      });
      // Cleared, so picking the same file again fires "change" again.
      picker.value = "";
      // An upload needs a session: the first file starts one, and each waiting file uploads once it exists.
      if (!st.sid) ensureLive();
    }

    // XHR, not fetch: only XHR reports an upload's progress. Sent with the bearer token, like every call.
    // At most 2 go at a time (the server takes 2 per client address at once; the others wait their turn,
    // "…"), and a refusal that says "in a second" (429, a short Retry-After) tries again.
    function upload(u) {
      if (u.x || u.a || u.w || !st.sid) return;
      if (ups.filter(function (v) { return v.x; }).length > 1) return;
      var x = u.x = new XMLHttpRequest(), fd = new FormData();
      fd.append("file", u.f, u.f.name);
      x.open("POST", api + "/api/v1/chat/public/session/" + st.sid + "/attachments");
      x.setRequestHeader("Authorization", "Bearer " + st.token);
      x.upload.onprogress = function (e) {
        // At most 99% until the server has answered (and kept the file); then the chip shows the size.
        if (e.lengthComputable) u.p.textContent = Math.floor(e.loaded * 99 / e.total) + "%";
      };
      x.onloadend = function () {
        // Removed (aborted) meanwhile: nothing left to show.
        if (u.x !== x) return;
        u.x = null;
        var j = {}, wait = +x.getResponseHeader("Retry-After");
        try { j = JSON.parse(x.responseText); } catch (e) {}
        u.a = j.attachment;
        if (x.status === 429 && wait > 0 && wait <= 5 && (u.r = (u.r || 0) + 1) <= 5) {
          u.w = setTimeout(function () { u.w = null; upload(u); }, wait * 1000);
        } else if (u.a) {
          u.p.textContent = size(u.a.size);
        } else {
          // Refused (its type, its size, the session's quota) or failed: the chip goes, and the why is shown,
          // in the server's words when it gave some.
          unpick(u);
          say(u.f.name + ": " + (j.error && j.error.message || t("error")));
        }
        // The next ones waiting for their turn.
        ups.forEach(upload);
      };
      x.send(fd);
    }

    // A chip removed: an upload in flight is aborted; a file uploaded but not sent is deleted on the server
    // too (best effort), so it stops counting against the session's upload quota.
    function unpick(u) {
      var x = u.x;
      u.x = null;
      clearTimeout(u.w);
      u.w = null;
      if (x) x.abort();
      else if (u.a) request("DELETE", "/chat/public/session/" + st.sid + "/attachments/" + u.a.id).catch(function () {});
      u.el.remove();
      ups = ups.filter(function (v) { return v !== u; });
      ups.forEach(upload);
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
      // The rating card (once made, hidden or not) stays the log's last child.
      logEl.insertBefore(draw(m, st.msgs[at - 1]), next ? draw(next) : rate);
    }

    // The conversation's DOM is built when the panel first opens, not before the bubble shows.
    function buildLog() {
      if (built) return;
      built = true;
      st.msgs.forEach(function (m, i) { logEl.insertBefore(draw(m, st.msgs[i - 1]), rate); });
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
      var label = t(isOpen ? "close" : "open") + (n ? ", " + t("unread", {n: n}) : "");
      bubble.setAttribute("aria-label", label);
      bubble.setAttribute("title", t(isOpen ? "close" : "open"));
      if (n !== unreadShown) {
        var first = unreadShown < 0;
        unreadShown = n;
        if (!first || n) emit("unread", n);
      }
    }

    function updateHeader() {
      var agent = st.agent && st.agent.name;
      var w = (st.w || {}).widget || {};
      subtitle.textContent = agent ? t("with", {name: agent}) : (o.subtitle || w.subtitle || t("subtitle"));
      avatar.textContent = ((agent || title).trim()[0] || "?").toUpperCase();
      greetText.textContent = o.greeting || (w.greetings || {})[lang] || t("greeting");
      textarea.placeholder = st.status === "resolved" ? t("resolved") : t("placeholder");
      // Away (business hours; not once an agent has joined): the tenant's message in this language, else ours.
      var av = (st.w || {}).availability || {};
      awayLine.hidden = av.open !== false || !!st.agent;
      // Written once the panel shows (opening draws the header again): a cold Intl formatter costs tens of ms,
      // which would delay the bubble.
      if (isOpen) awayText.textContent = ((av.away_message || {})[lang] || t("awayMsg")) + back(av.next_open_at);
      rating();
      offer();
    }

    // " Back Monday 09:00." in the visitor's locale and time zone (with the date when that is 6 days or more away).
    function back(iso) {
      var d = new Date(iso), f = {weekday: "long", hour: "numeric", minute: "2-digit"};
      if (!iso || isNaN(d)) return "";
      if (d - Date.now() > 5184e5) f.month = "long", f.day = "numeric";
      // (A locale the page gave that Intl does not take: the bare language.)
      try { f = new Intl.DateTimeFormat(picked[1], f); } catch (e) { f = new Intl.DateTimeFormat(lang, f); }
      return " " + t("back", {when: f.format(d)});
    }

    // The place in the routing queue while no agent has the conversation yet (null: not waiting). Set only when
    // it changes (a live region: the same text set again could be read again).
    function queue(q) {
      var s = q && q.estimated_wait_secs, m = Math.ceil(s / 60);
      var text = q ? (q.position > 1 ? t("line", {n: q.position}) : t("next")) +
        (s == null ? "" : ", " + t(s < 60 ? "soon" : m < 2 ? "min" : "mins", {n: m})) : "";
      queueLine.hidden = !q;
      if (queueLine.textContent !== text) queueLine.textContent = text;
    }

    // The look: each init option, else the tenant's saved settings (st.w: kept for the next page, so that the
    // bubble shows in them at once), else ours. Called once the host is in the page (for the computed colour).
    function look() {
      var w = (st.w || {}).widget || {}, p = o.prechat || w.prechat || {}, c = o.primaryColor || w.primary_color;
      var lum = 0, rgb;
      titleEl.textContent = title = o.title || w.title || t("title");
      wrap.classList.toggle("l", (o.position || w.position) === "bottom-left");
      wrap.style.setProperty("--p", CSS.supports("color", c) ? c : "#4F46E5");
      // The text on that colour: white, or dark where dark reads better (relative luminance over 0.18).
      rgb = getComputedStyle(bubble).backgroundColor.match(/[\d.]+/g) || [];
      [.2126, .7152, .0722].forEach(function (k, i) { lum += k * Math.pow(rgb[i] / 255, 2.2); });
      wrap.style.setProperty("--f", lum > .18 ? "#111827" : "#fff");
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
      m.b = String(msg.body);
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
        if (m.t === "agent" || m.t === "ai") hideTyping();
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
      ups = [];
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
        ups.forEach(upload);
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
      try { sock = new WebSocket(api.replace(/^http/i, "ws") + "/ws"); } catch (e) { return retry(); }
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
      ws = null;
      live = false;
      clearInterval(tickT);
      typingOn = false;
      if (dead) return;
      if (code === 4001) return forget();
      if (code === 4003) return setConn("error");
      if (code === 1012 || code === 4008) attempts = 0;
      retry();
    }

    function drop() {
      var sock = ws;
      if (!sock) return;
      lost(1006);
      // Already closing: nothing to do.
      try { sock.close(); } catch (e) {}
    }

    function retry() {
      if (dead) return;
      clearTimeout(retryT);
      var delay = Math.min(30000, 500 * Math.pow(2, Math.min(attempts, 6))) * (0.5 + Math.random() / 2);
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
          attempts = 0;
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

    // ---- satisfaction --------------------------------------------------------------------
    // Once the conversation is resolved (and the tenant's csat_enabled is on), the end of the log asks for a
    // rating of 1-5 (radios: the arrow keys move the choice) and an optional comment. Once given, the stars
    // show it (disabled) under thanks, with "Change" for the 10 minutes in which the server takes a new answer.
    // st.rating: the server's rating of the current resolution (null: none yet); st.rx: when "Change" goes (this
    // clock; checked whenever the card is drawn again, and the server refuses a late change with its 409 anyway).
    var rate, group, legend, note, rateErr, rateBtn, editing = false, was;

    // The card, made the first time it shows (most conversations never get there).
    function card() {
      rate = h("form", "fm rt", null, null, logEl);
      group = h("fieldset", "rs", null, {role: "radiogroup"}, rate);
      legend = h("legend", null, null, null, group);
      [1, 2, 3, 4, 5].forEach(function (n) {
        // Required: with no score chosen the browser says so (in its own language) and nothing is sent.
        var lab = h("label", null, null, null, group);
        h("input", "sr", null, {type: "radio", name: "score", value: n, required: "", "aria-label": t("of", {n: n})},
          lab);
        // The star, drawn by the style sheet (filled up to the choice); hidden from screen readers (the radio
        // has the name).
        h("span", null, null, {"aria-hidden": "true"}, lab);
      });
      note = h("textarea", null, null, {rows: "2", maxlength: "1000"},
        h("label", null, t("comment") + " (" + t("optional") + ")", null, rate));
      rateErr = h("div", "er", null, {role: "alert", hidden: ""}, rate);
      // Send; once rated, "Change". (rate.score: the radios, in order; its value is the one chosen.)
      rateBtn = h("button", null, null, null, rate);
      rate.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!editing && st.rating) {
          // "Change": the form again, as it was sent.
          editing = true;
          note.value = st.rating.comment || "";
          rating();
          return rate.score[st.rating.score - 1].focus();
        }
        setFormError("", rateErr);
        request("POST", "/chat/public/session/" + st.sid + "/rating",
          {score: +rate.score.value, comment: note.value.trim()}).then(function (j) {
          editing = false;
          sess(j.session);
          save();
          updateHeader();
          rateBtn.focus();
        }, function (e) {
          // Refused (409 already_rated after the 10 minutes, …): in the server's words; offline: ours. The form
          // stays as it is.
          setFormError(e.status ? e.message : t("error"), rateErr);
        });
      });
    }

    // A session from the server: its status and its rating.
    function sess(s) {
      if (!s) return;
      st.status = s.status;
      st.ce = s.customer_email || st.ce;
      if (s.rating && !st.rating) st.rx = Date.now() + 600000;
      st.rating = s.rating;
    }

    // The card as the state says: none (yet), hidden, asking, or the rating given.
    function rating() {
      var r = st.rating, on = st.status === "resolved" && tenant && tenant.csat_enabled;
      var asking = !r || editing;
      if (!rate) {
        if (!on) return;
        card();
      }
      rate.hidden = !on;
      if (!on) {
        // Gone (reopened): emptied, so that the next resolution asks afresh (with no rating yet it asks, whatever
        // `editing` was; the next answer clears it).
        rate.reset();
        return setFormError("", rateErr);
      }
      group.disabled = note.parentNode.hidden = !asking;
      if (!asking) rate.score[r.score - 1].checked = true;
      // Texts set only when they change (the log is a live region: the same text set again could be read again).
      if (asking !== was) {
        was = asking;
        legend.textContent = t(asking ? "ask" : "thanks");
        rateBtn.textContent = t(asking ? "send" : "change");
        rateBtn.className = asking ? "go" : "lk";
      }
      rateBtn.hidden = !asking && !(st.rx > Date.now());
    }

    // ---- transcript ------------------------------------------------------------------------
    // Once resolved: the conversation by e-mail, to the session's address in one click, else to the one typed.
    // A server that sends no e-mail answers mail_disabled: the offer goes for as long as the page lives.
    var noMail = false, mailed = false;

    function offer() {
      var on = st.status === "resolved" && !noMail;
      // Gone (reopened): the next resolution offers afresh.
      if (!on) mailed = false;
      if (!on) tell("");
      tx.hidden = !on;
      txIn.hidden = mailed || !!st.ce;
      txBtn.hidden = mailed;
    }

    function tell(text, bad) {
      txOut.className = bad ? "er" : "";
      setFormError(text, txOut);
    }

    tx.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var to = st.ce || txIn.value.trim();
      if (!EMAIL.test(to)) {
        tell(to ? t("badEmail") : t("required", {field: t("email")}), 1);
        return txIn.focus();
      }
      txBtn.disabled = true;
      request("POST", "/chat/public/session/" + st.sid + "/transcript", st.ce ? {} : {email: to}).then(function () {
        mailed = true;
        tell(t("sentTo", {to: to}));
      }, function (e) {
        if (e.code === "mail_disabled") noMail = true;
        // In the server's words (a bad address, too many at once); offline: ours.
        tell(e.status ? e.message : t("error"), 1);
      }).then(function () {
        txBtn.disabled = false;
        offer();
      });
    });

    // ---- open / close -------------------------------------------------------------------
    function setOpen(value, byUser) {
      value = !!value;
      if (dead || isOpen === value) return;
      var hadFocus = root.activeElement;
      isOpen = value;
      panel.hidden = !value;
      wrap.classList.toggle("o", value);
      bubble.setAttribute("aria-expanded", value);
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
      } else {
        updateBadge();
        if (hadFocus) bubble.focus();
      }
      emit(value ? "open" : "close");
    }

    function onKey(ev) {
      if (ev.key === "Escape") {
        ev.stopPropagation();
        setOpen(false, true);
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
      ups.slice().forEach(unpick);
      for (var id in urls) urls[id].then(function (u) { URL.revokeObjectURL(u); }, function () {});
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

  window.CallCenterChat = {
    version: "1.0.0",
    init: function (opts) {
      // A second init is harmless: the first one stays.
      if (widget) return this;
      opts = opts || {};
      if (!opts.tenantId) {
        console.error("CallCenterChat.init: tenantId is required");
        return this;
      }
      var start = function () {
        if (widget) return;
        widget = new Widget(opts);
        // open()/close() called before the page was ready.
        if (presetOpen !== null) widget[presetOpen ? "open" : "close"]();
        presetOpen = null;
      };
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
      widget = null;
    }
  };
})();
