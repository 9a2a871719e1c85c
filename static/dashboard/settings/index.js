// The Settings view: a full-page view in place of the conversation panes (like Analytics), with a page
// per address (/?settings=profile, /?settings=team, …: pushState on the way in, popstate back and forward,
// reload-safe), a side navigation on a desktop and a page picker on a phone. Pages come from pages.js and are
// loaded on demand; a page that fails to load (or to render) shows an error with "Try again". Agents get only
// the pages that are not adminOnly: any other address opens their Profile. A page with unsaved changes
// (ctx.setDirty(true)) asks before it is left. Escape or the back button returns to the conversations.

import {api, ApiError} from "../api.js";
import {$, clear, h, setText} from "../dom.js";
import {t} from "../i18n.js";
import {showSection} from "../sections.js";
import {toast} from "../toast.js";
import {PAGES} from "./pages.js";

const PARAM = "settings";
const PAGE_ID_RE = /^[a-z0-9-]{1,40}$/;

/** The page the address asks for (`?settings=`), or null. */
export function settingsFromUrl() {
  const id = new URLSearchParams(location.search).get(PARAM);
  if (id === null) return null;
  return PAGE_ID_RE.test(id) ? id : "";
}

const here = () => location.pathname + location.search + location.hash;

function backIcon() {
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  for (const [k, v] of Object.entries({viewBox: "0 0 24 24", width: "18", height: "18", "aria-hidden": "true",
                                       class: "icon"})) svg.setAttribute(k, v);
  const path = document.createElementNS(NS, "path");
  path.setAttribute("d", "M19 12H5M12 19l-7-7 7-7");
  svg.appendChild(path);
  return svg;
}

export class SettingsView {
  constructor(app) {
    this.app = app;
    this.root = $("settings");
    this.visible = false;
    this.current = null;  // {page, handle}
    this.gen = 0;
    this.dirty = false;
    this.popping = false;
    this.lastPage = null;
    this._build();
    this._bind();
  }

  // ---- the frame ------------------------------------------------------------------------------

  _build() {
    this.el = {};
    this.el.back = h("button", {id: "settings-back", class: "ghost", type: "button",
                                title: t("settings.back.title")}, backIcon(), h("span", null, t("settings.back")));
    this.el.heading = h("h2", {id: "settings-title", class: "st-title"}, t("settings.title"));
    this.el.navList = h("div", {class: "st-nav-groups"});
    this.el.nav = h("nav", {class: "st-nav", "aria-label": t("settings.nav")}, this.el.navList);
    this.el.picker = h("select", {id: "settings-picker"});
    this.el.pickerWrap = h("label", {class: "st-picker"}, h("span", {class: "st-picker-label"}, t("settings.picker")), this.el.picker);
    this.el.pageTitle = h("h3", {id: "settings-page-title", class: "st-page-title", tabindex: "-1"});
    this.el.status = h("p", {id: "settings-status", class: "st-status", role: "status"});
    this.el.errorText = h("span", {id: "settings-error-text"});
    this.el.retry = h("button", {id: "settings-retry", type: "button"}, t("retry"));
    this.el.error = h("div", {id: "settings-error", class: "st-error", role: "alert", hidden: true},
                      this.el.errorText, this.el.retry);
    this.el.page = h("div", {id: "settings-page", class: "st-page"});
    this.el.main = h("div", {class: "st-main"}, this.el.pageTitle, this.el.status, this.el.error, this.el.page);
    clear(this.root).append(
      h("div", {class: "st-inner"},
        h("div", {class: "st-head"}, this.el.back, this.el.heading, this.el.pickerWrap),
        h("div", {class: "st-body"}, this.el.nav, this.el.main)));
  }

  _bind() {
    this.el.back.addEventListener("click", () => this.close({focus: true}));
    this.el.retry.addEventListener("click", () => {
      if (this.current) this._load(this.current.page, {focus: false});
    });
    this.el.picker.addEventListener("change", () => this.open(this.el.picker.value, {focus: false}));
    this.el.navList.addEventListener("click", (ev) => {
      const link = ev.target.closest("a[data-page]");
      if (!link || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      this.open(link.dataset.page);
    });
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape" || !this.visible || ev.defaultPrevented) return;
      // A dialog or a menu of the top bar takes its Escape first.
      const shown = (id) => !!$(id) && !$(id).hidden;
      if (document.querySelector("dialog[open], .pop-panel:not([hidden])") || shown("top-menu") || shown("push-menu")) return;
      ev.preventDefault();
      this.close({focus: true});
    });
    window.addEventListener("popstate", () => this._onPopState());
    window.addEventListener("beforeunload", (ev) => {
      if (this.visible && this.dirty) {
        ev.preventDefault();
        ev.returnValue = "";
      }
    });
  }

  // ---- which pages --------------------------------------------------------------------------------

  get isAdmin() {
    return !!this.app.me && this.app.me.role === "admin";
  }

  /** The pages this agent may open (admins: all; agents: those that are not adminOnly). */
  pages() {
    const admin = this.isAdmin;
    return PAGES.filter((p) => admin || !p.adminOnly);
  }

  /** The page for an id: itself when allowed, else the first one (Profile). */
  resolve(id) {
    const pages = this.pages();
    return pages.find((p) => p.id === id) || pages[0];
  }

  // ---- opening and leaving ----------------------------------------------------------------------

  /** Open a page. `history`: "push" (a new entry), "replace" (this entry: a reload, a corrected address) or
   *  "none" (the address is already right: back / forward). */
  open(id, {history: mode = "push", focus = true} = {}) {
    if (!this.app.signedIn) return;
    const page = this.resolve(id || this.lastPage || "profile");
    if (this.visible && this.current && this.current.page.id === page.id) {
      this._syncUrl(page.id, mode === "none" ? "replace" : mode);
      return;
    }
    if (this.visible && !this.confirmLeave()) {
      if (this.popping) history.pushState(null, "", this._url(this.current.page.id)); // stay: the address too
      this._renderNav();
      return;
    }
    if (!this.visible) {
      if (showSection(this.app, "settings") === false) return;
      this.visible = true;
      this.root.hidden = false;
    }
    this.lastPage = page.id;
    this._syncUrl(page.id, mode === "none" ? "replace" : mode);
    this._load(page, {focus});
  }

  /** Back to the conversations (Escape, the back button, the header's Settings button). */
  close({focus = false} = {}) {
    if (!this.visible) return;
    if (showSection(this.app, "conversations") === false) return;
    if (focus) $("settings-btn").focus();
  }

  toggle() {
    if (this.visible) this.close({focus: true}); else this.open(this.lastPage || "profile");
  }

  /** Leaving the page (another page, the conversations, Analytics) with unsaved changes: ask. */
  confirmLeave() {
    if (!this.dirty || !this.app.signedIn) return true;
    if (!window.confirm(t("settings.leave"))) return false;
    this.dirty = false;
    return true;
  }

  /** Called by showSection when another section takes the main area (and on sign-out). */
  hide() {
    if (!this.visible) return;
    this.visible = false;
    this.root.hidden = true;
    this.gen++;
    this._destroyCurrent();
    clear(this.el.page);
    this.current = null;
    this.dirty = false;
    if (!this.popping && settingsFromUrl() !== null) {
      const url = this._url(null);
      if (this.app.signedIn) history.pushState(null, "", url); else history.replaceState(history.state, "", url);
    }
  }

  /** Right after sign-in: the page the address asks for (a reload of /?settings=team), if any. */
  restoreFromUrl() {
    const id = settingsFromUrl();
    if (id !== null) this.open(id, {history: "replace", focus: false});
  }

  /** The agent's role changed (or they signed in again): the navigation, and no admin page for an agent. */
  refresh() {
    if (!this.visible || !this.current) return;
    const page = this.resolve(this.current.page.id);
    if (page.id !== this.current.page.id) {
      this.dirty = false;
      this.open(page.id, {history: "replace"});
    } else {
      this._renderNav();
    }
  }

  /** Signed out: forget the last page (the next agent starts on their Profile). */
  reset() {
    this.lastPage = null;
  }

  _onPopState() {
    if (!this.app.signedIn) return;
    const id = settingsFromUrl();
    this.popping = true;
    try {
      if (id !== null) {
        this.open(id, {history: "none"});
      } else if (this.visible) {
        const page = this.current && this.current.page;
        if (showSection(this.app, "conversations") === false && page) {
          history.pushState(null, "", this._url(page.id)); // the agent stayed: so does the address
        }
      }
    } finally {
      this.popping = false;
    }
  }

  _url(pageId) {
    const url = new URL(location.href);
    url.searchParams.delete("session");
    if (pageId) url.searchParams.set(PARAM, pageId); else url.searchParams.delete(PARAM);
    return url.pathname + url.search + url.hash;
  }

  _syncUrl(pageId, mode) {
    const url = this._url(pageId);
    if (url === here()) return;
    if (mode === "push") history.pushState(null, "", url);
    else history.replaceState(history.state, "", url);
  }

  // ---- the navigation -----------------------------------------------------------------------------

  _renderNav() {
    const pages = this.pages();
    const currentId = this.current ? this.current.page.id : null;
    const link = (p) => h("li", null, h("a", {href: "/?" + PARAM + "=" + p.id, class: "st-nav-link",
                                            dataset: {page: p.id},
                                            "aria-current": p.id === currentId ? "page" : null}, p.title));
    const own = pages.filter((p) => !p.adminOnly);
    const workspace = pages.filter((p) => p.adminOnly);
    const groups = [h("div", {class: "st-nav-group"}, h("p", {class: "st-nav-heading", id: "st-nav-you"}, t("settings.group.you")),
                      h("ul", {"aria-labelledby": "st-nav-you"}, own.map(link)))];
    if (workspace.length) {
      groups.push(h("div", {class: "st-nav-group"}, h("p", {class: "st-nav-heading", id: "st-nav-ws"}, t("settings.group.workspace")),
                    h("ul", {"aria-labelledby": "st-nav-ws"}, workspace.map(link))));
    }
    clear(this.el.navList).append(...groups);
    const picker = clear(this.el.picker);
    if (workspace.length) {
      picker.append(h("optgroup", {label: t("settings.group.you")}, own.map((p) => h("option", {value: p.id}, p.title))),
                    h("optgroup", {label: t("settings.group.workspace")}, workspace.map((p) => h("option", {value: p.id}, p.title))));
    } else {
      picker.append(...own.map((p) => h("option", {value: p.id}, p.title)));
    }
    if (currentId) picker.value = currentId;
    this.el.pickerWrap.hidden = pages.length < 2;
    this.root.dataset.pages = String(pages.length);
  }

  // ---- a page --------------------------------------------------------------------------------------

  _destroyCurrent() {
    const handle = this.current && this.current.handle;
    if (handle && typeof handle.destroy === "function") {
      try { handle.destroy(); } catch (err) { console.error(err); }
    }
    if (this.current) this.current.handle = null;
  }

  _state(state, message = "") {
    this.root.dataset.state = state;
    setText(this.el.status, state === "loading" ? t("loading") : "");
    this.el.error.hidden = state !== "error";
    setText(this.el.errorText, state === "error" ? message : "");
    this.el.page.hidden = state !== "ready";
  }

  async _load(page, {focus = false} = {}) {
    const gen = ++this.gen;
    this._destroyCurrent();
    this.current = {page, handle: null};
    this.dirty = false;
    this._renderNav();
    setText(this.el.pageTitle, page.title);
    document.title = t("settings.doc_title", {page: page.title});
    const holder = clear(this.el.page);
    this._state("loading");
    if (focus) this.el.pageTitle.focus({preventScroll: true});
    let mod;
    try {
      mod = await page.load();
      if (!mod || typeof mod.render !== "function") throw new Error("not a settings page");
    } catch (err) {
      if (gen !== this.gen) return;
      console.error("settings page " + page.id + " did not load", err);
      this._state("error", t("settings.load_error", {page: page.title}));
      return;
    }
    if (gen !== this.gen) return;
    const root = h("div", {class: "st-page-body", dataset: {page: page.id}});
    holder.append(root);
    const ctx = {
      app: this.app, root, api, toast, h,
      setDirty: (value) => {
        if (gen === this.gen) this.dirty = !!value;
      },
    };
    try {
      const handle = await mod.render(ctx);
      if (gen !== this.gen) {
        if (handle && typeof handle.destroy === "function") handle.destroy();
        return;
      }
      this.current.handle = handle || null;
      this._state("ready");
    } catch (err) {
      if (gen !== this.gen) return;
      if (!(err instanceof ApiError)) console.error("settings page " + page.id + " failed", err);
      const message = err instanceof ApiError
        ? (err.status === 403 ? t("settings.admins_only") : err.message)
        : t("settings.render_error", {page: page.title});
      clear(holder);
      this._state("error", message);
    }
  }
}

/** The header's Settings button and the admins' menu items that open a page of it. */
export function bindSettings(app) {
  $("settings-btn").addEventListener("click", () => app.settings.toggle());
}
