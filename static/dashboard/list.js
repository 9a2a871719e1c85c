// A virtual list: only the rows in view (plus a margin) exist in the DOM, so ten thousand
// conversations scroll as smoothly as ten. Rows have a fixed height; each is rebuilt only
// when its item's version changes or it scrolls into view.

const OVERSCAN = 6;

export class VirtualList {
  /**
   * scroller: the overflow:auto element. opts.rowHeight (px); opts.renderRow(id, index) → Element;
   * opts.versionOf(id) → any (row rebuilt when it changes); opts.onNearEnd(); opts.onActivate(id)
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
    this.canvas.appendChild(this.footer);
    scroller.appendChild(this.canvas);
    this._frame = 0;
    scroller.addEventListener("scroll", () => this.schedule(), {passive: true});
    scroller.addEventListener("keydown", (ev) => this._onKey(ev));
    if (window.ResizeObserver) new ResizeObserver(() => this.schedule()).observe(scroller);
  }

  setItems(ids) {
    this.items = ids;
    if (this.activeIndex >= ids.length) this.activeIndex = ids.length - 1;
    this.schedule();
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
    if (n && last >= n - 12 && this.opts.onNearEnd) this.opts.onNearEnd();
  }

  _onKey(ev) {
    const n = this.items.length;
    if (!n) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      const delta = ev.key === "ArrowDown" ? 1 : -1;
      this.activeIndex = Math.max(0, Math.min(n - 1, (this.activeIndex < 0 ? -delta : this.activeIndex) + delta));
      const y = this.activeIndex * this.rowHeight;
      if (y < this.scroller.scrollTop) this.scroller.scrollTop = y;
      else if (y + this.rowHeight > this.scroller.scrollTop + this.scroller.clientHeight) {
        this.scroller.scrollTop = y + this.rowHeight - this.scroller.clientHeight;
      }
      this.schedule();
    } else if (ev.key === "Enter" && this.activeIndex >= 0) {
      ev.preventDefault();
      this.opts.onActivate(this.items[this.activeIndex]);
    }
  }
}
