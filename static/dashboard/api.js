// The agent's REST calls, and where the sign-in token lives.
// The token is kept in sessionStorage (this tab), or localStorage with "remember me";
// it never goes in a URL. Tenant and email are remembered for the next sign-in.

const TOKEN_KEY = "cc.dashboard.token";
const TENANT_KEY = "cc.dashboard.tenant";
const EMAIL_KEY = "cc.dashboard.email";

function storageGet(store, key) {
  try { return store.getItem(key); } catch (e) { return null; }
}

function storageSet(store, key, value) {
  try {
    if (value === null) store.removeItem(key); else store.setItem(key, value);
  } catch (e) { /* private mode / disabled storage: the session still works in memory */ }
}

let memoryToken = null;

export const tokenStore = {
  get() {
    return memoryToken || storageGet(sessionStorage, TOKEN_KEY) || storageGet(localStorage, TOKEN_KEY);
  },
  set(token, remember) {
    memoryToken = token;
    storageSet(remember ? localStorage : sessionStorage, TOKEN_KEY, token);
    storageSet(remember ? sessionStorage : localStorage, TOKEN_KEY, null);
  },
  clear() {
    memoryToken = null;
    storageSet(sessionStorage, TOKEN_KEY, null);
    storageSet(localStorage, TOKEN_KEY, null);
  },
  /** Seconds since the epoch when the JWT expires (its `exp` claim), or null. */
  expiresAt(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
      return typeof claims.exp === "number" ? claims.exp : null;
    } catch (e) {
      return null;
    }
  },
};

export const remembered = {
  get tenant() { return storageGet(localStorage, TENANT_KEY) || ""; },
  get email() { return storageGet(localStorage, EMAIL_KEY) || ""; },
  save(tenant, email) {
    storageSet(localStorage, TENANT_KEY, tenant);
    storageSet(localStorage, EMAIL_KEY, email);
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorizedHandler = () => {};

/** Called with the server's message when a call answers 401 (expired or revoked token). */
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

/** JSON call under /api/v1. Throws ApiError (status 0 when the network failed).
 *  `token`: this token instead of the stored one (a call made while signing out). */
export async function api(method, path, body, {auth = true, signal, token} = {}) {
  const headers = {"Accept": "application/json", ...(auth ? bearer(token) : {})};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch("/api/v1" + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal,
      credentials: "same-origin", cache: "no-store",
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "The server cannot be reached.");
  }
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) {
    const error = errorFrom(response.status, data);
    if (response.status === 401 && auth) unauthorizedHandler(error);
    throw error;
  }
  return data;
}

export function query(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
  }
  return parts.length ? "?" + parts.join("&") : "";
}

/** The Authorization header of the signed-in agent, or of `token` ({} when there is none). */
function bearer(token = tokenStore.get()) {
  return token ? {"Authorization": "Bearer " + token} : {};
}

/** An error body ({"error": {code, message}}) or a generic one, as an ApiError. */
function errorFrom(status, data) {
  const err = (data && data.error) || {};
  return new ApiError(status, err.code || "http_" + status, err.message || "Request failed (" + status + ")");
}

/** GET a file under /api/v1 with the bearer token in the header (never in the URL); its Blob.
 *  Throws ApiError like api(). */
export async function fetchBlob(path, {signal} = {}) {
  let response;
  try {
    response = await fetch("/api/v1" + path, {headers: bearer(), signal, credentials: "same-origin"});
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "network_error", "The server cannot be reached.");
  }
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    const error = errorFrom(response.status, data);
    if (response.status === 401) unauthorizedHandler(error);
    throw error;
  }
  return response.blob();
}

/**
 * Upload one file (multipart/form-data, field `file`) with XMLHttpRequest, for its progress.
 * Returns {promise, abort}: the promise resolves with the JSON answer, rejects with an ApiError
 * (code "aborted" after abort()). onProgress(loaded, total) follows the request body.
 */
export function uploadFile(path, file, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/v1" + path);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(bearer())) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    if (onProgress) {
      xhr.upload.onprogress = (ev) => onProgress(ev.loaded, ev.lengthComputable ? ev.total : file.size);
    }
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch (e) { data = null; }
      if (xhr.status >= 200 && xhr.status < 300 && data) {
        resolve(data);
        return;
      }
      const error = xhr.status === 413 && !(data && data.error)
        ? new ApiError(413, "file_too_large", "The file is too large.")
        : errorFrom(xhr.status, data);
      error.retryAfterSecs = Number(xhr.getResponseHeader("Retry-After")) || 0;
      if (xhr.status === 401) unauthorizedHandler(error);
      reject(error);
    };
    xhr.onerror = () => reject(new ApiError(0, "network_error", "The upload failed: the server cannot be reached."));
    xhr.onabort = () => reject(new ApiError(0, "aborted", "The upload was cancelled."));
    const form = new FormData();
    form.append("file", file, file.name || "file");
    xhr.send(form);
  });
  return {promise, abort: () => xhr.abort()};
}

// ---- Web Push (this browser's push subscription for the signed-in agent) -------------------------

export const pushApi = {
  /** {enabled, vapid_public_key} */
  config: () => api("GET", "/push/config"),
  /** {subscriptions: [...]}: the agent's devices. */
  devices: () => api("GET", "/push/subscriptions"),
  /** Store PushSubscription.toJSON() (idempotent). */
  save: (subscription) => api("POST", "/push/subscriptions", subscription),
  /** Forget an endpoint (204 whether or not it was stored). `token`: while signing out. */
  remove: (endpoint, {token} = {}) => api("DELETE", "/push/subscriptions", {endpoint}, {token}),
  /** {sent, failed, removed}; 409 no_subscriptions. */
  test: () => api("POST", "/push/test", {}),
};
