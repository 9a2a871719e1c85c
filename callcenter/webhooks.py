"""Signed webhooks: a tenant's admins register HTTPS endpoints that hear of the tenant's conversations.

    webhook_events    the event names and payloads, the outbox the services queue events through
    webhook_queue     the durable queue (Redis streams, partitioned; in process without Redis)
    webhook_delivery  the background delivery: order per conversation, retries, switching off
    webhook_net       the SSRF rule, the signed POST, the secrets kept encrypted
    webhooks (this)   the admins' use cases behind /api/v1/webhooks

Admins only (an agent gets 403 `admin_only`); at most MAX_WEBHOOKS_PER_TENANT. The signing secret is
shown once, when the webhook is made and when it is rotated; it is stored encrypted and never logged
nor returned otherwise.
"""
from __future__ import annotations

import secrets

from .audit import AuditService
from .config import Config
from .domain import require_admin
from .errors import InvalidInput, NotFound
from .store import Store
from .webhook_events import WebhookOutbox
from .webhook_models import WEBHOOK_EVENTS, delivery_model, webhook_model
from .webhook_net import SecretBox, check_destination

__all__ = ["WebhookService", "WEBHOOK_EVENTS", "webhook_model", "delivery_model", "MAX_WEBHOOKS_PER_TENANT"]

MAX_WEBHOOKS_PER_TENANT = 20
SECRET_PREFIX = "whsec_"




def _events(names: list[str]) -> list[str]:
    if not names:
        raise InvalidInput("events must name at least one event", code="invalid_input")
    unknown = [n for n in names if n not in WEBHOOK_EVENTS]
    if unknown:
        raise InvalidInput(f"unknown event {unknown[0]!r}; the events are {', '.join(WEBHOOK_EVENTS)}",
                           code="unknown_event")
    return [n for n in WEBHOOK_EVENTS if n in names]  # each once, in a stable order


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookService:
    def __init__(self, store: Store, outbox: WebhookOutbox, box: SecretBox, config: Config,
                 audit: AuditService | None = None):
        self.store = store
        self.outbox = outbox
        self.box = box
        self.config = config
        self.audit = audit

    async def _audit(self, admin: dict, action: str, webhook_id: int, details: dict | None = None) -> None:
        if self.audit is not None:
            await self.audit.record(admin, action, "webhook", webhook_id, details)

    async def _webhook_or_404(self, tenant_id: str, webhook_id: int) -> dict:
        row = await self.store.get_webhook(tenant_id, webhook_id)
        if row is None:
            raise NotFound("no such webhook", code="webhook_not_found")
        return row

    async def list_webhooks(self, admin: dict) -> list[dict]:
        require_admin(admin, "manage webhooks")
        return await self.store.list_webhooks(admin["tenant_id"])

    async def create(self, admin: dict, url: str, event_names: list[str], active: bool) -> tuple[dict, str]:
        """(the webhook, its secret: shown this once)."""
        require_admin(admin, "manage webhooks")
        names = _events(event_names)
        await check_destination(url, self.config.webhook_allow_hosts)
        secret = new_secret()
        row = await self.store.create_webhook(admin["tenant_id"], url=url, events=names, secret=self.box.seal(secret),
                                              active=active, max_per_tenant=MAX_WEBHOOKS_PER_TENANT)
        self.outbox.forget(admin["tenant_id"])
        await self._audit(admin, "webhook.created", row["id"], {"url": url, "events": names, "active": active})
        return row, secret

    async def update(self, admin: dict, webhook_id: int, *, url: str | None, event_names: list[str] | None,
                     active: bool | None) -> dict:
        """Only the fields given; switching a webhook on clears its failing state."""
        require_admin(admin, "manage webhooks")
        current = await self._webhook_or_404(admin["tenant_id"], webhook_id)
        changes: dict = {}
        if event_names is not None:
            changes["events"] = _events(event_names)
        if url is not None:
            await check_destination(url, self.config.webhook_allow_hosts)
            changes["url"] = url
        if active is not None:
            changes["active"] = active
            if active:
                changes.update(disabled_reason=None, failing_since_ms=None)
        if not changes:
            return current
        row = await self.store.update_webhook(admin["tenant_id"], webhook_id, changes)
        self.outbox.forget(admin["tenant_id"])
        await self._audit(admin, "webhook.updated", webhook_id,
                          {"fields": sorted(k for k in changes if k in ("url", "events", "active")),
                           **({"url": url} if url is not None else {}), **({"active": active} if active is not None
                                                                            else {})})
        return row

    async def delete(self, admin: dict, webhook_id: int) -> None:
        require_admin(admin, "manage webhooks")
        row = await self._webhook_or_404(admin["tenant_id"], webhook_id)
        await self.store.delete_webhook(admin["tenant_id"], webhook_id)
        self.outbox.forget(admin["tenant_id"])
        await self._audit(admin, "webhook.deleted", webhook_id, {"url": row["url"]})

    async def rotate_secret(self, admin: dict, webhook_id: int) -> tuple[dict, str]:
        """A new secret at once (deliveries from now on are signed with it); shown this once."""
        require_admin(admin, "manage webhooks")
        await self._webhook_or_404(admin["tenant_id"], webhook_id)
        secret = new_secret()
        row = await self.store.update_webhook(admin["tenant_id"], webhook_id, {"secret": self.box.seal(secret)})
        await self._audit(admin, "webhook.secret_rotated", webhook_id)
        return row, secret

    async def deliveries(self, admin: dict, webhook_id: int) -> list[dict]:
        require_admin(admin, "manage webhooks")
        await self._webhook_or_404(admin["tenant_id"], webhook_id)
        return await self.store.list_webhook_deliveries(admin["tenant_id"], webhook_id)
