// The agent dashboard's boot: makes the one app-state object (state.js) and the page's parts, and
// wires them to the controllers, one module per concern:
//   session-list.js   the conversation list: sessions, filters, search, paging
//   sections.js       conversations or Analytics in the main area; opening a conversation
//   frames.js         what the live socket says; a resync after a reconnect
//   typing.js         who is typing where
//   team.js           the team panel and this agent's status
//   queue.js          routing: the queue chip (auto mode) and its alert, the team's loads against capacity
//   transfer.js       the assign / transfer dialog
//   customer.js       the customer panel
//   labels.js         labels: chips, the header's picker, the list's filter
//   canned.js         canned responses: the list the composer uses, the admins' manager
//   top-menu.js       the top bar's menu (admins)
//   signin.js         sign-in, the token's expiry, sign-out
//   deep-link.js      /?session= and notification clicks
//   push-ui.js        the push button and its menu
//   alert-buttons.js  the notification and sound buttons
//   live.js           the Live indicator
//   tenant-settings.js  the upload limit and agent assist
//   toast.js          toasts
// The open conversation lives in conversation.js (its messages drawn by message-render.js, its composer's
// Reply / Note switch and "/" and "@" lists in composer-assist.js), the Analytics view in analytics.js, the
// Settings view in settings/ (its pages in settings/pages.js), the /?invite= page in invite.js.

import {bindAlertButtons, renderNotifyButtons} from "./alert-buttons.js";
import {AnalyticsView} from "./analytics.js";
import {tokenStore} from "./api.js";
import {bindCanned} from "./canned.js";
import {ConversationView} from "./conversation.js";
import {renderCustomer, updateCustomer} from "./customer.js";
import {openFromNotification, sessionFromUrl} from "./deep-link.js";
import {debounce, fmtDuration, ms} from "./dom.js";
import {onFrame, onSocketReady} from "./frames.js";
import {loadCatalogue, t} from "./i18n.js";
import {bindLabels} from "./labels.js";
import {bindLive, renderLive} from "./live.js";
import {Notifier} from "./notify.js";
import {PushControl} from "./push.js";
import {bindQueue} from "./queue.js";
import {bindPushMenu, onPushInPage, renderPushButton} from "./push-ui.js";
import {bindSections, conversationHidden, openConversation} from "./sections.js";
import {bindListControls, createSessionList, patchSession, upsertSession} from "./session-list.js";
import {SettingsView, bindSettings} from "./settings/index.js";
import {bindSignIn, boot, signOut} from "./signin.js";
import {LiveSocket} from "./socket.js";
import {agentName, createAppState} from "./state.js";
import {bindMyStatus, loadAgents} from "./team.js";
import {aiAssist, maxUploadBytes} from "./tenant-settings.js";
import {toast} from "./toast.js";
import {bindTopMenu} from "./top-menu.js";
import {bindTransfer, openTransferDialog} from "./transfer.js";
import {clearTyping, typingFor} from "./typing.js";

const app = createAppState();

// What the conversation and analytics views call back on their `app` (they were written against these names).
Object.assign(app, {
  toast,
  agentName: (id) => agentName(app, id),
  fmtWaiting: (iso) => fmtDuration(Date.now() - ms(iso)),
  typingFor: (sessionId) => typingFor(app, sessionId),
  clearTyping: (sessionId, sender, agentId) => clearTyping(app, sessionId, sender, agentId),
  upsertSession: (session) => upsertSession(app, session),
  patchSession: (id, fields) => patchSession(app, id, fields),
  renderCustomer: (detail, sessionId) => renderCustomer(app, detail, sessionId),
  updateCustomer: (session) => updateCustomer(app, session),
  refreshAgentsSoon: debounce(() => loadAgents(app), 400),
  openTransferDialog: (session) => openTransferDialog(app, session),
  conversationHidden,
  maxUploadBytes: () => maxUploadBytes(app),
  aiAssist: () => aiAssist(app),
});

function init() {
  const BASE_TITLE = t("app.page_title");  // (after the catalogue: in the agent's language)
  app.notifier = new Notifier(BASE_TITLE, {onClick: (id) => openConversation(app, id),
                                           onChange: () => renderNotifyButtons(app)});
  app.push = new PushControl({
    onChange: () => {
      renderPushButton(app);
      if (app.signedIn) renderNotifyButtons(app); // the permission may have changed with it
    },
    toast,
    onPush: (payload) => onPushInPage(app, payload),
    onOpenSession: (id) => openFromNotification(app, id),
  });
  app.pendingSession = sessionFromUrl();
  document.title = BASE_TITLE;
  app.conv = new ConversationView(app);
  app.analytics = new AnalyticsView(app);
  app.settings = new SettingsView(app);
  app.list = createSessionList(app);
  app.socket = new LiveSocket({
    getToken: () => tokenStore.get(),
    getTenant: () => app.me && app.me.tenant_id,
    getResume: () => app.conv.resume(),
    onFrame: (type, data) => onFrame(app, type, data),
    onState: (state, info) => renderLive(app, state, info),
    onReady: (data, isReconnect) => onSocketReady(app, data, isReconnect),
    onAuthFailed: (message) => signOut(app, message),
  });

  bindSignIn(app);
  bindLive(app);
  bindMyStatus(app);
  bindAlertButtons(app);
  bindPushMenu(app);
  bindListControls(app);
  bindQueue(app);
  bindSections(app);
  bindTransfer(app);
  bindLabels(app);
  bindCanned(app);
  bindTopMenu(app);
  bindSettings(app);

  // Back to the page with a conversation open: what it shows is seen and read now.
  const attention = () => {
    if (document.visibilityState === "visible" && app.conv.id) {
      app.notifier.seen(app.conv.id);
      app.conv.markRead();
    }
  };
  document.addEventListener("visibilitychange", attention);
  window.addEventListener("focus", attention);
  // Relative times and waiting clocks move on.
  setInterval(() => {
    if (!app.signedIn) return;
    app.list.invalidate();
    if (app.conv.id) {
      app.conv.renderWaiting();
      app.conv.refreshDays();
    }
  }, 30000);

  boot(app);
}

// The texts first (i18n.js): every view renders in the agent's language.
loadCatalogue().catch(() => {}).then(init);
