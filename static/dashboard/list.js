// A virtual list: only the rows in view (plus a margin) exist in the DOM, so ten thousand
// conversations scroll as smoothly as ten. Rows have a fixed height; each is rebuilt only
// when its item's version changes or it scrolls into view.
// For the keyboard and screen readers it is a listbox: the scroller keeps the focus and points at the active
// option with aria-activedescendant (the options are the rows, each with an id); Up/Down, Home/End and
// PageUp/PageDown move, Enter (or Space) opens. The active row scrolls into view, so it always exists.

const OVERSCAN = 6;

export class VirtualList {
  /**
   * scroller: the overflow:auto element. opts.rowHeight (px); opts.renderRow(id, index) → Element;
   * opts.versionOf(id) → any (row rebuilt when it changes); opts.onNearEnd(); opts.onActivate(id);
   * opts.rowId(id) → the row element's id (aria-activedescendant); opts.selectedId() → the open item or null
   */
  constructor(scroller, opts) {
    this.scroller = scroller;
    this.opts = opts;
    this.rowHeight = opts.rowHeight;
    this.items = [];
    this.rendered = new Map(); // id → {el, index, version}
    this.epoch = 0;
    this.activeIndex = -1;
    this.footerText = "";
    this.canvas = document.createElement("div");
    this.canvas.className = "vlist-canvas";
    this.footer = document.createElement("div");
    this.footer.className = "vlist-footer";
    this.footer.setAttribute("aria-hidden", "true");
    this.canvas.appendChild(this.footer);
    scroller.appendChild(this.canvas);
    this._frame = 0;
    scroller.addEventListener("scroll", () => this.schedule(), {passive: true});
    scroller.addEventListener("keydown", (ev) => this._onKey(ev));
    // Focus on the list: the open conversation's row becomes the active option; with none open, no row is
    // active yet (the list's own ring shows the focus): Down (or Enter) goes to the first.
    scroller.addEventListener("focus", () => {
      if (this.activeIndex < 0 && this._selectedIndex(-1) >= 0) this.setActive(this._selectedIndex(-1));
      else this._syncActive();
    });
    scroller.addEventListener("click", (ev) => {
      const row = ev.target.closest(".vrow");
      if (row && row.dataset.id) this.activeIndex = this.items.findIndex((x) => String(x) === row.dataset.id);
    });
    if (window.ResizeObserver) new ResizeObserver(() => this.schedule()).observe(scroller);
  }

  setItems(ids) {
    const activeId = this.activeIndex >= 0 ? this.items[this.activeIndex] : undefined;
    this.items = ids;
    // The active option follows its item when the order changes (a new message moves a row to the top).
    if (activeId !== undefined) this.activeIndex = ids.indexOf(activeId);
    if (this.activeIndex >= ids.length) this.activeIndex = ids.length - 1;
    this.schedule();
  }

  _selectedIndex(fallback = 0) {
    const sel = this.opts.selectedId ? this.opts.selectedId() : null;
    const at = sel !== null && sel !== undefined ? this.items.indexOf(sel) : -1;
    return at >= 0 ? at : fallback;
  }

  /** Make item `index` the active option (scrolled into view) and draw it now. */
  setActive(index) {
    const n = this.items.length;
    if (!n) {
      this.activeIndex = -1;
      this._syncActive();
      return;
    }
    this.activeIndex = Math.max(0, Math.min(n - 1, index));
    this._scrollIntoView(this.activeIndex);
    this.render();
  }

  /** Focus the list with `id`'s row active (Escape from a conversation comes back to its row). */
  focusItem(id) {
    const at = this.items.indexOf(id);
    this.activeIndex = -1;
    if (at >= 0) this.setActive(at);
    this.scroller.focus({preventScroll: true});
  }

  _scrollIntoView(index) {
    const y = index * this.rowHeight;
    if (y < this.scroller.scrollTop) this.scroller.scrollTop = y;
    else if (y + this.rowHeight > this.scroller.scrollTop + this.scroller.clientHeight) {
      this.scroller.scrollTop = y + this.rowHeight - this.scroller.clientHeight;
    }
  }

  _syncActive() {
    const id = this.activeIndex >= 0 ? this.items[this.activeIndex] : undefined;
    const row = id !== undefined ? this.rendered.get(id) : null;
    if (row && row.el.id) this.scroller.setAttribute("aria-activedescendant", row.el.id);
    else this.scroller.removeAttribute("aria-activedescendant");
  }

  /** Rebuild every visible row (e.g. relative times changed, or the selection). */
  invalidate() {
    this.epoch++;
    this.schedule();
  }

  setFooter(text) {
    this.footerText = text;
    this.schedule();
  }

  scrollToTop() {
    this.scroller.scrollTop = 0;
  }

  schedule() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this.render();
    });
  }

  /** Render now (also used right after the first page, so the list appears without waiting a frame). */
  render() {
    const n = this.items.length;
    const rowH = this.rowHeight;
    const footerH = this.footerText ? 44 : 0;
    const height = n * rowH + footerH;
    if (this.canvas.style.height !== height + "px") this.canvas.style.height = height + "px";
    const top = this.scroller.scrollTop;
    const viewH = this.scroller.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / rowH) - OVERSCAN);
    const last = Math.min(n - 1, Math.ceil((top + viewH) / rowH) + OVERSCAN);
    const keep = new Set();
    for (let i = first; i <= last; i++) {
      const id = this.items[i];
      keep.add(id);
      const version = this.opts.versionOf(id) + ":" + this.epoch + ":" + (i === this.activeIndex);
      let row = this.rendered.get(id);
      if (!row || row.version !== version) {
        const el = this.opts.renderRow(id, i);
        el.classList.add("vrow");
        if (i === this.activeIndex) el.classList.add("kbd-active");
        el.style.height = rowH + "px";
        el.style.transform = "translateY(" + i * rowH + "px)";
        if (row) this.canvas.replaceChild(el, row.el); else this.canvas.insertBefore(el, this.footer);
        row = {el, index: i, version};
        this.rendered.set(id, row);
      } else if (row.index !== i) {
        row.el.style.transform = "translateY(" + i * rowH + "px)";
        row.index = i;
      }
    }
    for (const [id, row] of this.rendered) {
      if (!keep.has(id)) {
        row.el.remove();
        this.rendered.delete(id);
      }
    }
    // Keep the DOM in the visual order (screen readers and find-in-page read the DOM).
    let prev = null;
    for (let i = first; i <= last; i++) {
      const el = this.rendered.get(this.items[i]).el;
      const want = prev ? prev.nextSibling : this.canvas.firstChild;
      if (el !== want) this.canvas.insertBefore(el, want);
      prev = el;
    }
    this.footer.textContent = this.footerText;
    this.footer.hidden = !this.footerText;
    this.footer.style.transform = "translateY(" + n * rowH + "px)";
    this._syncActive();
    if (n && last >= n - 12 && this.opts.onNearEnd) this.opts.onNearEnd();
  }

  _onKey(ev) {
    const n = this.items.length;
    if (!n || ev.altKey || ev.ctrlKey || ev.metaKey || ev.target !== this.scroller) return;
    const page = Math.max(1, Math.floor(this.scroller.clientHeight / this.rowHeight) - 1);
    const at = this.activeIndex;
    let next = null;
    // With no active option yet, Down goes to the first row and Up to the last.
    if (ev.key === "ArrowDown") next = at < 0 ? 0 : at + 1;
    else if (ev.key === "ArrowUp") next = at < 0 ? n - 1 : at - 1;
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = n - 1;
    else if (ev.key === "PageDown") next = (at < 0 ? 0 : at) + page;
    else if (ev.key === "PageUp") next = (at < 0 ? 0 : at) - page;
    if (next !== null) {
      ev.preventDefault();
      this.setActive(next);
    } else if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      if (at < 0) this.setActive(0);
      this.opts.onActivate(this.items[this.activeIndex]);
    }
  }
}
