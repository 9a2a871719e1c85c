// The composer's helpers: the Reply / Note switch, and the list that opens while typing:
//   "/" at the start or after a space: the canned responses (filtered by what follows), replaced by the
//       chosen one's text with its placeholders filled in;
//   "@" in Note mode: the tenant's agents (filtered as you type), inserting "@Full Name ".
// Arrows move, Enter or Tab choose, Escape closes; a click chooses. The textarea keeps the focus (the
// list is its aria-activedescendant), so typing goes on while the list is open.

import {cannedMatches, fillPlaceholders, loadCanned, openCannedManager} from "./canned.js";
import {$, clear, h, initials} from "./dom.js";
import {avatarColor} from "./colors.js";
import {t} from "./i18n.js";

const MENTION_MAX = 50;

export class ComposerAssist {
  /** hooks: {onChange(): the text changed (autosize, draft), onMode(mode): the mode changed} */
  constructor(app, hooks) {
    this.app = app;
    this.hooks = hooks;
    this.input = $("composer-input");
    this.popup = $("composer-popup");
    this.form = $("composer");
    this.mode = "reply";
    this.state = null;       // {type: "canned"|"mention", start, end, query, items, active}
    this.dismissed = null;   // "type:start" the agent closed with Escape (stays closed until it changes)
    this._bind();
  }

  _bind() {
    for (const radio of document.querySelectorAll('input[name="compose-mode"]')) {
      radio.addEventListener("change", () => { if (radio.checked) this.setMode(radio.value, {focus: false}); });
    }
    this.input.addEventListener("input", () => this.update());
    this.input.addEventListener("click", () => this.update());
    this.input.addEventListener("keyup", (ev) => {
      if (ev.key === "ArrowLeft" || ev.key === "ArrowRight" || ev.key === "Home" || ev.key === "End") this.update();
    });
    this.input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.input) this.close();
    }, 150));
    // The list never takes the focus: a press on it keeps it in the textarea.
    this.popup.addEventListener("mousedown", (ev) => ev.preventDefault());
  }

  // ---- Reply / Note ------------------------------------------------------------------------

  get noteMode() {
    return this.mode === "note";
  }

  setMode(mode, {focus = true} = {}) {
    mode = mode === "note" ? "note" : "reply";
    for (const radio of document.querySelectorAll('input[name="compose-mode"]')) radio.checked = radio.value === mode;
    if (mode === this.mode) return;
    this.mode = mode;
    this.form.classList.toggle("note-mode", mode === "note");
    $("composer-mode-hint").hidden = mode !== "note";
    this.close();
    this.hooks.onMode(mode);
    if (focus && !this.input.disabled) this.input.focus();
  }

  // ---- the list --------------------------------------------------------------------------------

  /** What is being typed at the caret: a "/query" or (Note mode) an "@query", or null. */
  _trigger() {
    const input = this.input;
    if (input.disabled || input.selectionStart !== input.selectionEnd) return null;
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    let m = before.match(/(^|\s)\/([^\s/]*)$/);
    if (m) return {type: "canned", start: caret - m[2].length - 1, end: caret, query: m[2]};
    if (this.noteMode) {
      m = before.match(/(^|\s)@([^@\n]*)$/);
      if (m && m[2].length <= MENTION_MAX) return {type: "mention", start: caret - m[2].length - 1, end: caret,
                                                    query: m[2]};
    }
    return null;
  }

  update() {
    const trig = this._trigger();
    if (!trig || this.dismissed === trig.type + ":" + trig.start) {
      if (!trig) this.dismissed = null;
      this.close();
      return;
    }
    if (trig.type === "canned") this._openCanned(trig);
    else this._openMention(trig);
  }

  _openCanned(trig) {
    const app = this.app;
    if (app.canned === null) {
      // Not loaded yet, or the sign-in's load failed: asked once more (per keystroke at most), then the
      // list shows what came.
      if (!app.cannedLoad) {
        loadCanned(app).then(() => {
          if (document.activeElement !== this.input || !this.state || this.state.type !== "canned") return;
          if (app.canned !== null) this.update();
          else this._show(this.state, [], t("assist.canned.error"));
        });
      }
      this._show(trig, [], t("assist.canned.loading"));
      return;
    }
    const items = cannedMatches(app.canned, trig.query).map((c) => ({kind: "canned", value: c}));
    const admin = app.me && app.me.role === "admin";
    let empty = "";
    if (!items.length) {
      empty = app.canned.length ? t("assist.canned.no_match", {query: "/" + trig.query})
        : t(admin ? "assist.canned.none.admin" : "assist.canned.none");
    }
    if (admin) items.push({kind: "manage"});
    this._show(trig, items, empty);
  }

  _openMention(trig) {
    const app = this.app;
    const q = trig.query.toLowerCase();
    const agents = [...app.agents.values()]
      .filter((a) => a.active !== false && (!app.me || a.id !== app.me.id))
      .filter((a) => {
        const name = a.name.toLowerCase();
        return !q || name.startsWith(q) || name.split(/\s+/).some((w) => w.startsWith(q));
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    if (!agents.length) {
      this.close();
      return;
    }
    this._show(trig, agents.map((a) => ({kind: "agent", value: a})), "");
  }

  _show(trig, items, emptyText) {
    const prev = this.state;
    const sameList = prev && prev.type === trig.type && prev.query === trig.query && prev.items.length === items.length;
    const firstPick = items.findIndex((i) => i.kind !== "manage");
    this.state = Object.assign(trig, {items, active: sameList ? prev.active : firstPick});
    const popup = this.popup;
    clear(popup);
    popup.setAttribute("aria-label", t(trig.type === "canned" ? "assist.canned.title" : "assist.mention.title"));
    popup.dataset.type = trig.type;
    if (emptyText) popup.appendChild(h("div", {class: "pop-empty", text: emptyText}));
    items.forEach((item, i) => popup.appendChild(this._renderItem(item, i)));
    popup.hidden = false;
    this._paintActive();
  }

  _renderItem(item, i) {
    let content;
    if (item.kind === "canned") {
      const c = item.value;
      content = [h("span", {class: "pop-line"}, h("span", {class: "pop-shortcut", text: "/" + c.shortcut}),
                   h("span", {class: "pop-title", text: c.title})),
                 h("span", {class: "pop-preview", text: c.body})];
    } else if (item.kind === "agent") {
      const a = item.value;
      const av = h("span", {class: "pop-avatar", "aria-hidden": "true", text: initials(a.name)});
      av.style.backgroundColor = avatarColor(a.name);
      content = [h("span", {class: "pop-line"}, av, h("span", {class: "pop-title", text: a.name}))];
    } else {
      content = [h("span", {class: "pop-line pop-manage", text: t("assist.canned.manage")})];
    }
    return h("div", {class: "pop-item" + (item.kind === "manage" ? " manage" : ""), role: "option",
                     id: "composer-popup-" + i, "aria-selected": "false", dataset: {index: i},
                     on: {click: () => this.pick(i)}}, content);
  }

  _paintActive() {
    const st = this.state;
    for (const el of this.popup.querySelectorAll(".pop-item")) {
      const on = Number(el.dataset.index) === st.active;
      el.setAttribute("aria-selected", on ? "true" : "false");
      el.classList.toggle("active", on);
      if (on) el.scrollIntoView({block: "nearest"});
    }
    if (st.active >= 0) this.input.setAttribute("aria-activedescendant", "composer-popup-" + st.active);
    else this.input.removeAttribute("aria-activedescendant");
  }

  get isOpen() {
    return !this.popup.hidden && !!this.state;
  }

  close() {
    this.state = null;
    if (!this.popup.hidden) {
      this.popup.hidden = true;
      clear(this.popup);
    }
    this.input.removeAttribute("aria-activedescendant");
  }

  /** The textarea's keydown, before the composer's own (Enter sends): true when the list used it. */
  onKeydown(ev) {
    if (!this.isOpen || ev.isComposing) return false;
    const st = this.state;
    const n = st.items.length;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      if (!n) return false;
      ev.preventDefault();
      const delta = ev.key === "ArrowDown" ? 1 : -1;
      st.active = st.active < 0 ? (delta > 0 ? 0 : n - 1) : (st.active + delta + n) % n;
      this._paintActive();
      return true;
    }
    if ((ev.key === "Enter" || ev.key === "Tab") && !ev.shiftKey && st.active >= 0) {
      ev.preventDefault();
      this.pick(st.active);
      return true;
    }
    if (ev.key === "Escape") {
      ev.preventDefault();
      ev.stopPropagation();
      this.dismissed = st.type + ":" + st.start;
      this.close();
      return true;
    }
    return false;
  }

  pick(index) {
    const st = this.state;
    const item = st && st.items[index];
    if (!item) return;
    if (item.kind === "manage") {
      this.close();
      openCannedManager(this.app, {returnFocus: this.input});
      return;
    }
    let text;
    if (item.kind === "canned") {
      const s = this.app.conv.session;
      text = fillPlaceholders(item.value.body, {
        "customer.name": s ? s.customer_name : "", "customer.email": s ? s.customer_email : "",
        "agent.name": this.app.me ? this.app.me.name : "",
      });
    } else {
      text = "@" + item.value.name + " ";
    }
    const input = this.input;
    const value = input.value;
    // The "/query" or "@query" typed so far is replaced (what was after the caret stays).
    input.value = value.slice(0, st.start) + text + value.slice(st.end);
    const caret = st.start + text.length;
    input.setSelectionRange(caret, caret);
    this.close();
    this.dismissed = null;
    input.focus();
    this.hooks.onChange();
  }
}
