// Short notes at the corner of the page (role=alert for errors, status otherwise); they leave by themselves.

import {$, h} from "./dom.js";

export function toast(text, kind = "info") {
  const el = h("div", {class: "toast " + kind, role: kind === "error" ? "alert" : "status", text});
  $("toasts").appendChild(el);
  setTimeout(() => el.classList.add("leaving"), 4200);
  setTimeout(() => el.remove(), 4600);
}
