// File attachments: the composer's upload tray (chips with progress, per conversation), the files
// shown in message bubbles (image thumbnails, file chips that download) and the image viewer.
//
// Files are fetched with the bearer token in a header, never in a URL, and shown through object
// URLs of their blobs; a conversation's object URLs are revoked when it is closed or switched.
// File names come from other people: they are only ever put in the page as text.

import {api, fetchBlob, uploadFile} from "./api.js";
import {$, clear, h, icon, setText} from "./dom.js";
import {formatNumber, formatPercent, t} from "./i18n.js";

export const MAX_FILES_PER_MESSAGE = 10;
// Files uploading at once (the server takes 2 per client address; more wait their turn).
const UPLOADS_AT_ONCE = 2;
export const DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

// What the server accepts (it decides from the bytes; this only spares a pointless upload).
const EXTENSIONS = [".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", ".txt", ".csv", ".log", ".md", ".docx", ".xlsx",
                    ".pptx", ".odt", ".ods", ".odp", ".zip"];
const MIME_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
export const ACCEPT = EXTENSIONS.concat(MIME_TYPES).join(",");
/** What the server accepts, in words (the dashboard's language). */
export function acceptedText() {
  return t("files.accepted");
}

/** "512 B", "1.5 KB", "12 KB", "3.2 MB" (the number and unit in the dashboard's language: "1,5 Ko"). */
export function fmtSize(bytes) {
  if (typeof bytes !== "number" || !(bytes >= 0)) return "";
  if (bytes < 1024) return t("size.b", {n: formatNumber(bytes)});
  let value = bytes / 1024;
  let i = 0;
  while (value >= 1024 && i < 2) {
    value /= 1024;
    i++;
  }
  const shown = value < 10 ? formatNumber(Number(value.toFixed(1)), {maximumFractionDigits: 1})
    : formatNumber(Math.round(value));
  return t(i === 0 ? "size.kb" : i === 1 ? "size.mb" : "size.gb", {n: shown});
}

function extensionOf(name) {
  const dot = (name || "").lastIndexOf(".");
  return dot >= 0 ? name.slice(dot).toLowerCase() : "";
}

function looksAccepted(file) {
  return EXTENSIONS.includes(extensionOf(file.name)) || MIME_TYPES.includes(file.type);
}

function isImageFile(file) {
  return MIME_TYPES.slice(0, 4).includes(file.type) || [".png", ".jpg", ".jpeg", ".gif", ".webp"]
    .includes(extensionOf(file.name));
}

export function attachmentPath(sessionId, attachmentId) {
  return "/chat/sessions/" + encodeURIComponent(sessionId) + "/attachments/" + encodeURIComponent(attachmentId);
}

// ---- one open conversation's files --------------------------------------------------------------

/**
 * The blobs of one open conversation: fetched once per attachment, kept as object URLs until
 * dispose() (the conversation is closed or another one opened), which aborts what is still
 * loading and revokes every URL.
 */
export class MediaScope {
  constructor(sessionId) {
    this.sessionId = sessionId;
    this.closed = false;
    this.controller = new AbortController();
    this.urls = new Set();
    this.cache = new Map(); // attachment id → Promise<object URL>
  }

  /** An object URL of the attachment's bytes (a Promise; rejects with an ApiError or AbortError). */
  objectUrl(attachment) {
    let promise = this.cache.get(attachment.id);
    if (!promise) {
      promise = fetchBlob(attachmentPath(this.sessionId, attachment.id), {signal: this.controller.signal})
        .then((blob) => {
          if (this.closed) throw new DOMException("conversation closed", "AbortError");
          const url = URL.createObjectURL(blob);
          this.urls.add(url);
          return url;
        });
      this.cache.set(attachment.id, promise);
      // A failed fetch is tried again next time (the thumbnail's retry, a second download click).
      promise.catch(() => { if (this.cache.get(attachment.id) === promise) this.cache.delete(attachment.id); });
    }
    return promise;
  }

  dispose() {
    this.closed = true;
    this.controller.abort();
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls.clear();
    this.cache.clear();
  }
}

/** Save an attachment: its blob through a temporary <a download> (the token stays in a header). */
export async function downloadAttachment(scope, attachment) {
  const url = await scope.objectUrl(attachment);
  if (scope.closed) return;
  const link = h("a", {href: url, download: attachment.name || "file", hidden: true});
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// ---- the image viewer ------------------------------------------------------------------------------

export class Lightbox {
  constructor() {
    this.dialog = $("lightbox");
    this.img = $("lightbox-img");
    this.name = $("lightbox-name");
    this.onDownload = null;
    $("lightbox-close").addEventListener("click", () => this.close());
    $("lightbox-download").addEventListener("click", () => { if (this.onDownload) this.onDownload(); });
    // A click around the image closes it; Esc closes a modal dialog by itself.
    this.stage = $("lightbox-stage");
    this.dialog.addEventListener("click", (ev) => {
      if (ev.target === this.dialog || ev.target === this.stage) this.close();
    });
    this.dialog.addEventListener("close", () => {
      this.img.removeAttribute("src");
      this.onDownload = null;
    });
  }

  get isOpen() {
    return this.dialog.open;
  }

  open(url, attachment, onDownload) {
    this.img.src = url;
    this.img.alt = attachment.name || t("files.image");
    setText(this.name, attachment.name || "");
    this.name.title = attachment.name || "";
    this.onDownload = onDownload;
    if (!this.dialog.open) this.dialog.showModal();
    $("lightbox-close").focus();
  }

  close() {
    if (this.dialog.open) this.dialog.close();
  }
}

// ---- files in a message bubble ---------------------------------------------------------------------

/**
 * The files of a message, as DOM: images as thumbnails (loading, then the image, or an error that a
 * click retries), other files as chips that download on click.
 * ctx: {scope, lightbox, onImageLoaded(), onError(message)}
 */
export function renderMessageFiles(attachments, ctx) {
  if (!attachments || !attachments.length) return null;
  return h("div", {class: "msg-files"}, attachments.map((a) => (a.kind === "image"
    ? imageThumb(a, ctx) : fileChip(a, ctx))));
}

function fileChip(a, ctx) {
  const chip = h("button", {type: "button", class: "att-file", title: t("files.download", {name: a.name || t("files.file")}),
                            dataset: {attachmentId: a.id}},
                 icon("file", 18),
                 h("span", {class: "att-text"},
                   h("span", {class: "att-name", text: a.name || t("files.file")}),
                   h("span", {class: "att-size", text: fmtSize(a.size)})),
                 icon("download", 16));
  chip.addEventListener("click", async () => {
    if (chip.classList.contains("busy")) return;
    chip.classList.add("busy");
    chip.setAttribute("aria-busy", "true");
    try {
      await download(a, ctx);
    } finally {
      chip.classList.remove("busy");
      chip.removeAttribute("aria-busy");
    }
  });
  return chip;
}

/** Download, telling the agent when it fails (not when the conversation was left meanwhile). */
async function download(a, ctx) {
  try {
    await downloadAttachment(ctx.scope, a);
  } catch (err) {
    if (!(err && err.name === "AbortError") && err.status !== 401) {
      ctx.onError(t("files.download.error", {name: a.name || t("files.the_file"), error: err.message}));
    }
  }
}

function imageThumb(a, ctx) {
  const status = h("span", {class: "att-thumb-status", text: t("files.image.loading")});
  const img = h("img", {class: "att-img", alt: a.name || t("files.image"), decoding: "async"});
  const thumb = h("button", {type: "button", class: "att-thumb loading", title: a.name || t("files.image"),
                             "aria-label": t("files.image.label.loading", {name: a.name || ""}),
                             dataset: {attachmentId: a.id}},
                  img, status);
  let url = null;
  const setState = (state, text) => {
    thumb.classList.toggle("loading", state === "loading");
    thumb.classList.toggle("error", state === "error");
    thumb.classList.toggle("ready", state === "ready");
    thumb.dataset.state = state;
    setText(status, text || "");
    status.hidden = state === "ready";
    const name = a.name || "";
    thumb.setAttribute("aria-label", t(state === "ready" ? "files.image.label.open"
      : state === "error" ? "files.image.label.error" : "files.image.label.loading", {name}));
  };
  const load = () => {
    setState("loading", t("files.image.loading"));
    ctx.scope.objectUrl(a).then((objectUrl) => {
      url = objectUrl;
      img.onload = () => {
        setState("ready");
        ctx.onImageLoaded();
      };
      img.onerror = () => setState("error", t("files.image.unavailable"));
      img.src = objectUrl;
    }, (err) => {
      if (err && err.name === "AbortError") return;
      setState("error", err.status === 404 ? t("files.image.not_found") : t("files.image.unavailable"));
    });
  };
  thumb.addEventListener("click", () => {
    const state = thumb.dataset.state;
    if (state === "ready" && url) {
      ctx.lightbox.open(url, a, () => download(a, ctx));
    } else if (state === "error") {
      load();
    }
  });
  setState("loading", t("files.image.loading"));
  load();
  return thumb;
}

/** Files of a message still being sent: names and sizes only (nothing fetched yet). */
export function renderPendingFiles(attachments) {
  if (!attachments || !attachments.length) return null;
  return h("div", {class: "msg-files"}, attachments.map((a) => h("span", {class: "att-file static"},
    icon(a.kind === "image" ? "image" : "file", 18),
    h("span", {class: "att-text"},
      h("span", {class: "att-name", text: a.name || t("files.file")}),
      h("span", {class: "att-size", text: fmtSize(a.size)})))));
}

/** "📎 a.png, b.pdf": the text a notification shows for a message that is only files. */
export function filesSummary(attachments) {
  return attachments && attachments.length ? "📎 " + attachments.map((a) => a.name).join(", ") : "";
}

// ---- the composer's upload tray -----------------------------------------------------------------------

/**
 * Files chosen in the composer, per conversation: each uploads at once (with progress) and shows as a
 * chip; a chip can be removed before sending; Send takes the uploaded ones. Files added in one
 * conversation stay in it (another conversation never sends them).
 * opts: {listEl, errorEl, maxBytes(): Promise<number>}
 */
export class UploadTray {
  constructor(opts) {
    this.opts = opts;
    this.bySession = new Map(); // session id → [item]
    this.notices = new Map();   // session id → text (a refusal that is not one file's)
    this.current = null;
    this.waiting = [];          // [{item, file}] in line for an upload slot
    this.nextKey = 1;           // each chip's key
  }

  items(sessionId) {
    return this.bySession.get(sessionId) || [];
  }

  /** Show the tray of this conversation (null: none). */
  show(sessionId) {
    this.current = sessionId;
    this.render();
  }

  isUploading(sessionId) {
    return this.items(sessionId).some((i) => i.state === "uploading");
  }

  /** The uploaded files' metadata, in the order they were added. */
  ready(sessionId) {
    return this.items(sessionId).filter((i) => i.state === "done").map((i) => i.attachment);
  }

  setNotice(sessionId, text) {
    if (text) this.notices.set(sessionId, text); else this.notices.delete(sessionId);
    if (sessionId === this.current) this.renderErrors();
  }

  /** Upload these files to the conversation (checked against the size limit and type first). */
  async add(sessionId, files) {
    files = Array.from(files || []);
    if (!sessionId || !files.length) return;
    let maxBytes = DEFAULT_MAX_UPLOAD_BYTES;
    try { maxBytes = (await this.opts.maxBytes()) || DEFAULT_MAX_UPLOAD_BYTES; } catch (e) { /* the default */ }
    const list = this.items(sessionId).slice();
    const accepted = [];
    this.notices.delete(sessionId);
    for (const file of files) {
      const kept = list.filter((i) => i.state !== "error").length;
      if (kept >= MAX_FILES_PER_MESSAGE) {
        this.notices.set(sessionId, t("files.too_many", {count: MAX_FILES_PER_MESSAGE}));
        break;
      }
      const item = {key: this.nextKey++, sessionId, name: file.name || t("files.file"), size: file.size,
                    image: isImageFile(file), state: "uploading", loaded: 0, error: "", attachment: null,
                    upload: null, el: null};
      list.push(item);
      if (!file.size) {
        this._fail(item, t("files.empty"));
      } else if (file.size > maxBytes) {
        this._fail(item, t("files.too_large", {size: fmtSize(file.size), max: fmtSize(maxBytes)}));
      } else if (!looksAccepted(file)) {
        this._fail(item, t("files.not_accepted", {accepted: acceptedText()}));
      } else {
        accepted.push([item, file]);
      }
    }
    this.bySession.set(sessionId, list);
    for (const [item, file] of accepted) this._start(item, file);
    if (sessionId === this.current) this.render();
  }

  _fail(item, message) {
    item.state = "error";
    item.error = message;
    item.upload = null;
  }

  /** At most UPLOADS_AT_ONCE files go at a time (the server takes a few per address at once); the
   *  others wait their turn (at 0 %). A refusal that says "in a second" (429, a short Retry-After)
   *  puts the file back in line. */
  _start(item, file) {
    this.waiting.push({item, file});
    this._pump();
  }

  _pump() {
    this.waiting = this.waiting.filter(({item}) => this._alive(item) && item.state === "uploading");
    while (this.waiting.length && this._inFlight() < UPLOADS_AT_ONCE) {
      const {item, file} = this.waiting.shift();
      this._upload(item, file);
    }
  }

  _inFlight() {
    let count = 0;
    for (const list of this.bySession.values()) count += list.filter((i) => i.upload).length;
    return count;
  }

  _upload(item, file) {
    const path = "/chat/sessions/" + encodeURIComponent(item.sessionId) + "/attachments";
    item.upload = uploadFile(path, file, (loaded, total) => {
      item.loaded = total ? Math.min(1, loaded / total) : 0;
      this._paintProgress(item);
    });
    item.upload.promise.then((res) => {
      if (!this._alive(item)) return;
      item.state = "done";
      item.loaded = 1;
      item.attachment = res.attachment;
      item.name = res.attachment.name || item.name;  // as the server keeps it (what the message will show)
      item.upload = null;
      this._changed(item);
      this._pump();
    }, (err) => {
      item.upload = null;
      if (!this._alive(item) || err.code === "aborted") {
        this._pump();
        return;
      }
      item.retries = (item.retries || 0) + 1;
      if (err.status === 429 && err.retryAfterSecs > 0 && err.retryAfterSecs <= 5 && item.retries <= 5) {
        setTimeout(() => this._start(item, file), err.retryAfterSecs * 1000);
      } else {
        this._fail(item, err.message);
        this._changed(item);
      }
      this._pump();
    });
  }

  _alive(item) {
    return this.items(item.sessionId).includes(item);
  }

  _changed(item) {
    if (item.sessionId === this.current) this.render();
  }

  remove(sessionId, key) {
    const list = this.items(sessionId);
    const item = list.find((i) => i.key === key);
    if (!item) return;
    if (item.upload) item.upload.abort();
    if (item.state === "done" && item.attachment) {
      // Uploaded but not sent: the server forgets it too (it stops counting against the quota).
      api("DELETE", "/chat/sessions/" + encodeURIComponent(sessionId) + "/attachments/"
          + encodeURIComponent(item.attachment.id)).catch(() => { /* best effort: it only costs quota */ });
    }
    const rest = list.filter((i) => i !== item);
    if (rest.length) this.bySession.set(sessionId, rest); else this.bySession.delete(sessionId);
    this.notices.delete(sessionId);
    if (sessionId === this.current) this.render();
  }

  /** After a send: the sent files (and the failed ones) leave the tray. */
  take(sessionId) {
    const sent = this.ready(sessionId);
    const left = this.items(sessionId).filter((i) => i.state === "uploading");
    if (left.length) this.bySession.set(sessionId, left); else this.bySession.delete(sessionId);
    this.notices.delete(sessionId);
    if (sessionId === this.current) this.render();
    return sent;
  }

  /** Sign-out: every upload stops, every chip goes. */
  clearAll() {
    for (const list of this.bySession.values()) {
      for (const item of list) if (item.upload) item.upload.abort();
    }
    this.bySession.clear();
    this.notices.clear();
    this.render();
  }

  // ---- rendering ----------------------------------------------------------------------------------------

  render() {
    const listEl = clear(this.opts.listEl);
    const items = this.current ? this.items(this.current) : [];
    listEl.hidden = !items.length;
    for (const item of items) {
      item.el = this._chip(item);
      listEl.appendChild(item.el);
    }
    this.renderErrors();
  }

  renderErrors() {
    const errorEl = this.opts.errorEl;
    const sid = this.current;
    const lines = [];
    if (sid) {
      for (const item of this.items(sid)) {
        if (item.state === "error") lines.push(item.name + ": " + item.error);
      }
      if (this.notices.has(sid)) lines.push(this.notices.get(sid));
    }
    clear(errorEl);
    for (const line of lines) errorEl.appendChild(h("span", {class: "composer-error-line", text: line}));
    errorEl.hidden = !lines.length;
  }

  _chip(item) {
    const label = item.state === "uploading" ? t("files.uploading", {pct: formatPercent(item.loaded)})
      : item.state === "error" ? t("files.not_uploaded") : fmtSize(item.size);
    const bar = h("span", {class: "upload-bar"});
    bar.style.width = Math.round(item.loaded * 100) + "%";
    const remove = h("button", {type: "button", class: "upload-remove", title: t("remove"),
                                "aria-label": t("files.remove", {name: item.name}), text: "✕"});
    remove.addEventListener("click", () => this.remove(item.sessionId, item.key));
    const chip = h("div", {class: "upload-chip " + item.state, dataset: {state: item.state, key: item.key},
                           title: item.state === "error" ? item.name + ": " + item.error : item.name},
                   icon(item.image ? "image" : "file", 16),
                   h("span", {class: "upload-text"},
                     h("span", {class: "upload-name", text: item.name}),
                     h("span", {class: "upload-status", text: label})),
                   remove,
                   item.state === "uploading"
                     ? h("span", {class: "upload-progress", role: "progressbar", "aria-valuemin": "0",
                                  "aria-valuemax": "100", "aria-valuenow": String(Math.round(item.loaded * 100)),
                                  "aria-label": t("files.uploading.label", {name: item.name})}, bar)
                     : null);
    return chip;
  }

  _paintProgress(item) {
    if (!item.el || item.state !== "uploading") return;
    const pct = Math.round(item.loaded * 100);
    const bar = item.el.querySelector(".upload-bar");
    if (bar) bar.style.width = pct + "%";
    const progress = item.el.querySelector(".upload-progress");
    if (progress) progress.setAttribute("aria-valuenow", String(pct));
    setText(item.el.querySelector(".upload-status"), t("files.uploading", {pct: formatPercent(item.loaded)}));
  }
}
