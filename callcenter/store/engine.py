"""Opening the database: the async engine (URL, TLS, pools, SQLite pragmas), what counts as "the
database is not there" (503), and creating a missing MySQL database for `callcenter migrate`."""
from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ..errors import Unavailable

# How long an SQLite write waits for another process's write lock before it fails (503).
SQLITE_BUSY_TIMEOUT_SECS = 30


class StoreUnavailable(Unavailable):
    """The database cannot be reached; callers answer 503."""

    def __init__(self, detail: str):
        super().__init__("the database is unreachable; try again shortly", code="database_unavailable")
        self.detail = detail


# MySQL/MariaDB error codes that mean "the server is not there" rather than "your SQL is wrong".
_MYSQL_CONNECTION_ERRORS = {2002, 2003, 2006, 2013, 2055, 1040, 1053, 1205, 1213}


# Deadlock and lock-wait timeout: the transaction was rolled back whole and may simply be run again.
_MYSQL_TRANSIENT_CONFLICTS = {1205, 1213}
TRANSIENT_RETRIES = 3


def is_transient_conflict(exc: BaseException) -> bool:
    cause = exc.__cause__
    orig = getattr(cause, "orig", None)
    code = orig.args[0] if orig is not None and getattr(orig, "args", None) else None
    return code in _MYSQL_TRANSIENT_CONFLICTS


def is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError)):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = orig.args[0] if getattr(orig, "args", None) else None
        if isinstance(code, int) and code in _MYSQL_CONNECTION_ERRORS:
            return True
        text = str(orig).lower()
        return any(s in text for s in ("can't connect", "lost connection", "gone away", "connection refused",
                                       "database is locked", "unable to open database"))
    return False


@contextlib.contextmanager
def unavailable_on_connection_errors():
    """Turn "the database is not there" into StoreUnavailable (503); anything else passes as is."""
    try:
        yield
    except IntegrityError:
        raise
    except (DBAPIError, OSError, asyncio.TimeoutError) as exc:
        if is_connection_error(exc):
            raise StoreUnavailable(str(exc)) from exc
        raise


def mysql_error(statement: str | None, exc: Exception) -> DBAPIError:
    """A pymysql error as SQLAlchemy's (the classes, and the 503 mapping, of the rest of the store);
    a dropped connection ("Not connected", an InterfaceError) counts as invalidated."""
    import pymysql

    return DBAPIError.instance(statement, None, exc, pymysql.err.Error, hide_parameters=True,
                               connection_invalidated=isinstance(exc, pymysql.err.InterfaceError))


# A pooled connection that sat unused this long is pinged before use (a database restart drops it
# silently); one used more recently is trusted, as HikariCP does, which saves a round trip per
# checkout on a busy worker. If the database restarted within this window, that checkout fails
# once (503) and the pool is invalidated: the next request gets fresh connections.
PING_AFTER_IDLE_SECS = 1.0


def create_engine(url: str, *, tls_contexts: dict[tuple, ssl.SSLContext] | None = None,
                  **kwargs: Any) -> AsyncEngine:
    """The async engine for `url`, everywhere the product opens one (store, migrations). On MySQL
    the URL's TLS options (`?ssl_ca=…&ssl_cert=…&ssl_key=…&ssl_check_hostname=false`) reach the
    driver as an SSLContext: SQLAlchemy hands them on as a dict, which aiomysql cannot use.
    `tls_contexts` caches the contexts made (share it with other connections of the same URL)."""
    engine = create_async_engine(url, **kwargs)
    if not url.startswith("sqlite"):
        contexts = {} if tls_contexts is None else tls_contexts

        @sa.event.listens_for(engine.sync_engine, "do_connect")
        def _tls_context(dialect, connection_record, cargs, cparams) -> None:
            cparams.update(tls_connect_args(cparams, contexts))
    return engine


# MySQL/MariaDB: the database named in the URL does not exist (ER_BAD_DB_ERROR).
_MYSQL_UNKNOWN_DATABASE = 1049


async def create_database_if_missing(url: str) -> bool:
    """On MySQL/MariaDB, create the URL's database when the server says it does not exist (the
    account usually may: `callcenter migrate` then needs no manual step); whether it was created.
    Anything else (unreachable, denied) raises the driver's error for the caller to explain."""
    if url.startswith("sqlite"):
        return False
    probe = create_engine(url, pool_pre_ping=False)
    try:
        async with probe.connect():
            return False
    except DBAPIError as exc:
        code = exc.orig.args[0] if getattr(exc.orig, "args", None) else None
        if code != _MYSQL_UNKNOWN_DATABASE:
            raise
    finally:
        await probe.dispose()
    parsed = sa.engine.make_url(url)
    server = create_engine(parsed.set(database="").render_as_string(hide_password=False))
    try:
        async with server.begin() as conn:
            quoted = conn.dialect.identifier_preparer.quote_identifier(parsed.database)
            await conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS {quoted} "
                                       "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    finally:
        await server.dispose()
    return True


def tls_connect_args(connect_args: dict[str, Any], cache: dict[tuple, ssl.SSLContext] | None = None) -> dict[str, Any]:
    """{"ssl": SSLContext} for driver arguments whose "ssl" is SQLAlchemy's dict of the URL's TLS
    options (ca, capath, cert, key, cipher, check_hostname); {} when there is none."""
    options = connect_args.get("ssl")
    if not isinstance(options, dict):
        return {}
    key = tuple(sorted(options.items()))
    if cache is not None and key in cache:
        return {"ssl": cache[key]}
    context = ssl.create_default_context(cafile=options.get("ca"), capath=options.get("capath"))
    if options.get("cert"):
        context.load_cert_chain(options["cert"], options.get("key"))
    if options.get("cipher"):
        context.set_ciphers(options["cipher"])
    if options.get("check_hostname") is not None:
        context.check_hostname = bool(options["check_hostname"])
    if cache is not None:
        cache[key] = context
    return {"ssl": context}


def ping_when_idle(engine: AsyncEngine) -> None:
    pool = engine.sync_engine.pool
    dbapi_error = engine.dialect.loaded_dbapi.Error

    def mark_used(_dbapi_conn, record, *_args) -> None:
        record.info["used_at"] = time.monotonic()

    def ping_if_idle(dbapi_conn, record, _proxy) -> None:
        if time.monotonic() - record.info.get("used_at", 0.0) < PING_AFTER_IDLE_SECS:
            return
        try:
            dbapi_conn.ping(False)
        except (dbapi_error, OSError) as exc:
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc
        record.info["used_at"] = time.monotonic()

    sa.event.listen(pool, "connect", mark_used)
    sa.event.listen(pool, "checkin", mark_used)
    sa.event.listen(pool, "checkout", ping_if_idle)


def sqlite_on_connect(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
