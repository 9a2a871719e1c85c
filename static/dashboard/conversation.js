// The open conversation: history (older pages load on scroll), live messages in seq order
// with no duplicate and no gap (drawn as a chat by message-render.js: groups, day separators),
// the composer (replies with file attachments, or private notes; composer-assist.js has its
// Reply / Note switch and its "/" and "@" lists), typing, read receipts, labels, the rating and
// the session actions.

import {api, query} from "./api.js";
import {ACCEPT, Lightbox, MediaScope, UploadTray, renderMessageFiles, renderPendingFiles} from "./attachments.js";
import {ComposerAssist} from "./composer-assist.js";
import {$, clear, customerLabel, debounce, newClientMsgId, setText} from "./dom.js";
import {t} from "./i18n.js";
import {closeLabelPicker, renderConvLabels} from "./labels.js";
import {continues, daySeparator, paintReceipt, refreshDaySeparator, renderMessage, renderPendingMessage, sameDay}
  from "./message-render.js";
import {ratingChip} from "./session-list.js";

const PAGE = 50;
const LATEST = 2147483647; // before_seq that means "the newest page"
const NEAR_BOTTOM_PX = 120;
const ACK_TIMEOUT_MS = 8000;
const MAX_MESSAGE_CHARS = 5000;

export class ConversationView {
  constructor(app) {
    this.app = app;
    this.id = null;
    this.detail = null;
    this.pending = new Map(); // client_msg_id → {cid, sessionId, text, attachments, state, el, timer}
    this.typingState = {sent: false, at: 0, idle: null};
    this.el = {
      pane: $("conv"), empty: $("conv-empty"), name: $("conv-name"), status: $("conv-status"),
      assignee: $("conv-assignee"), waiting: $("conv-waiting"), handoff: $("conv-handoff"),
      suggest: $("composer-suggest"), scroller: $("messages"), older: $("older"),
      list: $("msg-list"), pendingList: $("pending-list"), typing: $("typing"), newBelow: $("new-below"),
      form: $("composer"), input: $("composer-input"), sendBtn: $("composer-send"), note: $("composer-note"),
      assign: $("act-assign"), takeOver: $("act-takeover"), transfer: $("act-transfer"),
      resolve: $("act-resolve"), reopen: $("act-reopen"),
      attach: $("composer-attach"), file: $("composer-file"), files: $("composer-files"), error: $("composer-error"),
      labels: $("conv-labels"), rating: $("conv-rating"), live: $("conv-live"),
    };
    this.media = null;
    this.lightbox = new Lightbox();
    this.uploads = new UploadTray({
      listEl: this.el.files, errorEl: this.el.error,
      maxBytes: () => this.app.maxUploadBytes(),
    });
    this.el.file.accept = ACCEPT;
    this.assist = new ComposerAssist(app, {
      onChange: () => {
        this._autosize();
        this._typingInput();
      },
      onMode: (mode) => {
        if (this.id) {
          if (mode === "note") this.app.noteModes.add(this.id); else this.app.noteModes.delete(this.id);
        }
        if (mode === "note") this._stopTyping();  // the visitor is not told about a note being written
        this.renderHeader();
      },
    });
    this._reset();
    this._markReadSoon = debounce(() => this.markRead(), 150);
    this._bind();
  }

  _reset() {
    this.detail = null;
    this.loading = false;
    this.early = [];
    this.seqs = [];          // sorted seqs shown
    this.nodes = new Map();  // seq → {msg, el}
    this.firstSeq = 0;
    this.lastSeq = 0;
    this.hasOlder = false;
    this.loadingOlder = false;
    this.gapRun = null;
    this.gapFrom = null;
    this._stickToBottom = true;  // follow new content (a thumbnail that loads) until the agent scrolls up
    clearTimeout(this.typingTimer);
    // The files of the conversation that is left: loads stop, object URLs are revoked.
    this.lightbox.close();
    if (this.media) this.media.dispose();
    this.media = null;
  }

  // ---- wiring ------------------------------------------------------------------

  _bind() {
    const el = this.el;
    el.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.sendFromComposer();
    });
    el.input.addEventListener("keydown", (ev) => {
      if (this.assist.onKeydown(ev)) return;
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && !ev.altKey && !ev.ctrlKey && !ev.metaKey) {
        ev.preventDefault();
        this.sendFromComposer();
      }
    });
    el.input.addEventListener("input", () => {
      this._autosize();
      this._typingInput();
    });
    el.input.addEventListener("blur", () => this._stopTyping());
    // Escape in the conversation (not taken by a list, a popover or a dialog): back to the list, on this row.
    el.pane.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape" || ev.defaultPrevented || ev.isComposing) return;
      if (!$("label-picker").hidden || ev.target.closest("dialog, .popover")) return;
      ev.preventDefault();
      this.app.backToList();
    });
    el.scroller.addEventListener("scroll", () => {
      this._stickToBottom = this._nearBottom();
      if (el.scroller.scrollTop < 80) this.loadOlder();
      if (this._stickToBottom) {
        el.newBelow.hidden = true;
        this._markReadSoon();
      }
    }, {passive: true});
    el.newBelow.addEventListener("click", () => this.scrollToBottom());
    el.older.addEventListener("click", () => this.loadOlder());
    el.assign.addEventListener("click", () => this.act("assign", {}));
    el.suggest.addEventListener("click", () => this.suggest());
    el.takeOver.addEventListener("click", () => this.act("transfer", {agent_id: this.app.me.id, note: ""}));
    el.resolve.addEventListener("click", () => this.act("resolve", {}));
    el.reopen.addEventListener("click", () => this.act("reopen", {}));
    el.transfer.addEventListener("click", () => this.app.openTransferDialog(this.session));
    // Files: the paperclip's picker, a drop on the conversation, an image pasted in the reply box.
    el.attach.addEventListener("click", () => { if (this._canAttach()) el.file.click(); });
    el.file.addEventListener("change", () => {
      const files = Array.from(el.file.files || []);
      el.file.value = "";  // the same file can be chosen again
      this.addFiles(files);
    });
    el.input.addEventListener("paste", (ev) => {
      const data = ev.clipboardData;
      const files = data ? Array.from(data.files || []) : [];
      if (!files.length || Array.from(data.types || []).includes("text/plain")) return;
      ev.preventDefault();
      this.addFiles(files);
    });
    const hasFiles = (ev) => ev.dataTransfer && Array.from(ev.dataTransfer.types || []).includes("Files");
    let depth = 0;
    el.pane.addEventListener("dragenter", (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      depth++;
      el.pane.classList.toggle("drop-target", this._canAttach());
    });
    el.pane.addEventListener("dragover", (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = this._canAttach() ? "copy" : "none";
    });
    el.pane.addEventListener("dragleave", (ev) => {
      if (!hasFiles(ev)) return;
      depth = Math.max(0, depth - 1);
      if (!depth) el.pane.classList.remove("drop-target");
    });
    el.pane.addEventListener("drop", (ev) => {
      if (!hasFiles(ev)) return;
      ev.preventDefault();
      depth = 0;
      el.pane.classList.remove("drop-target");
      this.addFiles(Array.from(ev.dataTransfer.files || []));
    });
    // A file dropped anywhere else is not opened in place of the dashboard.
    for (const type of ["dragover", "drop"]) {
      window.addEventListener(type, (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
    }
  }

  get session() {
    return this.id ? this.app.sessions.get(this.id) || (this.detail && this.detail.session) : null;
  }

  /** What the socket should resume: the last seq of the loaded conversation. */
  resume() {
    return this.id && !this.loading ? {[this.id]: this.lastSeq} : {};
  }

  // ---- open / close -----------------------------------------------------------

  async open(id) {
    if (this.id === id && !this.loading) return;
    this._stopTyping();
    this._reset();
    this.id = id;
    this.media = new MediaScope(id);
    this.loading = true;
    clear(this.el.list);
    this._renderPending();
    this.uploads.show(id);
    this.el.pane.hidden = false;
    this.el.empty.hidden = true;
    this.el.newBelow.hidden = true;
    this.el.input.value = this.app.drafts.get(id) || "";
    closeLabelPicker();
    this.assist.close();
    this.assist.setMode(this.app.noteModes.has(id) ? "note" : "reply", {focus: false});
    this._autosize();
    this._setOlder(t("list.loading"));
    this.renderHeader();
    this.renderTyping();
    this.app.renderCustomer(null, id);
    try {
      const [detail, page] = await Promise.all([
        api("GET", "/chat/sessions/" + encodeURIComponent(id)),
        api("GET", "/chat/sessions/" + encodeURIComponent(id) + "/messages" + query({before_seq: LATEST, limit: PAGE})),
      ]);
      if (this.id !== id) return;
      this.detail = detail;
      this.app.upsertSession(detail.session);
      if (typeof detail.visitor_online === "boolean") this.app.visitorOnline.set(id, detail.visitor_online);
      this._insertMany(page.messages);
      this.hasOlder = this.firstSeq > 1;
      this.loading = false;
      const early = this.early;
      this.early = [];
      for (const m of early) this._insert(m);
      if (page.last_seq > this.lastSeq) this._fillGap(this.lastSeq);
      this._setOlder();
      this.renderHeader();
      this.app.renderCustomer(detail, id);
      this._paintReceipts();
      this.scrollToBottom();
      this._markReadSoon();
    } catch (err) {
      if (this.id !== id) return;
      this.loading = false;
      if (err.status === 404) {
        this.app.toast(t("conv.gone"), "error");
        this.close();
      } else if (err.status !== 401) {
        this._setOlder(t("conv.load_failed", {error: err.message}));
      }
    }
  }

  close() {
    this._stopTyping();
    closeLabelPicker();
    this.assist.close();
    this.id = null;
    this._reset();
    clear(this.el.list);
    clear(this.el.pendingList);
    this.uploads.show(null);
    this.el.pane.hidden = true;
    this.el.empty.hidden = false;
  }

  /** After a reconnect or a resync: fetch what changed (the socket's resume also replays). */
  async refresh() {
    const id = this.id;
    if (!id || this.loading) return;
    try {
      const detail = await api("GET", "/chat/sessions/" + encodeURIComponent(id));
      if (this.id !== id) return;
      this.detail = detail;
      this.app.upsertSession(detail.session);
      if (typeof detail.visitor_online === "boolean") this.app.visitorOnline.set(id, detail.visitor_online);
      this.app.renderCustomer(detail, id);
      this.renderHeader();
      if (detail.session.last_seq > this.lastSeq) this._fillGap(this.lastSeq);
    } catch (err) { /* the next event or reconnect tries again */ }
  }

  // ---- messages -----------------------------------------------------------------

  /** A chat.message.new frame (live or replayed on resume). */
  onMessage(msg) {
    if (msg.client_msg_id && this.pending.has(msg.client_msg_id)
        && (msg.sender_type === "agent" || msg.sender_type === "note") && msg.sender_id === this.app.me.id) {
      this._sent(msg.client_msg_id);
    }
    if (msg.session_id !== this.id) return;
    if (this.loading) {
      this.early.push(msg);
      return;
    }
    if (msg.sender_type === "visitor") this.app.clearTyping(msg.session_id, "visitor");
    if (msg.sender_type === "agent") this.app.clearTyping(msg.session_id, "agent", msg.sender_id);
    if (msg.sender_type === "ai") this.app.clearTyping(msg.session_id, "ai");
    const before = this.lastSeq;
    const atBottom = this._nearBottom();
    if (!this._insert(msg)) return;
    if (msg.seq > before + 1) this._fillGap(before);
    const mine = (msg.sender_type === "agent" || msg.sender_type === "note") && msg.sender_id === this.app.me.id;
    if (!mine && msg.seq > before) this._announce(msg);
    if (atBottom || mine) this.scrollToBottom();
    else if (msg.seq > before) this.el.newBelow.hidden = false;
    this._paintReceipts();
    if (msg.seq > before && atBottom) this._markReadSoon();
  }

  /** A new message in the open conversation, said by screen readers (a polite live region, its text only). */
  _announce(msg) {
    const s = this.session;
    const who = msg.sender_type === "visitor" ? (s ? customerLabel(s) : t("typing.customer"))
      : msg.sender_name || (msg.sender_type === "ai" ? "AI" : msg.sender_type === "system" ? "" : t("typing.agent"));
    const body = (msg.body || "").slice(0, 300) || t("conv.announce_files");
    const text = msg.sender_type === "note" ? t("conv.announce_note", {name: who, text: body})
      : who ? t("conv.announce", {name: who, text: body}) : body;
    const live = this.el.live;
    clearTimeout(this._announceTimer);
    live.textContent = text;
    // Cleared after a while, so the same words can be said again.
    this._announceTimer = setTimeout(() => { live.textContent = ""; }, 5000);
  }

  /** The composer takes the focus (a conversation was opened); a resolved one: its Reopen button. */
  focusComposer() {
    const el = this.el;
    if (!el.input.disabled) el.input.focus({preventScroll: true});
    else if (!el.reopen.hidden) el.reopen.focus();
    else el.scroller.focus();
  }

  _insertMany(msgs) {
    for (const m of msgs) this._insert(m);
  }

  /** Put one message in its place by seq; false if it is already shown. */
  _insert(m) {
    if (this.nodes.has(m.seq)) return false;
    const el = this._renderMessage(m);
    const seqs = this.seqs;
    // Binary search for the first seq greater than m.seq.
    let lo = 0, hi = seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqs[mid] < m.seq) lo = mid + 1; else hi = mid;
    }
    if (lo === seqs.length) this.el.list.appendChild(el);
    else {
      const next = this.nodes.get(seqs[lo]);
      this.el.list.insertBefore(el, next.sep || next.el);
    }
    seqs.splice(lo, 0, m.seq);
    this.nodes.set(m.seq, {msg: m, el, sep: null});
    this.firstSeq = seqs[0];
    this.lastSeq = seqs[seqs.length - 1];
    this._regroup(lo);
    this._regroup(lo + 1);
    return true;
  }

  /** The message at `index` of the shown seqs: a day separator above it when its day differs from the
   *  one before; its name and avatar hidden when it continues the previous sender's group. */
  _regroup(index) {
    if (index < 0 || index >= this.seqs.length) return;
    const node = this.nodes.get(this.seqs[index]);
    const prev = index > 0 ? this.nodes.get(this.seqs[index - 1]) : null;
    const newDay = !prev || !sameDay(prev.msg, node.msg);
    if (newDay && !node.sep) {
      node.sep = daySeparator(node.msg.created_at);
      this.el.list.insertBefore(node.sep, node.el);
    } else if (!newDay && node.sep) {
      node.sep.remove();
      node.sep = null;
    }
    node.el.classList.toggle("cont", !newDay && continues(prev.msg, node.msg));
  }

  /** "Today" becomes "Yesterday" at midnight (the page's 30 s ticker calls this). */
  refreshDays() {
    for (const sep of this.el.list.querySelectorAll(".day-sep")) refreshDaySeparator(sep);
  }

  /** Fetch every message after `afterSeq` (a hole seen in the live stream, or a resync). */
  async _fillGap(afterSeq) {
    if (this.gapRun) {
      this.gapFrom = this.gapFrom === null ? afterSeq : Math.min(this.gapFrom, afterSeq);
      return;
    }
    const id = this.id;
    const run = this.gapRun = {};
    let from = afterSeq;
    try {
      while (from !== null && this.id === id) {
        const page = await api("GET", "/chat/sessions/" + encodeURIComponent(id) + "/messages"
                               + query({after_seq: from, limit: 500}));
        if (this.id !== id) return;
        const atBottom = this._nearBottom();
        this._insertMany(page.messages);
        if (atBottom) this.scrollToBottom();
        this._paintReceipts();
        if (page.messages.length === 500) {
          from = page.messages[page.messages.length - 1].seq;
        } else if (this.gapFrom !== null) {
          from = this.gapFrom;
          this.gapFrom = null;
        } else {
          from = null;
        }
      }
      this._markReadSoon();
    } catch (err) {
      /* a reconnect resumes from lastSeq */
    } finally {
      if (this.gapRun === run) {
        this.gapRun = null;
        this.gapFrom = null;
      }
    }
  }

  async loadOlder() {
    if (!this.id || this.loading || this.loadingOlder || !this.hasOlder) return;
    const id = this.id;
    this.loadingOlder = true;
    this._setOlder(t("conv.loading_older"));
    try {
      const page = await api("GET", "/chat/sessions/" + encodeURIComponent(id) + "/messages"
                             + query({before_seq: this.firstSeq, limit: PAGE}));
      if (this.id !== id) return;
      const scroller = this.el.scroller;
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      this._insertMany(page.messages);
      this.hasOlder = page.messages.length > 0 && this.firstSeq > 1;
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
      this._paintReceipts();
    } catch (err) {
      /* shown below */
    } finally {
      if (this.id === id) {
        this.loadingOlder = false;
        this._setOlder();
      }
    }
  }

  _setOlder(text) {
    const older = this.el.older;
    if (text) setText(older, text);
    else if (this.hasOlder) setText(older, t("conv.load_older"));
    else setText(older, this.seqs.length ? t("conv.beginning") : t("conv.no_messages"));
    older.classList.toggle("clickable", !text && this.hasOlder);
  }

  _renderMessage(m) {
    const files = m.sender_type === "system" ? null : this._renderFiles(m);
    return renderMessage(m, {meId: this.app.me.id, agents: this.app.agents, files});
  }

  _renderFiles(m) {
    if (!m.attachments || !m.attachments.length || !this.media) return null;
    const scope = this.media;
    return renderMessageFiles(m.attachments, {
      scope,
      lightbox: this.lightbox,
      // A thumbnail that appears grows the list: stay at the bottom if we were there.
      onImageLoaded: () => { if (scope === this.media && this._stickToBottom) this.scrollToBottom(); },
      onError: (text) => this.app.toast(text, "error"),
    });
  }

  /** Agent/AI messages up to the visitor's read mark show "Seen". */
  _paintReceipts() {
    const session = this.session;
    if (!session) return;
    const readSeq = session.visitor_read_seq || 0;
    for (const seq of this.seqs) {
      const node = this.nodes.get(seq);
      if (!node || (node.msg.sender_type !== "agent" && node.msg.sender_type !== "ai")) continue;
      const receipt = node.el.querySelector(".msg-receipt");
      if (receipt) paintReceipt(receipt, seq <= readSeq);
    }
  }

  onRead(data) {
    if (data.session_id !== this.id) return;
    if (data.reader === "visitor") this._paintReceipts();
  }

  // ---- typing ---------------------------------------------------------------------

  renderTyping() {
    const typing = this.id ? this.app.typingFor(this.id) : [];
    const el = this.el.typing;
    if (!typing.length) {
      el.hidden = true;
      setText(el, "");
      return;
    }
    const names = typing.map((x) => x.name || (x.sender === "visitor" ? t("typing.customer") : t("typing.agent")));
    setText(el, names.length > 1 ? t("typing.many", {names: names.join(", ")}) : t("typing.one", {name: names[0]}));
    el.hidden = false;
  }

  _typingInput() {
    if (!this.id) return;
    this.app.drafts.set(this.id, this.el.input.value);
    if (this.assist.noteMode) return;  // a note is written for the team: the visitor sees no "typing…"
    const text = this.el.input.value.trim();
    const st = this.typingState;
    clearTimeout(st.idle);
    if (!text) {
      this._stopTyping();
      return;
    }
    const now = Date.now();
    if (!st.sent || now - st.at > 2500) {
      if (this.app.socket.send("chat.typing", {session_id: this.id, is_typing: true})) {
        st.sent = true;
        st.at = now;
        st.session = this.id;
      }
    }
    st.idle = setTimeout(() => this._stopTyping(), 4000);
  }

  _stopTyping() {
    const st = this.typingState;
    clearTimeout(st.idle);
    if (st.sent && st.session) this.app.socket.send("chat.typing", {session_id: st.session, is_typing: false});
    st.sent = false;
  }

  // ---- sending ----------------------------------------------------------------------

  sendFromComposer() {
    if (!this.id) return;
    if (this.assist.noteMode) {
      this.sendNote();
      return;
    }
    const text = this.el.input.value.trim();
    const uploading = this.uploads.isUploading(this.id);
    const files = this.uploads.ready(this.id);
    if (!text && !files.length && !uploading) return;
    if (text.length > MAX_MESSAGE_CHARS) {
      this.app.toast(t("composer.too_long", {max: MAX_MESSAGE_CHARS}), "error");
      return;
    }
    if (this.session && this.session.status === "resolved") return;
    if (uploading) {
      this.uploads.setNotice(this.id, t("composer.wait_uploads"));
      return;
    }
    this.el.input.value = "";
    this.app.drafts.delete(this.id);
    this.uploads.take(this.id);
    this._autosize();
    this._stopTyping();
    const s = this.session;
    const p = {cid: newClientMsgId(), sessionId: this.id, text, attachments: files, state: "sending", el: null,
               timer: null, kind: "reply",
               // Replying to an open conversation nobody holds takes it: assigned first, then sent.
               assignFirst: !!s && s.status === "open" && !s.assigned_agent_id};
    this.pending.set(p.cid, p);
    this._renderPending();
    this.scrollToBottom();
    this._dispatch(p);
  }

  /** Note mode: a private note (POST …/notes; the visitor never gets it). */
  sendNote() {
    const text = this.el.input.value.trim();
    if (!text) return;
    if (text.length > MAX_MESSAGE_CHARS) {
      this.app.toast(t("composer.note_too_long", {max: MAX_MESSAGE_CHARS}), "error");
      return;
    }
    this.assist.close();
    this.el.input.value = "";
    this.app.drafts.delete(this.id);
    this._autosize();
    const p = {cid: newClientMsgId(), sessionId: this.id, text, attachments: [], state: "sending", el: null,
               timer: null, kind: "note"};
    this.pending.set(p.cid, p);
    this._renderPending();
    this.scrollToBottom();
    this._dispatch(p);
  }

  async _sendNoteRest(p) {
    this._setPendingState(p, "sending");
    try {
      const res = await api("POST", "/chat/sessions/" + encodeURIComponent(p.sessionId) + "/notes",
                            {body: p.text, client_msg_id: p.cid});
      this._confirm(p.cid, res.message);
    } catch (err) {
      if (!this.pending.has(p.cid)) return;
      if (err.status === 0 || err.status >= 500) this._setPendingState(p, "queued");
      else if (err.status !== 401) this._setPendingState(p, "failed", err.message);
    }
  }

  _dispatch(p) {
    clearTimeout(p.timer);
    if (p.kind === "note") {
      this._sendNoteRest(p);
      return;
    }
    if (p.assignFirst) {
      this._assignThenDispatch(p);
      return;
    }
    const frame = {session_id: p.sessionId, message: p.text, client_msg_id: p.cid};
    if (p.attachments.length) frame.attachment_ids = p.attachments.map((a) => a.id);
    if (this.app.socket.send("chat.message.send", frame)) {
      this._setPendingState(p, "sending");
      // A socket that swallowed the frame: fall back to REST (same client_msg_id: never twice).
      p.timer = setTimeout(() => { if (this.pending.has(p.cid)) this._sendRest(p); }, ACK_TIMEOUT_MS);
    } else {
      this._sendRest(p);
    }
  }

  async _sendRest(p) {
    this._setPendingState(p, "sending");
    try {
      const body = {session_id: p.sessionId, message: p.text, client_msg_id: p.cid};
      if (p.attachments.length) body.attachment_ids = p.attachments.map((a) => a.id);
      const res = await api("POST", "/chat/messages", body);
      this._confirm(p.cid, res.message);
    } catch (err) {
      if (!this.pending.has(p.cid)) return;
      if (err.status === 0 || err.status >= 500) this._setPendingState(p, "queued");
      else if (err.status !== 401) this._setPendingState(p, "failed", err.message);
    }
  }

  onAck(data) {
    const p = this.pending.get(data.client_msg_id);
    if (!p) return;
    this._confirm(p.cid, {
      id: data.id, seq: data.seq, session_id: data.session_id || p.sessionId, sender_type: "agent",
      sender_id: this.app.me.id, sender_name: this.app.me.name, body: p.text, client_msg_id: p.cid,
      created_at: data.created_at || new Date().toISOString(), attachments: p.attachments,
    });
  }

  /** An "error" frame: true when it was about one of our sends. */
  onError(data) {
    const p = data.ref ? this.pending.get(data.ref) : null;
    if (!p) return false;
    clearTimeout(p.timer);
    this._setPendingState(p, "failed", data.message);
    return true;
  }

  _confirm(cid, msg) {
    this._sent(cid);
    if (msg.session_id === this.id && !this.loading) {
      const before = this.lastSeq;
      if (this._insert(msg)) {
        if (msg.seq > before + 1) this._fillGap(before);
        this.scrollToBottom();
        this._paintReceipts();
      }
    }
  }

  /** One of our sends is stored: its pending copy goes (and, the first time, what the server did with it). */
  _sent(cid) {
    const p = this.pending.get(cid);
    if (!p) return;
    this._dropPending(cid);
  }

  /** The reply to an open conversation nobody holds: assign it to me (and say so), then send. A 409 (a
   *  colleague took it meanwhile, or it was resolved) does not hold the reply back: the send decides. The
   *  send API itself assigns nothing, so other clients and the AI keep its meaning. */
  async _assignThenDispatch(p) {
    p.assignFirst = false;
    this._setPendingState(p, "sending");
    try {
      const res = await api("POST", "/chat/sessions/" + encodeURIComponent(p.sessionId) + "/assign", {});
      this.app.upsertSession(res.session);
      this.app.refreshAgentsSoon();
      if (this.app.me && res.session.assigned_agent_id === this.app.me.id) {
        this.app.toast(t("conv.now_assigned"));
      }
    } catch (err) {
      if (!this.pending.has(p.cid) || err.status === 401) return;
      if (err.status === 0 || err.status >= 500) {
        p.assignFirst = true;  // offline: assign, then send, when the connection is back
        this._setPendingState(p, "queued");
        return;
      }
    }
    if (this.pending.has(p.cid)) this._dispatch(p);
  }

  _dropPending(cid) {
    const p = this.pending.get(cid);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(cid);
    if (p.el) p.el.remove();
  }

  /** Sign-out: unsent messages (and files) belong to the agent who wrote them; never send them as
   *  someone else. */
  dropAllPending() {
    for (const cid of [...this.pending.keys()]) this._dropPending(cid);
    this.uploads.clearAll();
  }

  // ---- files ---------------------------------------------------------------------------

  _canAttach() {
    const s = this.session;
    return !!this.id && !(s && s.status === "resolved");
  }

  /** Files chosen, dropped or pasted: they upload now, to this conversation, and wait as chips. */
  addFiles(files) {
    if (!files.length || !this._canAttach()) return;
    this.uploads.add(this.id, files);
  }

  /** Sends that did not get through go again once the socket is back (idempotent). */
  retryPending() {
    for (const p of this.pending.values()) {
      if (p.state === "sending" || p.state === "queued") this._dispatch(p);
    }
  }

  _renderPending() {
    clear(this.el.pendingList);
    for (const p of this.pending.values()) {
      if (p.sessionId !== this.id) continue;
      p.el = null;
      this._setPendingState(p, p.state, p.error);
      this.el.pendingList.appendChild(p.el);
    }
  }

  _setPendingState(p, state, error) {
    p.state = state;
    p.error = error;
    if (p.sessionId !== this.id) return;
    const label = state === "sending" ? t("pending.sending") : state === "queued" ? t("pending.queued")
      : t("pending.failed", {error: error || t("pending.error")});
    if (!p.el) {
      p.el = renderPendingMessage(p, p.attachments.length ? renderPendingFiles(p.attachments) : null,
                                  () => this._dispatch(p));
    }
    p.el.classList.toggle("failed", state === "failed");
    setText(p.el.querySelector(".pending-state"), label);
    p.el.querySelector(".retry").hidden = state !== "failed";
  }

  // ---- read marks ------------------------------------------------------------------

  markRead() {
    const id = this.id;
    const session = this.session;
    if (!id || this.loading || !session || document.visibilityState !== "visible") return;
    if (this.app.conversationHidden()) return; // the Analytics view or (a phone) the list covers it
    this.app.notifier.seen(id);
    const seq = this.lastSeq;
    if (seq <= (session.agent_read_seq || 0) && !session.unread) return;
    if (!this.app.socket.send("chat.message.read", {session_id: id, seq})) {
      api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/read", {seq}).catch(() => {});
    }
    this.app.patchSession(id, {agent_read_seq: Math.max(seq, session.agent_read_seq || 0), unread: 0});
  }

  // ---- header and actions ------------------------------------------------------------

  renderHeader() {
    const s = this.session;
    const el = this.el;
    if (!s) {
      setText(el.name, "…");
      for (const b of [el.assign, el.takeOver, el.transfer, el.resolve, el.reopen]) b.hidden = true;
      renderConvLabels(this.app, null);
      el.rating.hidden = true;
      return;
    }
    const me = this.app.me;
    setText(el.name, customerLabel(s));
    setText(el.status, {open: t("conv.status.open"), assigned: t("conv.status.assigned"), resolved: t("row.resolved")}[s.status]
      || s.status);
    el.status.className = "pill status-" + s.status;
    // "Assigned to you" is its own sentence: the pronoun's form differs by language ("Dir zugewiesen").
    setText(el.assignee, !s.assigned_agent_id ? t("row.unassigned")
      : s.assigned_agent_id === me.id ? t("conv.assigned_to_you")
      : t("conv.assigned_to", {name: this.app.agentName(s.assigned_agent_id)}));
    el.assignee.dataset.agentId = s.assigned_agent_id || "";
    const resolved = s.status === "resolved";
    const mineOrFree = !s.assigned_agent_id || s.assigned_agent_id === me.id;
    el.assign.hidden = resolved || !!s.assigned_agent_id;
    el.takeOver.hidden = resolved || !s.assigned_agent_id || s.assigned_agent_id === me.id || me.role !== "admin";
    el.transfer.hidden = resolved || !(mineOrFree || me.role === "admin");
    el.transfer.textContent = s.assigned_agent_id ? t("conv.transfer") : t("conv.assign_to");
    el.resolve.hidden = resolved;
    el.reopen.hidden = !resolved;
    // A note can be written on a resolved conversation too; a reply cannot.
    const note = this.assist.noteMode;
    const narrow = window.matchMedia("(max-width: 760px)").matches;
    el.input.disabled = resolved && !note;
    el.sendBtn.disabled = resolved && !note;
    setText(el.sendBtn, note ? t("composer.add_note") : t("send"));
    el.attach.disabled = resolved;
    el.attach.hidden = note;
    el.suggest.hidden = note || resolved || !this.app.aiAssist();
    el.note.hidden = !resolved || note;
    el.input.setAttribute("aria-label", note ? t("composer.private_note") : t("composer.reply_to", {name: customerLabel(s)}));
    el.input.placeholder = note ? (narrow ? t("composer.note_placeholder_short") : t("composer.note_placeholder"))
      : resolved ? t("composer.resolved")
      : narrow ? t("composer.reply_placeholder_short")
      : t("composer.reply_placeholder", {name: customerLabel(s)});
    renderConvLabels(this.app, s);
    const rating = s.rating && s.rating.score ? s.rating : null;
    el.rating.hidden = !rating;
    clear(el.rating);
    if (rating) el.rating.appendChild(ratingChip(rating));
    this.renderWaiting();
  }

  renderWaiting() {
    const s = this.session;
    this.el.handoff.hidden = !s || !s.handoff || !!s.assigned_agent_id || s.status === "resolved";
    if (!s || !s.waiting_since || s.status === "resolved") {
      this.el.waiting.hidden = true;
      return;
    }
    this.el.waiting.hidden = false;
    setText(this.el.waiting, t("conv.waiting", {time: this.app.fmtWaiting(s.waiting_since)}));
  }

  /** Agent assist: the AI drafts a reply into the composer; nothing is sent until the agent sends it. */
  async suggest() {
    const id = this.id;
    const btn = this.el.suggest;
    if (!id || btn.disabled) return;
    btn.disabled = true;
    setText(btn, t("composer.suggesting"));
    try {
      const res = await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/suggest", {});
      if (this.id !== id) return;
      this.el.input.value = res.suggestion;  // a value, never markup
      this._autosize();
      this.el.input.focus();
    } catch (err) {
      if (err.status !== 401) this.app.toast(err.message, "error");
    } finally {
      btn.disabled = false;
      setText(btn, t("composer.suggest"));
    }
  }

  onSessionChanged(session) {
    if (session.id !== this.id) return;
    if (this.detail) {
      this.detail.session = Object.assign({}, this.detail.session, session);
      this.app.updateCustomer(this.detail.session);
    }
    this.renderHeader();
    this._paintReceipts();
  }

  async act(action, body) {
    const id = this.id;
    if (!id) return;
    const buttons = [this.el.assign, this.el.takeOver, this.el.transfer, this.el.resolve, this.el.reopen];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const res = await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/" + action, body);
      this.app.upsertSession(res.session);
      this.app.refreshAgentsSoon();
    } catch (err) {
      if (err.status !== 401) this.app.toast(err.message, "error");
      this.refresh();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // ---- scrolling ----------------------------------------------------------------------

  _nearBottom() {
    const s = this.el.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    const s = this.el.scroller;
    s.scrollTop = s.scrollHeight;
    this._stickToBottom = true;
    this.el.newBelow.hidden = true;
  }

  _autosize() {
    const input = this.el.input;
    input.style.height = "auto";
    input.style.height = Math.min(input.scrollHeight, 160) + "px";
  }
}
