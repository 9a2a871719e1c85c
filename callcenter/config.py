"""Configuration: environment first, command-line flags override.

Every setting has one name here; `Config.from_env()` reads the environment and
`Config.validate()` turns a bad combination into a `ConfigError` whose message
is the one line the CLI prints before exiting.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SQLITE_SCHEME = "sqlite+aiosqlite"
MYSQL_SCHEME = "mysql+aiomysql"
SUPPORTED_DB_SCHEMES = (SQLITE_SCHEME, MYSQL_SCHEME)
SUPPORTED_BUS_SCHEMES = ("redis", "rediss", "redis+cluster", "rediss+cluster", "memory")

DEFAULT_PORT = 8080
DEFAULT_HOST = "127.0.0.1"
# Forwarded headers (X-Forwarded-For, X-Real-IP, X-Forwarded-Proto) are believed only from these peers:
# a proxy on this machine, as gunicorn and uvicorn default. Anyone else's are ignored.
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")
# Tokens are signed with the secret key: a short one can be guessed offline from any token.
MIN_SECRET_KEY_CHARS = 32
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
SECRET_KEY_FILENAME = "secret_key"
SQLITE_FILENAME = "callcenter.sqlite3"
MAX_UPLOAD_BYTES_LIMIT = 50 * 1024 * 1024
# Where browsers' push subscriptions may point: the push services of Chrome/Edge/Opera (FCM),
# Firefox, Safari and Windows. An endpoint elsewhere is refused, so an agent's token cannot make
# the server POST to an arbitrary (internal) address. "*.x" matches x's subdomains.
DEFAULT_PUSH_SERVICE_HOSTS = ("fcm.googleapis.com", "updates.push.services.mozilla.com", "*.push.apple.com",
                              "*.notify.windows.com")


class ConfigError(Exception):
    """A configuration that cannot work; the message is shown to the operator as is."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _env_number(name: str, default: int | float) -> int | float:
    """A positive rate-limit number from the environment (a float where the default is one)."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw) if isinstance(default, float) else int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {'number' if isinstance(default, float) else 'whole number'}, "
                          f"got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
    return value


# Config field -> environment variable, for every rate limit.
RATE_LIMIT_ENV = {
    "login_max_failures": "CALLCENTER_LOGIN_MAX_FAILURES",
    "login_window_secs": "CALLCENTER_LOGIN_WINDOW_SECS",
    "session_starts_per_ip": "CALLCENTER_SESSION_STARTS_PER_IP",
    "session_start_window_secs": "CALLCENTER_SESSION_START_WINDOW_SECS",
    "messages_per_session": "CALLCENTER_MESSAGES_PER_SESSION",
    "message_window_secs": "CALLCENTER_MESSAGE_WINDOW_SECS",
    "ws_frames_per_sec": "CALLCENTER_WS_FRAMES_PER_SEC",
    "ws_frame_burst": "CALLCENTER_WS_FRAME_BURST",
    "ws_flood_limit": "CALLCENTER_WS_FLOOD_LIMIT",
    "uploads_per_window": "CALLCENTER_UPLOADS_PER_WINDOW",
    "upload_window_secs": "CALLCENTER_UPLOAD_WINDOW_SECS",
    "max_concurrent_uploads_per_ip": "CALLCENTER_CONCURRENT_UPLOADS_PER_IP",
}

# Config field -> environment variable, for how long a request body may take to arrive.
BODY_TIMEOUT_ENV = {
    "body_timeout_secs": "CALLCENTER_BODY_TIMEOUT_SECS",
    "upload_timeout_secs": "CALLCENTER_UPLOAD_TIMEOUT_SECS",
    "body_idle_timeout_secs": "CALLCENTER_BODY_IDLE_TIMEOUT_SECS",
}


# Config field -> environment variable, for the AI replies' tuning (see callcenter/ai/).
AI_ENV = {
    "ai_timeout_secs": "CALLCENTER_AI_TIMEOUT_SECS",
    "ai_max_attempts": "CALLCENTER_AI_MAX_ATTEMPTS",
    "ai_retry_backoff_secs": "CALLCENTER_AI_RETRY_BACKOFF_SECS",
    "ai_reclaim_secs": "CALLCENTER_AI_RECLAIM_SECS",
    "ai_concurrency": "CALLCENTER_AI_CONCURRENCY",
    "ai_history_messages": "CALLCENTER_AI_HISTORY_MESSAGES",
    "ai_breaker_failures": "CALLCENTER_AI_BREAKER_FAILURES",
    "ai_breaker_cooldown_secs": "CALLCENTER_AI_BREAKER_COOLDOWN_SECS",
}


# Config field -> environment variable, for webhook deliveries (see callcenter/webhook_delivery.py): the
# first retry's delay (doubling after each failure), the longest delay, how long an event is retried (and
# a webhook may fail before it is switched off), one attempt's timeout, and how long a worker's claim on a
# queue partition lasts without renewal (then another worker takes its deliveries over).
WEBHOOK_ENV = {
    "webhook_retry_base_secs": "CALLCENTER_WEBHOOK_RETRY_BASE_SECS",
    "webhook_retry_max_secs": "CALLCENTER_WEBHOOK_RETRY_MAX_SECS",
    "webhook_give_up_secs": "CALLCENTER_WEBHOOK_GIVE_UP_SECS",
    "webhook_timeout_secs": "CALLCENTER_WEBHOOK_TIMEOUT_SECS",
    "webhook_lease_secs": "CALLCENTER_WEBHOOK_LEASE_SECS",
}


# Config field -> environment variable, for e-mail to visitors (see callcenter/mail.py): how long a visitor
# must have had no widget connected before an agent's reply is e-mailed, how long the replies of one e-mail
# are collected, the first retry's delay after an SMTP failure (doubling up to the longest delay), and how
# long an e-mail is retried before it is given up.
MAIL_ENV = {
    "mail_offline_delay_secs": "CALLCENTER_MAIL_OFFLINE_DELAY_SECS",
    "mail_batch_secs": "CALLCENTER_MAIL_BATCH_SECS",
    "mail_retry_base_secs": "CALLCENTER_MAIL_RETRY_BASE_SECS",
    "mail_retry_max_secs": "CALLCENTER_MAIL_RETRY_MAX_SECS",
    "mail_give_up_secs": "CALLCENTER_MAIL_GIVE_UP_SECS",
}
SUPPORTED_SMTP_SCHEMES = ("smtp", "smtps")
# How long presence remembers when a subject was last online (callcenter/presence.py; its keys expire by
# themselves): the longest CALLCENTER_MAIL_OFFLINE_DELAY_SECS, which waits from that time.
LAST_SEEN_RETENTION_SECS = 3600


def parse_networks(raw: str, name: str) -> tuple[str, ...]:
    """A comma- or space-separated list of addresses and CIDRs, each checked (ConfigError naming the setting)."""
    items = tuple(item for item in raw.replace(",", " ").split() if item)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR range (e.g. 10.0.0.0/8)") from None
    return items


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@dataclasses.dataclass
class Config:
    database_url: str | None = None
    redis_url: str | None = None
    redis_prefix: str = "cc:"
    secret_key: str | None = None
    data_dir: Path = dataclasses.field(default_factory=lambda: Path(".callcenter"))
    host: str = DEFAULT_HOST
    # Peers whose forwarded headers are believed (addresses or CIDRs); see callcenter/handlers/edge.py.
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    port: int = DEFAULT_PORT
    workers: int = 1
    gemini_api_key: str | None = None
    gemini_model: str = DEFAULT_GEMINI_MODEL
    gemini_base_url: str | None = None
    # AI replies: the whole budget of one answer (every retry included; then the polite fallback and
    # a handoff), attempts on 429/5xx with exponential backoff, how long a job may sit unacknowledged
    # in the Redis stream before another ai-worker takes it over, jobs per ai-worker process, the
    # messages the model sees, and the circuit breaker (failures in a row, then a pause).
    ai_timeout_secs: float = 20.0
    ai_max_attempts: int = 3
    ai_retry_backoff_secs: float = 0.5
    ai_reclaim_secs: float = 60.0
    ai_concurrency: int = 8
    ai_history_messages: int = 12
    ai_breaker_failures: int = 5
    ai_breaker_cooldown_secs: float = 30.0
    # Request body limit for the JSON API; bigger bodies get 413.
    max_body_bytes: int = 64 * 1024
    # One uploaded file (CALLCENTER_MAX_UPLOAD_BYTES); a conversation's files together may take
    # upload_quota_files times that.
    max_upload_bytes: int = 10 * 1024 * 1024
    upload_quota_files: int = 10
    # An upload no message carries after this long is deleted (a chip left in a closed tab).
    unsent_upload_ttl_secs: int = 24 * 3600
    # Uploads one worker takes at once: each holds its file in memory a few times over (up to ~5×
    # max_upload_bytes), so this bounds what a burst of them can take; more get 429 at once.
    max_concurrent_uploads: int = 8
    # ... of which one client address may hold this many (a few stalled uploads cannot take them all).
    max_concurrent_uploads_per_ip: int = 2
    # A request body must arrive within body_timeout_secs (uploads: upload_timeout_secs), and never
    # pause for body_idle_timeout_secs: a client that sends headers and then stalls is disconnected
    # instead of holding a connection (and an upload slot) for minutes.
    body_timeout_secs: float = 30.0
    upload_timeout_secs: float = 300.0
    body_idle_timeout_secs: float = 15.0
    max_message_chars: int = 5000
    agent_token_ttl_secs: int = 12 * 3600
    visitor_token_ttl_secs: int = 30 * 24 * 3600
    # Rate limits (in Redis when CALLCENTER_REDIS_URL is set, so every worker shares them; in memory
    # otherwise; messages per session in the session row). Each has a CALLCENTER_* variable, listed
    # in RATE_LIMIT_ENV.
    login_max_failures: int = 10  # per email and tenant; five times as many per IP
    login_window_secs: int = 300
    session_starts_per_ip: int = 30
    session_start_window_secs: int = 60
    # Messages one sender (the visitor, or the agents) may send into one session per window, REST and WS.
    messages_per_session: int = 1200
    message_window_secs: int = 60
    # Inbound WebSocket frames: a token bucket per socket (rate, burst); a client refused more than
    # ws_flood_limit frames within 10 s is disconnected with close code 4029.
    ws_frames_per_sec: float = 20.0
    ws_frame_burst: int = 60
    ws_flood_limit: int = 300
    # File uploads per uploader (a visitor, or an agent) per window.
    uploads_per_window: int = 30
    upload_window_secs: int = 600
    # Every socket is pinged this often; one that has not answered by the next round is dropped.
    heartbeat_interval_secs: float = 20.0
    # Web Push to agents' devices: the VAPID key (base64url of the 32-byte P-256 private key; by
    # default derived from the secret key, so every worker has the same one), the contact the push
    # services see, the hosts endpoints may be on, an extra CA bundle for them (a private push
    # service; tests), and at most one push per agent and conversation within the cooldown.
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@localhost"
    push_service_hosts: tuple[str, ...] = DEFAULT_PUSH_SERVICE_HOSTS
    push_ca_file: str | None = None
    push_cooldown_secs: int = 30
    # One search call reads at most this many conversations (then says how far back it got and the
    # next call goes on), so a rare word never reads a big tenant's whole history in one request.
    search_scan_sessions: int = 20_000
    # Webhooks: hosts (names or IPs, exact) an admin's webhook may point to although they are not public,
    # over http too (CALLCENTER_WEBHOOK_ALLOW_HOSTS, comma separated); and the delivery timings (WEBHOOK_ENV).
    webhook_allow_hosts: tuple[str, ...] = ()
    webhook_retry_base_secs: float = 2.0
    webhook_retry_max_secs: float = 3600.0
    webhook_give_up_secs: float = 24 * 3600.0
    webhook_timeout_secs: float = 10.0
    webhook_lease_secs: float = 30.0
    # E-mail to visitors (callcenter/mail.py): off unless CALLCENTER_SMTP_URL is set
    # (smtp://user:pass@host:port with STARTTLS when the server offers it, smtps:// for TLS from the
    # start); the From address (CALLCENTER_MAIL_FROM, default noreply@<SMTP host>); the server's public
    # address for the links in e-mails (CALLCENTER_PUBLIC_URL, e.g. https://chat.example.com; default
    # http://<host>:<port>); and the timings (MAIL_ENV).
    smtp_url: str | None = None
    mail_from: str | None = None
    public_url: str | None = None
    mail_offline_delay_secs: float = 120.0
    mail_batch_secs: float = 180.0
    mail_retry_base_secs: float = 5.0
    mail_retry_max_secs: float = 600.0
    mail_give_up_secs: float = 3 * 24 * 3600.0
    seed_demo: bool = False
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, **overrides) -> "Config":
        env = os.environ
        cfg = cls(
            database_url=env.get("CALLCENTER_DATABASE_URL") or None,
            redis_url=env.get("CALLCENTER_REDIS_URL") or None,
            redis_prefix=env.get("CALLCENTER_REDIS_PREFIX") or "cc:",
            secret_key=env.get("CALLCENTER_SECRET_KEY") or None,
            data_dir=Path(env.get("CALLCENTER_DATA_DIR") or ".callcenter"),
            port=_env_int("CALLCENTER_PORT", DEFAULT_PORT),
            trusted_proxies=parse_networks(env["CALLCENTER_TRUSTED_PROXIES"], "CALLCENTER_TRUSTED_PROXIES")
                            if env.get("CALLCENTER_TRUSTED_PROXIES") is not None else DEFAULT_TRUSTED_PROXIES,
            gemini_api_key=env.get("GEMINI_API_KEY") or None,
            gemini_model=env.get("CALLCENTER_GEMINI_MODEL") or DEFAULT_GEMINI_MODEL,
            gemini_base_url=env.get("CALLCENTER_GEMINI_BASE_URL") or None,
            **{field: _env_number(name, getattr(cls, field)) for field, name in AI_ENV.items()},
            **{field: _env_number(name, getattr(cls, field)) for field, name in RATE_LIMIT_ENV.items()},
            **{field: _env_number(name, getattr(cls, field)) for field, name in BODY_TIMEOUT_ENV.items()},
            max_upload_bytes=_env_number("CALLCENTER_MAX_UPLOAD_BYTES", cls.max_upload_bytes),
            vapid_private_key=env.get("CALLCENTER_VAPID_PRIVATE_KEY") or None,
            vapid_subject=env.get("CALLCENTER_VAPID_SUBJECT") or cls.vapid_subject,
            push_service_hosts=tuple(h.strip().lower() for h in env["CALLCENTER_PUSH_SERVICE_HOSTS"].split(",")
                                     if h.strip()) if env.get("CALLCENTER_PUSH_SERVICE_HOSTS") else
                               DEFAULT_PUSH_SERVICE_HOSTS,
            push_ca_file=env.get("CALLCENTER_PUSH_CA_FILE") or None,
            push_cooldown_secs=_env_number("CALLCENTER_PUSH_COOLDOWN_SECS", cls.push_cooldown_secs),
            search_scan_sessions=_env_number("CALLCENTER_SEARCH_SCAN_SESSIONS", cls.search_scan_sessions),
            webhook_allow_hosts=tuple(h.strip().lower().strip("[]") for h in
                                      (env.get("CALLCENTER_WEBHOOK_ALLOW_HOSTS") or "").split(",") if h.strip()),
            **{field: _env_number(name, getattr(cls, field)) for field, name in WEBHOOK_ENV.items()},
            smtp_url=env.get("CALLCENTER_SMTP_URL") or None,
            mail_from=env.get("CALLCENTER_MAIL_FROM") or None,
            public_url=(env.get("CALLCENTER_PUBLIC_URL") or "").rstrip("/") or None,
            **{field: _env_number(name, getattr(cls, field)) for field, name in MAIL_ENV.items()},
            log_level=env.get("CALLCENTER_LOG_LEVEL") or "INFO",
        )
        for key, value in overrides.items():
            if value is not None:
                setattr(cfg, key, value)
        return cfg

    @property
    def embedded(self) -> bool:
        """True when running on the zero-configuration SQLite default."""
        return self.database_url is None or self.database_url.startswith(SQLITE_SCHEME)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"{SQLITE_SCHEME}:///{(self.data_dir / SQLITE_FILENAME).resolve()}"

    def validate(self) -> None:
        db_url = self.effective_database_url
        scheme = db_url.split("://", 1)[0] if "://" in db_url else ""
        if scheme not in SUPPORTED_DB_SCHEMES:
            raise ConfigError(
                f"CALLCENTER_DATABASE_URL has unsupported scheme {scheme or db_url!r}; "
                f"use {SQLITE_SCHEME}:///path or {MYSQL_SCHEME}://user:pass@host/db"
            )
        if self.redis_url:
            bus_scheme = self.redis_url.split("://", 1)[0] if "://" in self.redis_url else ""
            if bus_scheme not in SUPPORTED_BUS_SCHEMES:
                raise ConfigError(
                    f"CALLCENTER_REDIS_URL has unsupported scheme {bus_scheme or self.redis_url!r}; "
                    "use redis://host:port/db or redis+cluster://host:port,host:port"
                )
        if self.redis_cluster:
            self._validate_cluster_url()
        for name, url in (("CALLCENTER_DATABASE_URL", db_url),
                          ("CALLCENTER_REDIS_URL", None if self.redis_cluster else self.redis_url)):
            try:
                urlsplit(url or "").port  # a malformed port raises here rather than as a traceback later
            except ValueError:
                raise ConfigError(f"{name} is not a valid URL (bad port?): {redact_url(url)}") from None
        if scheme == MYSQL_SCHEME and not self.secret_key:
            raise ConfigError(
                "CALLCENTER_SECRET_KEY is required with MySQL: set it to a long random string "
                "shared by all workers"
            )
        if self.secret_key is not None and len(self.secret_key) < MIN_SECRET_KEY_CHARS:
            raise ConfigError(
                f"CALLCENTER_SECRET_KEY must have at least {MIN_SECRET_KEY_CHARS} characters (it has "
                f"{len(self.secret_key)}): make one with python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        parse_networks(" ".join(self.trusted_proxies), "CALLCENTER_TRUSTED_PROXIES")
        if self.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if self.workers > 1 and not self.uses_redis:
            raise ConfigError(
                f"--workers {self.workers} needs CALLCENTER_REDIS_URL: workers share events, "
                "rate limits and presence through Redis"
            )
        if self.workers > 1 and scheme == SQLITE_SCHEME:
            raise ConfigError(f"--workers {self.workers} needs MySQL/MariaDB (CALLCENTER_DATABASE_URL)")
        if self.max_upload_bytes > MAX_UPLOAD_BYTES_LIMIT:
            raise ConfigError(f"CALLCENTER_MAX_UPLOAD_BYTES may be at most {MAX_UPLOAD_BYTES_LIMIT} "
                              "(files are kept in the database, whose packets this keeps under 64 MiB)")
        if not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ConfigError("CALLCENTER_VAPID_SUBJECT must be a mailto: or https: URL (push services "
                              f"contact the operator there), got {self.vapid_subject!r}")
        if self.vapid_private_key:
            from .webpush import VapidKey
            try:
                VapidKey.from_config(self.vapid_private_key, "", self.vapid_subject)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if self.push_ca_file and not Path(self.push_ca_file).is_file():
            raise ConfigError(f"CALLCENTER_PUSH_CA_FILE is not a file: {self.push_ca_file}")
        if not (0 < self.port < 65536):
            raise ConfigError(f"port {self.port} is out of range")
        self._validate_mail()

    def _validate_cluster_url(self) -> None:
        from .redis_client import cluster_options  # (only here: importing the config stays light)

        try:
            cluster_options(self.redis_url)
        except ValueError as exc:
            raise ConfigError(f"CALLCENTER_REDIS_URL is not a valid Redis Cluster URL ({exc}): "
                              f"{redact_url(self.redis_url)}; use redis+cluster://[user:pass@]host:port[,host:port…]"
                              ) from None

    def _validate_mail(self) -> None:
        if self.smtp_url:
            try:
                parts = urlsplit(self.smtp_url)
                parts.port  # a malformed port raises here
            except ValueError:
                raise ConfigError(f"CALLCENTER_SMTP_URL is not a valid URL: {redact_url(self.smtp_url)}") from None
            if parts.scheme not in SUPPORTED_SMTP_SCHEMES or not parts.hostname:
                raise ConfigError("CALLCENTER_SMTP_URL must be smtp://user:pass@host:port or smtps://user:pass@host:port, "
                                  f"got {redact_url(self.smtp_url)}")
        if self.mail_from is not None:
            from email.headerregistry import Address  # (only here: importing the config stays light)

            try:
                address = Address(addr_spec=self.mail_from)
            except (ValueError, IndexError, TypeError):
                address = None
            if address is None or not address.domain or "\n" in self.mail_from or "\r" in self.mail_from:
                raise ConfigError(f"CALLCENTER_MAIL_FROM must be an e-mail address (noreply@example.com), "
                                  f"got {self.mail_from!r}")
        if not 0 <= self.mail_offline_delay_secs <= LAST_SEEN_RETENTION_SECS:
            raise ConfigError(f"CALLCENTER_MAIL_OFFLINE_DELAY_SECS must be between 0 and {LAST_SEEN_RETENTION_SECS}, "
                              f"got {self.mail_offline_delay_secs:g}")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ConfigError(f"CALLCENTER_PUBLIC_URL must be an http(s) URL, got {self.public_url!r}")

    @property
    def mail_enabled(self) -> bool:
        """E-mail to visitors is on only with an SMTP server to send through."""
        return bool(self.smtp_url)

    @property
    def uses_redis(self) -> bool:
        """Redis (one server or a cluster) carries the bus, rate limits, presence and the queues."""
        return bool(self.redis_url) and not self.redis_url.startswith("memory")

    @property
    def redis_cluster(self) -> bool:
        """CALLCENTER_REDIS_URL names a Redis Cluster (redis+cluster:// or rediss+cluster://)."""
        return bool(self.redis_url) and self.redis_url.split("://", 1)[0].lower().endswith("+cluster")

    def prepare_embedded_store(self) -> None:
        """The data dir and the SQLite file, created owner-only (0700 / 0600) when they do not exist:
        the file holds every conversation and the agents' password hashes. (SQLite gives its -wal and
        -shm files the database file's mode.)"""
        if not self.embedded:
            return
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        from sqlalchemy.engine import make_url  # (only here: importing the config stays light)

        database = make_url(self.effective_database_url).database or ""
        path = Path(database)
        if database and database != ":memory:" and not database.startswith("file:") and not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:  # another process made it meanwhile
                pass

    def ensure_secret_key(self) -> str:
        """The secret key; the embedded default makes one and keeps it in the data dir."""
        if self.secret_key:
            return self.secret_key
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.data_dir / SECRET_KEY_FILENAME
        if path.exists():
            self.secret_key = path.read_text().strip()
        else:
            self.secret_key = secrets.token_urlsafe(48)
            # Created owner-only from the start: never readable by others, not even briefly.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(self.secret_key)
        return self.secret_key
