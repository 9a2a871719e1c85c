// Short notes at the corner of the page (role=alert for errors and warnings, status otherwise); they leave by
// themselves.

import {$, h} from "./dom.js";

/** `action`: {label, onClick}: a button in the toast (which then stays a little longer). */
export function toast(text, kind = "info", action = null) {
  const el = h("div", {class: "toast " + kind, role: kind === "error" || kind === "warn" ? "alert" : "status"},
               h("span", {class: "toast-text", text}));
  if (action) {
    el.appendChild(h("button", {type: "button", class: "toast-action", text: action.label, on: {click: () => {
      el.remove();
      action.onClick();
    }}}));
  }
  $("toasts").appendChild(el);
  const stay = action ? 8000 : 4200;
  setTimeout(() => el.classList.add("leaving"), stay);
  setTimeout(() => el.remove(), stay + 400);
}
