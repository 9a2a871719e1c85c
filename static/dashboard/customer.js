// The customer panel beside the open conversation: who the visitor is, where they came from, whether
// they are online, and their previous conversations.

import {$, clear, customerLabel, describeUserAgent, h, initials, ms, safeHttpUrl, setText} from "./dom.js";
import {formatDateTime as fmtDateTime, formatNumber, t} from "./i18n.js";
import {openConversation} from "./sections.js";
import {agentName} from "./state.js";

function field(label, value) {
  return [h("dt", {text: label}), h("dd", null, value)];
}

/** The whole panel: `detail` is GET /chat/sessions/:id (null while it loads; no sessionId: hidden). */
export function renderCustomer(app, detail, sessionId) {
  const box = $("customer");
  box.hidden = !sessionId;
  const body = clear($("customer-body"));
  if (!sessionId) return;
  if (!detail) {
    body.appendChild(h("p", {class: "muted", text: t("loading")}));
    return;
  }
  const s = Object.assign({}, detail.session, app.sessions.get(sessionId) || {});
  const online = app.visitorOnline.get(sessionId);
  const pageUrl = safeHttpUrl(s.page_url);
  const firstSeen = [s, ...detail.previous_sessions].reduce((min, x) => Math.min(min, ms(x.created_at)), Infinity);
  body.append(
    h("div", {class: "cust-head"},
      h("div", {class: "avatar big" + (online ? " online" : ""), "aria-hidden": "true",
                text: initials(customerLabel(s))}),
      h("div", null,
        h("div", {class: "cust-name", text: s.customer_name || t("customer.anonymous")}),
        h("div", {class: "cust-presence " + (online ? "on" : "off"), id: "visitor-presence",
                  text: online === undefined ? "" : online ? t("customer.online") : t("customer.offline")}))),
    h("dl", {class: "facts"},
      field(t("customer.email"), s.customer_email ? h("span", {class: "selectable", text: s.customer_email})
                                      : h("span", {class: "muted", text: t("customer.not_given")})),
      field(t("customer.channel"), s.channel || "web"),
      field(t("customer.page"), pageUrl ? h("a", {href: pageUrl, target: "_blank", rel: "noopener noreferrer nofollow",
                                      class: "page-url", title: s.page_url, text: s.page_url})
                            : h("span", {class: s.page_url ? "page-url" : "muted", text: s.page_url || t("customer.unknown")})),
      field(t("customer.browser"), h("span", {title: s.user_agent || "", text: describeUserAgent(s.user_agent)})),
      field(t("customer.first_seen"), isFinite(firstSeen) ? fmtDateTime(new Date(firstSeen).toISOString()) : "—"),
      field(t("customer.this_chat"), h("span", {id: "cust-chat"})),
      field(t("customer.assigned"), h("span", {id: "cust-assigned"})),
      field(t("customer.rating"), h("div", {id: "cust-rating"}))));
  updateCustomer(app, s);
  const prev = detail.previous_sessions;
  body.appendChild(h("h3", {class: "cust-prev-title", text: t("customer.previous", {count: prev.length})}));
  if (!prev.length) {
    body.appendChild(h("p", {class: "muted", text: t("customer.previous.none")}));
  } else {
    body.appendChild(h("ul", {class: "prev-list"}, prev.map((p) => h("li", null,
      h("button", {type: "button", class: "prev", on: {click: () => openConversation(app, p.id)}},
        h("span", {class: "prev-top"},
          h("span", {text: fmtDateTime(p.created_at)}),
          h("span", {class: "chip status-" + p.status, text: t("status." + p.status)})),
        h("span", {class: "prev-preview", text: p.last_message_preview || t("customer.no_messages")}))))));
  }
}

/** The parts of the customer panel that change while it is open. */
export function updateCustomer(app, s) {
  const chat = $("cust-chat");
  const assigned = $("cust-assigned");
  if (!chat || !assigned || !s) return;
  setText(chat, t("customer.started", {date: fmtDateTime(s.created_at)}) + " · " + t("customer.messages", {count: s.last_seq})
          + (s.status === "resolved" ? " · " + t("customer.resolved") : ""));
  setText(assigned, s.assigned_agent_id ? (s.assigned_agent_id === app.me.id ? t("you") : agentName(app, s.assigned_agent_id))
                                        : t("customer.nobody"));
  renderRating($("cust-rating"), s.rating);
}

/** The visitor's rating of this resolution: stars, the score, their comment and when. */
function renderRating(el, rating) {
  if (!el) return;
  clear(el);
  if (!rating || !rating.score) {
    el.appendChild(h("span", {class: "muted", text: t("customer.not_rated")}));
    return;
  }
  const score = Math.max(1, Math.min(5, rating.score));
  el.append(
    h("div", {class: "cust-stars"},
      h("span", {class: "stars", "aria-hidden": "true", text: "★".repeat(score) + "☆".repeat(5 - score)}),
      h("span", {class: "sr-only", text: t("customer.rated") + " "}),
      h("span", {class: "stars-score", text: formatNumber(score) + "/5"})),
    rating.comment ? h("blockquote", {class: "cust-comment", text: rating.comment}) : null,
    rating.rated_at ? h("div", {class: "muted small", text: fmtDateTime(rating.rated_at)}) : null);
}

/** A chat.visitor.presence frame for the open conversation's visitor. */
export function paintVisitorPresence(online) {
  const el = $("visitor-presence");
  if (el) {
    setText(el, online ? t("customer.online") : t("customer.offline"));
    el.className = "cust-presence " + (online ? "on" : "off");
  }
}
