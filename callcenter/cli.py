"""The `callcenter` command line."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import re
import sys

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from . import __version__, migrations
from .config import Config, ConfigError
from .errors import Conflict
from .security import MAX_PASSWORD_BYTES, hash_password
from .domain import AGENT_ROLES
from .store import Store, create_database_if_missing

# MySQL/MariaDB: the account may not do that (database, table or command access denied).
MYSQL_ACCESS_DENIED = {1044, 1045, 1142, 1227}

MIN_PASSWORD_CHARS = 8
TENANT_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$")


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Its DEBUG trace prints every statement with its values (message bodies, search text).
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)


def _read_password(prompt: str) -> str:
    """From a prompt on a terminal, else the first line of stdin: never from argv."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Repeat: ") != first:
            raise ConfigError("the passwords do not match")
        password = first
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ConfigError(f"the password must be at most {MAX_PASSWORD_BYTES} bytes")
    return password


async def _with_store(config: Config, work):
    from .server import check_database
    store = await check_database(config)
    try:
        current = await migrations.current_revision(config.effective_database_url)
        if current != migrations.head_revision():
            raise ConfigError("the database schema is not up to date: run `callcenter migrate` first")
        return await work(store)
    finally:
        await store.close()


def cmd_serve(args, config: Config) -> None:
    if config.workers > 1:
        # Before prometheus_client is imported (by .server): workers share their metrics via files.
        import os
        import tempfile

        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="callcenter-metrics-"))
    from .server import serve
    serve(config)


def cmd_migrate(args, config: Config) -> None:
    from .server import check_database

    async def run() -> None:
        config.prepare_embedded_store()
        await _create_database_if_missing(config)
        store = await check_database(config)
        await store.close()
        before = await migrations.current_revision(config.effective_database_url)
        await migrations.upgrade_async(config.effective_database_url)
        after = await migrations.current_revision(config.effective_database_url)
        print(f"schema at {after}" + ("" if before == after else f" (was {before or 'empty'})"))

    asyncio.run(run())


async def _create_database_if_missing(config: Config) -> None:
    """`migrate` on a MySQL server without the configured database creates it, or says how to."""
    from .server import STARTUP_CHECK_TIMEOUT_SECS

    url = config.effective_database_url
    try:
        created = await asyncio.wait_for(create_database_if_missing(url), STARTUP_CHECK_TIMEOUT_SECS)
    except DBAPIError as exc:
        name = make_url(url).database
        code = exc.orig.args[0] if getattr(exc.orig, "args", None) else None
        if code in MYSQL_ACCESS_DENIED:
            raise ConfigError(
                f"the database {name!r} does not exist and this account may not create it: as an administrator, "
                f"run CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci; and grant the "
                "account ALL on it, then `callcenter migrate` again") from None
        return  # unreachable and the like: check_database says so in one line
    except (OSError, asyncio.TimeoutError):
        return
    if created:
        print(f"created database {make_url(url).database!r}")


def cmd_demo(args, config: Config) -> None:
    from .demo import DEMO_AGENT_EMAIL, DEMO_TENANT_ID, seed_demo

    async def work(store: Store) -> None:
        if await seed_demo(store):
            print(f"seeded tenant {DEMO_TENANT_ID}; sign in as {DEMO_AGENT_EMAIL}")
        else:
            print(f"tenant {DEMO_TENANT_ID} already exists; nothing changed")

    asyncio.run(_with_store(config, work))


def cmd_create_tenant(args, config: Config) -> None:
    if not TENANT_ID_RE.match(args.tenant_id):
        raise ConfigError("tenant id: 2-64 lowercase letters, digits and dashes, e.g. acme-shop")

    async def work(store: Store) -> None:
        try:
            await store.create_tenant(args.tenant_id, args.name or args.tenant_id, args.allowed_origin or [])
        except Conflict as exc:
            raise ConfigError(exc.message) from None
        print(f"created tenant {args.tenant_id}")

    asyncio.run(_with_store(config, work))


def cmd_create_agent(args, config: Config) -> None:
    password = _read_password(f"Password for {args.email}: ")

    async def work(store: Store) -> None:
        if await store.get_tenant(args.tenant) is None:
            raise ConfigError(f"no tenant {args.tenant!r}; create it with `callcenter create-tenant`")
        try:
            agent = await store.create_agent(args.tenant, args.email, hash_password(password),
                                             args.name or args.email.split("@")[0], args.role)
        except Conflict as exc:
            raise ConfigError(exc.message) from None
        print(f"created agent {agent['email']} (id {agent['id']}, {agent['role']}) in tenant {args.tenant}")

    asyncio.run(_with_store(config, work))


def cmd_ai_worker(args, config: Config) -> None:
    if not config.uses_redis:
        raise ConfigError("the ai-worker reads its jobs from Redis: set CALLCENTER_REDIS_URL (without Redis, "
                          "`callcenter serve` answers AI replies itself)")
    from .server import idle_until_stopped, run_ai_worker
    if not config.gemini_api_key:
        # Not an error: a deployment may run its AI worker before it has a key (docker compose
        # would restart an exiting one forever). One line, then nothing.
        logging.getLogger("callcenter.ai").warning(
            "AI replies are off: GEMINI_API_KEY is not set; this ai-worker idles until stopped")
        asyncio.run(idle_until_stopped())
        return
    from .server import check_redis

    async def run() -> None:
        await check_redis(config)
        await _with_store(config, lambda store: asyncio.sleep(0))  # reachable and migrated, or one line
        await run_ai_worker(config)

    asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callcenter", description="Self-hosted multi-tenant real-time support chat.",
        epilog="Configuration comes from CALLCENTER_* environment variables; flags override them.")
    parser.add_argument("--version", action="version", version=f"callcenter {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("serve", help="run the web server",
                       description="Run the web server. With no CALLCENTER_DATABASE_URL it uses SQLite in the "
                                   "data dir, migrates it and seeds the demo tenant.")
    p.add_argument("--host", help="address to bind (default 127.0.0.1, this machine only; 0.0.0.0 for every "
                   "interface, behind a proxy listed in CALLCENTER_TRUSTED_PROXIES)")
    p.add_argument("--port", type=int, help="port (default $CALLCENTER_PORT or 8080)")
    p.add_argument("--workers", type=int, help="worker processes (more than 1 needs Redis and MySQL)")
    p.add_argument("--data-dir", help="data directory for the embedded default (default .callcenter)")
    p.add_argument("--seed-demo", action="store_true", help="also seed the demo tenant on MySQL")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("migrate", help="apply database migrations",
                       description="Bring the database schema up to date (safe to run repeatedly).")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("demo", help="seed the demo tenant", description="Seed tenant demo-tenant with two "
                       "agents and a few past conversations into the configured store.")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("create-tenant", help="create a tenant", description="Create a tenant.")
    p.add_argument("tenant_id", help="slug id, e.g. acme-shop")
    p.add_argument("--name", help="display name")
    p.add_argument("--allowed-origin", action="append", metavar="ORIGIN",
                   help="an origin allowed to embed the widget, e.g. https://www.acme.com (repeatable)")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_create_tenant)

    p = sub.add_parser("create-agent", help="create an agent",
                       description="Create an agent. The password is asked for on a terminal, or read from "
                                   "the first line of stdin; it is never taken from the command line.")
    p.add_argument("--tenant", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--name")
    p.add_argument("--role", choices=AGENT_ROLES, default="agent")
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_create_agent)

    p = sub.add_parser("ai-worker", help="run an AI reply worker",
                       description="Answer AI reply jobs from the Redis stream (several may run; a job whose "
                                   "worker died is taken over by another). Needs CALLCENTER_REDIS_URL, the "
                                   "database and GEMINI_API_KEY; SIGTERM finishes the jobs in hand first.")
    p.set_defaults(func=cmd_ai_worker)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        overrides = {"host": getattr(args, "host", None), "port": getattr(args, "port", None),
                     "workers": getattr(args, "workers", None)}
        if getattr(args, "data_dir", None):
            from pathlib import Path
            overrides["data_dir"] = Path(args.data_dir)
        if getattr(args, "seed_demo", False):
            overrides["seed_demo"] = True
        config = Config.from_env(**overrides)
        config.validate()
        _configure_logging(config.log_level)
        args.func(args, config)
    except ConfigError as exc:
        print(f"callcenter: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
