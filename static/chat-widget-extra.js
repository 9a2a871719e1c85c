/* The chat widget's lazily loaded part (static/chat-widget.js loads it the first time it is needed, and
 * prefetches it when the panel opens): the files of messages and the composer's uploads, the rating card and
 * the transcript offer of a resolved conversation. Built by scripts/build_assets.py into
 * static/dist/chat-widget-extra.<hash>.js (esbuild: IIFE, minified, its style sheet chat-widget-extra.css as
 * __WIDGET_CSS__). It registers a factory through the widget's internal hook; the widget calls it once per
 * widget with what they share (`w`: its helpers, its state object and its elements) and gets back
 * {files, queue, add, go, up, stop, r: the rating card once made}. Also here: the away notice (business hours) and the place in the queue.
 * No globals of its own. */
// The system lines' texts go to the language packs through this file: the main script renders them in the
// visitor's language ("system." + kind), and the English ones are the lines as the server wrote them, so the
// main script need not carry them. Keys: "system.joined" "system.assigned" "system.transferred"
// "system.resolved" "system.reopened".
(function () {
  "use strict";
  CallCenterChat._add("extra", function (w) {
    var h = w.h, st = w.st, ups = w.ups, say = w.say, request = w.request, setFormError = w.setFormError;
    // The English texts of the keys only this part uses (the widget's have the rest; a language's pack has all).
    var EN = __WIDGET_STRINGS__;
    // urls: attachment id -> Promise of a blob: URL, so a thumbnail is fetched once however often its message
    // is drawn.
    var urls = {};
    w.style(__WIDGET_CSS__);

    function t(k, vars) {
      return w.t(k, vars, EN[k]);
    }

    // ---- attachments ------------------------------------------------------------
    function size(n) {
      return n < 1024 ? n + " B" : n < 1048576 ? Math.round(n / 1024) + " KB" : +(n / 1048576).toFixed(1) + " MB";
    }

    // A file of the chat as an object URL (the token goes in a header, never in a URL).
    function fetchUrl(a) {
      // Not request(): the answer is the file's bytes, not JSON.
      return fetch(w.api + "/api/v1/chat/public/session/" + st.sid + "/attachments/" + encodeURIComponent(a.id),
        {headers: {Authorization: "Bearer " + st.token}}).then(function (r) {
        if (!r.ok) throw r.status;
        return r.blob();
      }).then(function (b) { return URL.createObjectURL(b); });
    }

    // A message's files into `box`: images as thumbnails (a click opens the image), others as chips that
    // download. Each is a button, so it is reached with the keyboard; a file's name is only ever text or an
    // attribute.
    function files(list, box) {
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
            var link = h("a", null, null, {href: u, download: name}, w.root);
            link.click();
            link.remove();
            setTimeout(function () { URL.revokeObjectURL(u); }, 60000);
          }, fail);
        };
      });
    }

    // Files picked or pasted (an array): each gets a chip and uploads at once, so that sending is immediate.
    function addFiles(list) {
      say("");
      // Refused here before a byte is sent: an eleventh file (the server takes 10 per message), or one over
      // the tenant's size limit (10 MB unless its settings say otherwise). The server checks both again.
      var tenant = w.tenant(), max = tenant && tenant.max_upload_bytes || 10485760;
      list.forEach(function (file) {
        var name = file.name, u = {f: file};
        if (ups.length > 9) return say(t("many", {n: 10}));
        if (file.size > max) return say(t("big", {name: name, max: size(max)}));
        u.el = h("span", "cf", null, null, w.chips);
        h("span", null, name, null, u.el);
        u.p = h("small", null, "…", null, u.el);
        h("button", null, "×", {type: "button", "aria-label": t("remove") + " " + name}, u.el).onclick = function () {
          unpick(u);
        };
        ups.push(u);
        upload(u);
      });
      // An upload needs a session: the first file starts one, and each waiting file uploads once it exists.
      if (!st.sid) w.ensureLive();
    }

    // XHR, not fetch: only XHR reports an upload's progress. Sent with the bearer token, like every call.
    // At most 2 go at a time (the server takes 2 per client address at once; the others wait their turn,
    // "…"), and a refusal that says "in a second" (429, a short Retry-After) tries again.
    function upload(u) {
      if (u.x || u.a || u.w || !st.sid) return;
      if (ups.filter(function (v) { return v.x; }).length > 1) return;
      var x = u.x = new XMLHttpRequest(), fd = new FormData();
      fd.append("file", u.f, u.f.name);
      x.open("POST", w.api + "/api/v1/chat/public/session/" + st.sid + "/attachments");
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
    // too (best effort), so it stops counting against the session's upload quota. (`ups` is the widget's
    // array: changed in place.)
    function unpick(u) {
      var x = u.x, i = ups.indexOf(u);
      u.x = null;
      clearTimeout(u.w);
      u.w = null;
      if (x) x.abort();
      else if (u.a) request("DELETE", "/chat/public/session/" + st.sid + "/attachments/" + u.a.id).catch(function () {});
      u.el.remove();
      if (i >= 0) ups.splice(i, 1);
      ups.forEach(upload);
    }

    // ---- satisfaction --------------------------------------------------------------------
    // Once the conversation is resolved (and the tenant's csat_enabled is on), the end of the log asks for a
    // rating of 1-5 (radios: the arrow keys move the choice) and an optional comment. Once given, the stars
    // show it (disabled) under thanks, with "Change" for the 10 minutes in which the server takes a new answer.
    // st.rating: the server's rating of the current resolution (null: none yet); st.rx: when "Change" goes (this
    // clock; checked whenever the card is drawn again, and the server refuses a late change with its 409 anyway).
    // The card is the log's last child (the widget inserts messages before it: out.r).
    var rate, group, legend, note, rateErr, rateBtn, editing = false, was;

    // The card, made the first time it shows (most conversations never get there).
    function card() {
      out.r = rate = h("form", "fm rt", null, null, w.log);
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
          w.sess(j.session);
          w.save();
          w.updateHeader();
          rateBtn.focus();
        }, function (e) {
          // Refused (409 already_rated after the 10 minutes, …): in the server's words; offline: ours. The form
          // stays as it is.
          setFormError(e.status ? e.message : t("error"), rateErr);
        });
      });
    }

    // The card as the state says: none (yet), hidden, asking, or the rating given.
    function rating() {
      var r = st.rating, tenant = w.tenant(), on = st.status === "resolved" && tenant && tenant.csat_enabled;
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
    // The form (w.tx) is the widget's, empty and hidden until then.
    var tx = w.tx, noMail = false, mailed = false;
    // (Named by its placeholder only: a label "Email" would be a second one beside the pre-chat form's.)
    var txIn = h("input", null, null, {type: "email", autocomplete: "email", maxlength: "254", placeholder: t("email")},
      tx);
    var txBtn = h("button", "lk", t("mail"), null, tx);
    var txOut = h("p", null, null, {role: "status", hidden: ""}, tx);

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
      if (!w.EMAIL.test(to)) {
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

    // ---- away, the queue -----------------------------------------------------------------------
    // Away (business hours; not once an agent has joined): the tenant's message in this language, else ours.
    var awayLine = w.away;
    h("strong", null, t("away") + " ", null, awayLine);
    var awayText = h("span", null, null, null, awayLine);

    function away() {
      var av = (st.w || {}).availability || {};
      awayLine.hidden = av.open !== false || !!st.agent;
      // Written once the panel shows (opening draws the header again): a cold Intl formatter costs tens of ms.
      if (w.open()) awayText.textContent = ((av.away_message || {})[w.lang] || t("awayMsg")) + back(av.next_open_at);
    }

    // " Back Monday 09:00." in the visitor's locale and time zone (with the date when that is 6 days or more away).
    function back(iso) {
      var d = new Date(iso), f = {weekday: "long", hour: "numeric", minute: "2-digit"};
      if (!iso || isNaN(d)) return "";
      if (d - Date.now() > 5184e5) f.month = "long", f.day = "numeric";
      // (A locale the page gave that Intl does not take: the bare language.)
      try { f = new Intl.DateTimeFormat(w.locale, f); } catch (e) { f = new Intl.DateTimeFormat(w.lang, f); }
      return " " + t("back", {when: f.format(d)});
    }

    // The place in the routing queue while no agent has the conversation yet (null: not waiting). Set only when
    // it changes (a live region: the same text set again could be read again).
    function queue(q) {
      var s = q && q.estimated_wait_secs, m = Math.ceil(s / 60), line = w.queueLine;
      var text = q ? (q.position > 1 ? t("line", {n: q.position}) : t("next")) +
        (s == null ? "" : ", " + t(s < 60 ? "soon" : m < 2 ? "min" : "mins", {n: m})) : "";
      line.hidden = !q;
      if (line.textContent !== text) line.textContent = text;
    }

    var out = {
      files: files,
      queue: queue,
      add: addFiles,
      // The files waiting for a session upload now.
      go: function () { ups.forEach(upload); },
      // The away notice and the resolved state drawn again (the rating card, the transcript offer).
      up: function () {
        away();
        rating();
        offer();
      },
      // shutdown: files attached but not sent are deleted on the server too; the blob: URLs are released.
      stop: function () {
        ups.slice().forEach(unpick);
        for (var id in urls) urls[id].then(function (u) { URL.revokeObjectURL(u); }, function () {});
      }
    };
    return out;
  });
})();
