"""The tenant's settings (admin console): its name, the origins allowed to embed its widget, the
workspace settings (csat_enabled), and the widget's look and pre-chat form.

Stored in the tenant row (`allowed_origins`, and `settings` JSON: `widget` beside the older keys).
The older keys the widget and the chat service read (`require_name`, `require_email`, `greeting`)
are kept in step with `widget.prechat` and `widget.greetings.en`, so both shapes stay true.

Origins are read from the store on every widget request and socket (no per-worker cache), so a
change applies on every worker at once.
"""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from . import business_hours
from .ai.service import AIService
from .audit import AuditService
from .domain import WORKSPACE_SETTINGS, require_admin, workspace_settings
from .errors import InvalidInput, NotFound
from .routing import RoutingService
from .store import Store

MAX_ORIGINS = 50
LANGUAGES = ("en", "es", "fr", "de")
PRECHAT_CHOICES = ("required", "optional", "hidden")
POSITIONS = ("bottom-right", "bottom-left")
LIMITS = {"title": 60, "subtitle": 120, "greeting": 500}
WIDGET_DEFAULTS = {"title": "", "subtitle": "", "primary_color": "#2563eb", "position": "bottom-right"}
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_IPV6 = re.compile(r"\[[0-9a-f:.]+\]")


def normalize_origin(raw: str) -> str:
    """`scheme://host[:port]` in lower case (the default port dropped); InvalidInput naming it otherwise."""
    def bad(why: str) -> InvalidInput:
        return InvalidInput(f"{raw[:200]!r} is not an origin ({why}): use scheme://host[:port]", code="invalid_origin")

    text = raw.strip()
    if not text or len(text) > 300 or any(c.isspace() or ord(c) < 32 for c in text):
        raise bad("empty, too long or with spaces")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad("unreadable") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad("only http and https")
    if "@" in parts.netloc:
        raise bad("no user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment or text.endswith(("?", "#")):
        raise bad("no path, query or fragment")
    netloc = parts.netloc.lower()
    host = netloc.rsplit(":", 1)[0] if port is not None or netloc.endswith(":") else netloc
    if not (_HOST.fullmatch(host) or _IPV6.fullmatch(host)) or len(host) > 253:
        raise bad("not a host name")
    if port == 0:
        raise bad("port 0")
    if (scheme, port) in (("http", 80), ("https", 443)):
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def widget_settings(tenant: dict) -> dict:
    """The widget's settings, defaults and the older keys filled in."""
    stored = tenant.get("settings") or {}
    widget = stored.get("widget") if isinstance(stored.get("widget"), dict) else {}
    out = {key: widget.get(key, default) for key, default in WIDGET_DEFAULTS.items()}
    greetings = widget.get("greetings") if isinstance(widget.get("greetings"), dict) else {}
    out["greetings"] = {lang: str(greetings.get(lang, "")) for lang in LANGUAGES}
    if not out["greetings"]["en"] and "greetings" not in widget:
        out["greetings"]["en"] = str(stored.get("greeting", ""))
    prechat = widget.get("prechat") if isinstance(widget.get("prechat"), dict) else {}
    out["prechat"] = {
        "name": prechat.get("name") or ("required" if stored.get("require_name") else "optional"),
        "email": prechat.get("email") or ("required" if stored.get("require_email") else "optional"),
    }
    return out


def _check_widget(changes: dict) -> dict:
    """The given widget fields, checked (InvalidInput for a bad one)."""
    out = {}
    for key in ("title", "subtitle"):
        if changes.get(key) is not None:
            value = str(changes[key]).strip()
            if len(value) > LIMITS[key]:
                raise InvalidInput(f"widget.{key} is longer than {LIMITS[key]} characters", code="invalid_input")
            out[key] = value
    if changes.get("primary_color") is not None:
        if not _COLOR.fullmatch(changes["primary_color"]):
            raise InvalidInput("widget.primary_color must be #rrggbb", code="invalid_color")
        out["primary_color"] = changes["primary_color"].lower()
    if changes.get("position") is not None:
        if changes["position"] not in POSITIONS:
            raise InvalidInput("widget.position must be bottom-right or bottom-left", code="invalid_input")
        out["position"] = changes["position"]
    for group, allowed in (("greetings", LANGUAGES), ("prechat", ("name", "email"))):
        given = {k: v for k, v in (changes.get(group) or {}).items() if v is not None}
        for key, value in given.items():
            if key not in allowed:
                raise InvalidInput(f"widget.{group}.{key} is not a known field", code="invalid_input")
            if group == "greetings" and len(str(value).strip()) > LIMITS["greeting"]:
                raise InvalidInput(f"widget.greetings.{key} is longer than {LIMITS['greeting']} characters",
                                   code="invalid_input")
            if group == "prechat" and value not in PRECHAT_CHOICES:
                raise InvalidInput(f"widget.prechat.{key} must be required, optional or hidden", code="invalid_input")
        if given:
            out[group] = {k: (str(v).strip() if group == "greetings" else v) for k, v in given.items()}
    return out


class TenantSettingsService:
    def __init__(self, store: Store, audit: AuditService, routing: RoutingService, ai: AIService):
        self.store = store
        self.audit = audit
        self.routing = routing
        self.ai = ai

    async def _tenant(self, tenant_id: str) -> dict:
        tenant = await self.store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound("no such tenant", code="tenant_not_found")
        return tenant

    async def read(self, agent: dict) -> tuple[dict, dict]:
        """(the tenant row, its settings: workspace ones (routing among them), `widget`, `business_hours`)."""
        tenant = await self._tenant(agent["tenant_id"])
        return tenant, {**workspace_settings(tenant), "widget": widget_settings(tenant),
                        "business_hours": business_hours.settings_of(tenant)}

    async def public(self, tenant_id: str) -> tuple[dict, dict, dict, dict]:
        """(the tenant row, the widget's settings, whether it is open now (`availability`), what the
        widget may show of the team) for the public route."""
        tenant = await self._tenant(tenant_id)
        availability = business_hours.availability(business_hours.settings_of(tenant), self.routing.now_ms())
        return tenant, widget_settings(tenant), availability, await self.routing.team_info(tenant_id)

    async def update(self, admin: dict, changes: dict) -> tuple[dict, dict]:
        """Only the fields given change; every check passes before anything is written."""
        require_admin(admin, "change the tenant's settings")
        tenant = await self._tenant(admin["tenant_id"])
        values: dict = {}
        details: dict = {}
        if changes.get("name") is not None and changes["name"] != tenant["name"]:
            values["name"] = changes["name"]
        if changes.get("allowed_origins") is not None:
            origins = list(dict.fromkeys(normalize_origin(o) for o in changes["allowed_origins"]))
            if len(origins) > MAX_ORIGINS:
                raise InvalidInput(f"at most {MAX_ORIGINS} allowed origins", code="too_many_origins")
            old = set(tenant["allowed_origins"])
            if set(origins) != old:
                values["allowed_origins"] = origins
                details["origins_added"] = sorted(set(origins) - old)
                details["origins_removed"] = sorted(old - set(origins))
        settings = dict(tenant["settings"])
        for key in WORKSPACE_SETTINGS:
            if changes.get(key) is not None and workspace_settings(tenant)[key] != changes[key]:
                settings[key] = changes[key]
        hours_now = business_hours.settings_of(tenant)
        hours_changes = business_hours.check(changes.get("business_hours") or {})
        if hours_changes:
            hours = business_hours.merge(hours_now, hours_changes)
            if hours != hours_now:
                settings["business_hours"] = hours
        widget_changes = _check_widget(changes.get("widget") or {})
        current = widget_settings(tenant)  # what the widget shows now: stored values, defaults filled in
        if widget_changes:
            widget = dict(current)
            for key, value in widget_changes.items():
                widget[key] = {**current[key], **value} if isinstance(value, dict) else value
            settings["widget"] = widget
            settings["require_name"] = widget["prechat"]["name"] == "required"
            settings["require_email"] = widget["prechat"]["email"] == "required"
            settings["greeting"] = widget["greetings"]["en"]
        fields = [k for k in ("name", "allowed_origins") if k in values]
        fields += [k for k in WORKSPACE_SETTINGS if settings.get(k) != tenant["settings"].get(k)]
        fields += [f"widget.{k}" for k in widget_changes if settings["widget"][k] != current[k]]
        if "business_hours" in settings and settings["business_hours"] != hours_now:
            fields.append("business_hours")
        if fields:
            # Only what this change touched, key by key (merged under the row's lock).
            changed = _changed({**tenant["settings"], "widget": current, "business_hours": hours_now}, settings)
            if changed:
                values["settings_changes"] = changed
            await self.store.update_tenant(admin["tenant_id"], **values)
            await self.audit.record(admin, "tenant.updated", "tenant", admin["tenant_id"], {"fields": fields, **details})
        updated = await self.read(admin)
        if fields:
            await self._reroute(updated[0], fields)
        return updated

    async def _reroute(self, tenant: dict, fields: list[str]) -> None:
        """Routing follows a change of its settings (`tenant`: as saved): switched mode (the queue fills or
        empties), new hours (it may be opening time now) or alert threshold (the team view)."""
        if "routing" in fields:
            await self.routing.mode_changed(tenant["id"], self.routing.mode(tenant), self.ai.answers_first(tenant))
        elif "business_hours" in fields or "queue_alert_secs" in fields:
            self.routing.changed(tenant["id"])


def _changed(before: dict, after: dict) -> dict:
    """The keys of `after` that differ from `before`, objects compared key by key."""
    out = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, dict) and isinstance(old, dict):
            inner = _changed(old, value)
            if inner:
                out[key] = inner
        elif old != value:
            out[key] = value
    return out
