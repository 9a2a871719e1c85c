// The assign / transfer dialog: pick another agent for a conversation (a transfer may carry a note).

import {api} from "./api.js";
import {$, clear, customerLabel, h, setText} from "./dom.js";
import {upsertSession} from "./session-list.js";
import {agentName} from "./state.js";
import {t} from "./i18n.js";
import {toast} from "./toast.js";

export function openTransferDialog(app, session) {
  if (!session) return;
  const dialog = $("transfer-dialog");
  const select = clear($("transfer-agent"));
  const assigned = !!session.assigned_agent_id;
  setText($("transfer-title"), t(assigned ? "transfer.title.transfer" : "transfer.title.assign",
                                 {name: customerLabel(session)}));
  setText($("transfer-submit"), t(assigned ? "transfer.submit.transfer" : "transfer.submit.assign"));
  $("transfer-note-row").hidden = !assigned;
  $("transfer-note").value = "";
  setText($("transfer-error"), "");
  const candidates = [...app.agents.values()].filter((a) => a.active !== false && a.id !== session.assigned_agent_id);
  for (const a of candidates) {
    const status = app.presence.get(a.id) || "offline";
    select.appendChild(h("option", {value: a.id, text: (a.id === app.me.id ? t("agent.you", {name: a.name}) : a.name)
                                     + " · " + t("presence." + status)
                                     + (typeof a.open_sessions === "number"
                                       ? " · " + t("transfer.open", {count: a.open_sessions}) : "")}));
  }
  if (!candidates.length) select.appendChild(h("option", {value: "", text: t("transfer.none"), disabled: true}));
  dialog.dataset.sessionId = session.id;
  dialog.showModal();
}

async function submitTransfer(app, ev) {
  ev.preventDefault();
  const dialog = $("transfer-dialog");
  const id = dialog.dataset.sessionId;
  const agentId = parseInt($("transfer-agent").value, 10);
  if (!id || !agentId) return;
  const session = app.sessions.get(id);
  const assigned = session && session.assigned_agent_id;
  const btn = $("transfer-submit");
  btn.disabled = true;
  try {
    const res = assigned
      ? await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/transfer",
                  {agent_id: agentId, note: $("transfer-note").value.trim()})
      : await api("POST", "/chat/sessions/" + encodeURIComponent(id) + "/assign", {agent_id: agentId});
    upsertSession(app, res.session);
    app.refreshAgentsSoon();
    dialog.close();
    toast(t(assigned ? "transfer.done.transfer" : "transfer.done.assign", {name: agentName(app, agentId)}));
  } catch (err) {
    setText($("transfer-error"), err.message);
  } finally {
    btn.disabled = false;
  }
}

export function bindTransfer(app) {
  $("transfer-form").addEventListener("submit", (ev) => submitTransfer(app, ev));
  $("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());
}
