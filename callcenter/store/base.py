"""What every part of the store shares: the engine, read and write connections, the send writer."""
from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any, AsyncIterator

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..batching import Batcher
from .engine import (SQLITE_BUSY_TIMEOUT_SECS, create_engine, ping_when_idle, sqlite_on_connect, tls_connect_args,
                     unavailable_on_connection_errors)
from .writer import SendWriter


class StoreBase:
    """Async access to the database. One per process; safe for concurrent use. The queries of each
    aggregate are in a module of their own (`Store` in __init__ puts them together)."""

    _MYSQL_CONNECT_ARGS = {"charset": "utf8mb4", "connect_timeout": 5}

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Errors (logged on a 500/503) show the SQL but not the values: message bodies, emails, search text.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_SECS}
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=3600,
                pool_timeout=10,
                connect_args=self._MYSQL_CONNECT_ARGS,
            )
        # One SSLContext per set of TLS options, for the pool and the send writer's connections alike.
        self._tls_contexts: dict[tuple, ssl.SSLContext] = {}
        self.engine: AsyncEngine = create_engine(url, tls_contexts=self._tls_contexts, **kwargs)
        if self.is_sqlite:
            sa.event.listen(self.engine.sync_engine, "connect", sqlite_on_connect)
        else:
            ping_when_idle(self.engine)
        # SQLite has one writer; serialising our write transactions avoids SQLITE_BUSY upgrades.
        self._sqlite_write_lock = asyncio.Lock() if self.is_sqlite else None
        self._writer = SendWriter(self)

    def driver_connect_args(self, *, client_flag: int = 0) -> dict[str, Any]:
        """aiomysql.connect() arguments for a connection of the engine's database outside its pool
        (autocommit off, like the pool's); `client_flag` is added to SQLAlchemy's flags."""
        _args, kwargs = self.engine.dialect.create_connect_args(self.engine.url)
        kwargs = {**kwargs, **self._MYSQL_CONNECT_ARGS}
        kwargs.update(tls_connect_args(kwargs, self._tls_contexts))
        kwargs["client_flag"] = kwargs.get("client_flag", 0) | client_flag
        return kwargs

    @property
    def send_batcher(self) -> Batcher:
        return self._writer.batcher

    async def close(self) -> None:
        await self._writer.close()
        await self.engine.dispose()

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        with unavailable_on_connection_errors():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        async with self._write_turn():
            async with self.engine.begin() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """This process's turn to write (`_sqlite_write_lock`), connection errors as StoreUnavailable."""
        lock = self._sqlite_write_lock
        with unavailable_on_connection_errors():
            if lock is None:
                yield
                return
            async with lock:
                yield

    async def ping(self) -> None:
        """One round trip to the database (health checks). On MySQL on a connection of the send
        writer's: the path messages take, and a COM_PING without the pool's checkout and
        reset-on-return round trips."""
        if not self.is_sqlite:
            await self._writer.ping()
            return
        async with self._read() as conn:
            await conn.execute(sa.text("SELECT 1"))
