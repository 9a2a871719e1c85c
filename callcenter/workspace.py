"""The agent workspace: private notes (with @mentions), canned responses, labels, the visitors'
satisfaction ratings, and the tenant's workspace settings.

Who may do what: any agent of the tenant writes notes, uses canned responses and labels conversations;
admins create, change and delete canned responses and labels, and change the settings; a visitor rates
their own conversation once it is resolved. Every change is published after its commit.
"""
from __future__ import annotations

from . import domain, events, models
from .audit import AuditService
from .config import Config
from .domain import WORKSPACE_SETTINGS, Actor, require_admin, workspace_settings
from .errors import Conflict
from .publisher import EventPublisher
from .push import PushNotifier
from .services import ChatService
from .store import SendResult, Store
from .webhook_models import CONVERSATION_RATED

MAX_CANNED_RESPONSES = 500
MAX_LABELS = 200
MAX_LABELS_PER_SESSION = 20
# A rating may be changed this long after it was first given (then 409 already_rated).
RATING_CHANGE_WINDOW_SECS = 600



class WorkspaceService:
    def __init__(self, store: Store, chat: ChatService, publisher: EventPublisher, push: PushNotifier,
                 config: Config, audit: AuditService | None = None):
        self.audit = audit
        self.store = store
        self.chat = chat
        self.publisher = publisher
        self.push = push
        self.config = config

    async def _audit(self, admin: dict, action: str, target_type: str, target_id, details: dict | None = None) -> None:
        if self.audit is not None:
            await self.audit.record(admin, action, target_type, target_id, details)

    # ---- private notes -------------------------------------------------------------------

    async def add_note(self, agent: dict, session_id: str, body: str, client_msg_id: str | None) -> SendResult:
        """A note in the conversation's sequence, for the agents only; colleagues it names with @Name
        are told (their sockets, and a push)."""
        tenant_id = agent["tenant_id"]
        session = await self.chat.session_or_404(tenant_id, session_id)
        colleagues = [a for a in await self.store.list_agents(tenant_id) if a["active"]]
        mentions = [i for i in domain.mentioned_agents(body, colleagues) if i != agent["id"]]
        result = await self.store.send_message(
            tenant_id, session_id, sender_type=domain.NOTE, sender_id=agent["id"], sender_name=agent["name"],
            body=body, client_msg_id=client_msg_id, budget=self.chat.message_budget, mentions=mentions or None)
        if result.created:
            await self.chat.after_message(result)
            session = result.session or session
            await self.publisher.publish(*(events.note_mention(result.message, session, agent_id, agent["id"])
                                           for agent_id in mentions))
            self.push.on_mention(session, mentions, agent, result.message)
        return result

    # ---- canned responses ----------------------------------------------------------------

    async def canned_responses(self, agent: dict) -> list[dict]:
        return await self.store.list_canned_responses(agent["tenant_id"])

    async def create_canned_response(self, admin: dict, shortcut: str, title: str, body: str) -> dict:
        require_admin(admin, "add canned responses")
        row = await self.store.create_canned_response(admin["tenant_id"], shortcut=shortcut, title=title, body=body,
                                                      max_per_tenant=MAX_CANNED_RESPONSES)
        await self._audit(admin, "canned_response.created", "canned_response", row["id"], {"shortcut": shortcut})
        return row

    async def update_canned_response(self, admin: dict, response_id: int, changes: dict) -> dict:
        require_admin(admin, "change canned responses")
        return await self.store.update_canned_response(admin["tenant_id"], response_id, changes)

    async def delete_canned_response(self, admin: dict, response_id: int) -> None:
        require_admin(admin, "delete canned responses")
        await self.store.delete_canned_response(admin["tenant_id"], response_id)
        await self._audit(admin, "canned_response.deleted", "canned_response", response_id)

    # ---- labels ---------------------------------------------------------------------------

    async def labels(self, agent: dict) -> list[dict]:
        return await self.store.list_labels(agent["tenant_id"])

    async def create_label(self, admin: dict, name: str, color: str) -> dict:
        require_admin(admin, "create labels")
        row = await self.store.create_label(admin["tenant_id"], name, color, max_per_tenant=MAX_LABELS)
        await self._audit(admin, "label.created", "label", row["id"], {"name": name})
        return row

    async def delete_label(self, admin: dict, label_id: int) -> None:
        require_admin(admin, "delete labels")
        touched = await self.store.delete_label(admin["tenant_id"], label_id)
        await self._audit(admin, "label.deleted", "label", label_id)
        await self.publisher.publish(*(events.session_updated(session) for session in touched))

    async def set_session_labels(self, agent: dict, session_id: str, names: list[str]) -> dict:
        session = await self.store.set_session_labels(agent["tenant_id"], session_id, names)
        await self.publisher.publish(events.session_updated(session))
        return session

    # ---- the visitor's rating ---------------------------------------------------------------

    async def rate(self, visitor: Actor, session_id: str, score: int, comment: str) -> dict:
        await self.chat.session_of(visitor, session_id)
        tenant = await self.chat.tenant_or_404(visitor.tenant_id)
        if not workspace_settings(tenant)["csat_enabled"]:
            raise Conflict("this site does not ask for ratings", code="csat_off")
        session = await self.store.rate(visitor.tenant_id, session_id, score, comment,
                                        replace_within_ms=RATING_CHANGE_WINDOW_SECS * 1000)
        await self.publisher.publish(events.session_updated(session))
        await self.publisher.to_webhooks(CONVERSATION_RATED, session, rating=models.rating_model(session))
        return session

    # ---- settings ---------------------------------------------------------------------------

    async def tenant(self, agent: dict) -> tuple[dict, dict]:
        """The tenant and its workspace settings."""
        tenant = await self.chat.tenant_or_404(agent["tenant_id"])
        return tenant, workspace_settings(tenant)

    async def update_settings(self, admin: dict, changes: dict) -> tuple[dict, dict]:
        require_admin(admin, "change the tenant's settings")
        await self.chat.tenant_or_404(admin["tenant_id"])
        given = {key: value for key, value in changes.items() if value is not None and key in WORKSPACE_SETTINGS}
        if given:
            await self.store.update_tenant(admin["tenant_id"], settings_changes=given)
        return await self.tenant(admin)
