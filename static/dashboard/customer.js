// The customer panel beside the open conversation: who the visitor is, where they came from, whether
// they are online, and their previous conversations.

import {$, clear, customerLabel, describeUserAgent, fmtDateTime, h, initials, ms, safeHttpUrl, setText} from "./dom.js";
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
    body.appendChild(h("p", {class: "muted", text: "Loading…"}));
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
        h("div", {class: "cust-name", text: s.customer_name || "Anonymous visitor"}),
        h("div", {class: "cust-presence " + (online ? "on" : "off"), id: "visitor-presence",
                  text: online === undefined ? "" : online ? "Online now" : "Offline"}))),
    h("dl", {class: "facts"},
      field("Email", s.customer_email ? h("span", {class: "selectable", text: s.customer_email})
                                      : h("span", {class: "muted", text: "not given"})),
      field("Channel", s.channel || "web"),
      field("Page", pageUrl ? h("a", {href: pageUrl, target: "_blank", rel: "noopener noreferrer nofollow",
                                      class: "page-url", title: s.page_url, text: s.page_url})
                            : h("span", {class: s.page_url ? "page-url" : "muted", text: s.page_url || "unknown"})),
      field("Browser", h("span", {title: s.user_agent || "", text: describeUserAgent(s.user_agent)})),
      field("First seen", isFinite(firstSeen) ? fmtDateTime(new Date(firstSeen).toISOString()) : "—"),
      field("This chat", h("span", {id: "cust-chat"})),
      field("Assigned", h("span", {id: "cust-assigned"})),
      field("Rating", h("div", {id: "cust-rating"}))));
  updateCustomer(app, s);
  const prev = detail.previous_sessions;
  body.appendChild(h("h4", {text: "Previous conversations (" + prev.length + ")"}));
  if (!prev.length) {
    body.appendChild(h("p", {class: "muted", text: "None: this is their first conversation."}));
  } else {
    body.appendChild(h("ul", {class: "prev-list"}, prev.map((p) => h("li", null,
      h("button", {type: "button", class: "prev", on: {click: () => openConversation(app, p.id)}},
        h("span", {class: "prev-top"},
          h("span", {text: fmtDateTime(p.created_at)}),
          h("span", {class: "chip status-" + p.status, text: p.status})),
        h("span", {class: "prev-preview", text: p.last_message_preview || "(no messages)"}))))));
  }
}

/** The parts of the customer panel that change while it is open. */
export function updateCustomer(app, s) {
  const chat = $("cust-chat");
  const assigned = $("cust-assigned");
  if (!chat || !assigned || !s) return;
  setText(chat, "Started " + fmtDateTime(s.created_at) + " · " + s.last_seq + (s.last_seq === 1 ? " message" : " messages")
          + (s.status === "resolved" ? " · resolved" : ""));
  setText(assigned, s.assigned_agent_id ? (s.assigned_agent_id === app.me.id ? "You" : agentName(app, s.assigned_agent_id))
                                        : "nobody");
  renderRating($("cust-rating"), s.rating);
}

/** The visitor's rating of this resolution: stars, the score, their comment and when. */
function renderRating(el, rating) {
  if (!el) return;
  clear(el);
  if (!rating || !rating.score) {
    el.appendChild(h("span", {class: "muted", text: "not rated"}));
    return;
  }
  const score = Math.max(1, Math.min(5, rating.score));
  el.append(
    h("div", {class: "cust-stars"},
      h("span", {class: "stars", "aria-hidden": "true", text: "★".repeat(score) + "☆".repeat(5 - score)}),
      h("span", {class: "sr-only", text: "Rated "}),
      h("span", {class: "stars-score", text: score + "/5"})),
    rating.comment ? h("blockquote", {class: "cust-comment", text: rating.comment}) : null,
    rating.rated_at ? h("div", {class: "muted small", text: fmtDateTime(rating.rated_at)}) : null);
}

/** A chat.visitor.presence frame for the open conversation's visitor. */
export function paintVisitorPresence(online) {
  const el = $("visitor-presence");
  if (el) {
    setText(el, online ? "Online now" : "Offline");
    el.className = "cust-presence " + (online ? "on" : "off");
  }
}
