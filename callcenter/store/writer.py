"""Group commit of a worker's sends: one transaction per batch of whatever queued up meanwhile."""
from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, AsyncIterator

from sqlalchemy.exc import DBAPIError, IntegrityError

from ..batching import Batcher
from ..errors import Conflict
from .engine import (SQLITE_BUSY_TIMEOUT_SECS, TRANSIENT_RETRIES, StoreUnavailable, is_transient_conflict,
                     mysql_error, sqlite_on_connect)
from .sends import (MySQLSendSql, Prelocked, SendRequest, SendResult, SQLiteSendSql, run_to_completion,
                    store_batch)

if TYPE_CHECKING:  # (MySQL only: the embedded default never loads the driver)
    from ..mysql_wire import WireConnection
    from .base import StoreBase


MAX_SEND_BATCH = 256
# One batch at a time: what queues meanwhile is the next batch. (Two in flight, one taking its
# locks while the other's commit syncs, cost more queries and CPU than it saved once a batch
# was two round trips: higher p99 at every rate, see docs/BENCHMARKS.md.)
SEND_BATCHES_IN_FLIGHT = 1


class SendWriter:
    """Group commit of this worker's sends (through a `Batcher`): one transaction per batch.

    Each sender is answered only after its batch commits, so store-before-publish holds.
    `SEND_BATCHES_IN_FLIGHT` batches may run at once (a session in two waits for the first: its
    row lock keeps seqs in order). Batches run on connections of their own, which saves the
    pool's ping and reset round trips; on MySQL these are lean driver connections
    (`WireConnection`) with multi-statements on (`MySQLSendSql`), which the health check's ping
    uses too.
    """

    def __init__(self, store: "StoreBase"):
        self.store = store
        self._idle: list[WireConnection] = []  # MySQL: connections between batches
        # MySQL: the connection whose open transaction holds the next batch's session locks, and
        # those rows (taken in the previous batch's last round trip); only the next batch uses it.
        self._next: tuple[WireConnection, Prelocked] | None = None
        self._conn_loop: asyncio.AbstractEventLoop | None = None
        # SQLite: the batches' own connection, used only in the one thread that runs them.
        self._sqlite_thread: ThreadPoolExecutor | None = None
        self._sqlite_conn: sqlite3.Connection | None = None
        self.batcher: Batcher[SendRequest, SendResult] = Batcher(
            self.flush, max_batch=MAX_SEND_BATCH, name="store-send-batcher",
            concurrency=1 if store.is_sqlite else SEND_BATCHES_IN_FLIGHT)

    async def close(self) -> None:
        await self.batcher.wait_idle()
        if self._next is not None:
            self._next[0].close()
            self._next = None
        while self._idle:
            self._idle.pop().close()
        thread, self._sqlite_thread = self._sqlite_thread, None
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(thread, self._sqlite_close)
            thread.shutdown(wait=False)

    async def flush(self, requests: list[SendRequest]) -> list[Any]:
        try:
            try:
                # Repeats (a client_msg_id already stored) are rare: the unique key catches them,
                # and only then is the batch run again with the lookup, a round trip less per batch.
                return await self._store_with_retries(requests, check_duplicates=False)
            except IntegrityError:
                return await self._store_with_retries(requests)
        except DBAPIError as exc:
            # One request's data the database refused (a duplicate key is not expected here: this try
            # looked them up under the session locks) must not fail the others: store them one by one.
            if len(requests) > 1:
                return [await self._flush_one(req) for req in requests]
            if isinstance(exc, IntegrityError):
                return [await self._existing_or_error(requests[0])]
            raise

    async def _flush_one(self, request: SendRequest) -> Any:
        try:
            return (await self.flush([request]))[0]
        except Exception as exc:  # this request's own answer
            return exc

    async def _store_with_retries(self, requests: list[SendRequest], *, check_duplicates: bool = True) -> list[Any]:
        for attempt in range(TRANSIENT_RETRIES + 1):
            reused = self._has_kept_connection()
            try:
                return await self._store_once(requests, check_duplicates)
            except StoreUnavailable as exc:
                # InnoDB rolled the whole transaction back (deadlock / lock wait): run it again.
                # A kept connection that the server dropped meanwhile: once more on a new one.
                if attempt == TRANSIENT_RETRIES or not (is_transient_conflict(exc) or (reused and attempt == 0)):
                    raise
        raise AssertionError("unreachable")

    async def _store_once(self, requests: list[SendRequest], check_duplicates: bool) -> list[Any]:
        store = self.store
        async with store._write_turn():
            loop = asyncio.get_running_loop()
            if store.is_sqlite:
                if self._sqlite_thread is None:
                    self._sqlite_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-sends")
                return await loop.run_in_executor(self._sqlite_thread, self._sqlite_batch, requests, check_duplicates)
            reserved, self._next = self._next, None
            if reserved is not None and reserved[0].closed:
                reserved = None
            async with self._connection(reserved[0] if reserved else None) as conn:
                sql = MySQLSendSql(conn, prelocked=reserved[1] if reserved else None,
                                    claim_next=self._claim_next_sessions)
                outcomes = await store_batch(sql, requests, check_duplicates=check_duplicates)
                if sql.next_locked is not None:
                    self._next = (conn, sql.next_locked)
                return outcomes

    def _claim_next_sessions(self) -> list[str]:
        """The sessions of the batch queued behind the one being written (see `Batcher.claim_next`)."""
        return [request.session_id for request in self.batcher.claim_next()]

    async def ping(self) -> None:
        """COM_PING on a kept connection (MySQL). One the server dropped meanwhile is replaced once
        (as sends do); a database that is not there raises StoreUnavailable."""
        import pymysql

        async with self.store._write_turn():
            for attempt in range(2):
                reused = self._has_kept_connection()
                try:
                    async with self._connection() as conn:
                        await conn.ping()
                    return
                except pymysql.err.Error as exc:
                    if not (reused and attempt == 0):
                        raise mysql_error("ping", exc) from exc

    def _has_kept_connection(self) -> bool:
        return bool(self._idle or self._next) and self._conn_loop is asyncio.get_running_loop()

    @contextlib.asynccontextmanager
    async def _connection(self, reserved: "WireConnection | None" = None) -> AsyncIterator[WireConnection]:
        """`reserved` (the connection holding this batch's locks), a kept driver connection (MySQL),
        or a new one, for one batch or ping: kept again after it (unless it holds the next batch's
        locks: `_next`), closed after a failure (its state is unknown then; closing the socket ends,
        so rolls back, its transaction)."""
        loop = asyncio.get_running_loop()
        if self._conn_loop is not loop:
            # Connections of an event loop that has ended.
            self._idle, self._next, self._conn_loop = [], None, loop
        if reserved is not None:
            conn = reserved
        else:
            conn = self._idle.pop() if self._idle else await self._connect()
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        if self._next is None or self._next[0] is not conn:
            self._keep(conn)

    def _keep(self, conn) -> None:
        """Back to the idle connections, unless closed or as many as batches and a health check can
        use are idle already."""
        if conn.closed:
            return
        if len(self._idle) < SEND_BATCHES_IN_FLIGHT + 1:
            self._idle.append(conn)
        else:
            conn.close()

    def _sqlite_batch(self, requests: list[SendRequest], check_duplicates: bool) -> list[Any]:
        """One batch as one transaction, in the SQLite writer thread."""
        try:
            conn = self._sqlite_conn
            if conn is None:
                conn = self._sqlite_conn = sqlite3.connect(
                    self.store.engine.url.database, timeout=SQLITE_BUSY_TIMEOUT_SECS, isolation_level=None,
                    check_same_thread=False)
                sqlite_on_connect(conn, None)
            conn.execute("BEGIN IMMEDIATE")
            try:
                outcomes = run_to_completion(store_batch(
                    SQLiteSendSql(conn), requests, check_duplicates=check_duplicates))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return outcomes
        except sqlite3.Error as exc:
            # SQLAlchemy's exception classes, as everywhere in the store ("database is locked" is a 503).
            raise DBAPIError.instance("send batch", None, exc, sqlite3.Error, hide_parameters=True) from exc

    def _sqlite_close(self) -> None:
        if self._sqlite_conn is not None:
            self._sqlite_conn.close()
            self._sqlite_conn = None

    async def _connect(self) -> WireConnection:
        import pymysql
        from pymysql.constants import CLIENT

        from ..mysql_wire import WireConnection

        try:
            return await WireConnection.connect(**self.store.driver_connect_args(client_flag=CLIENT.MULTI_STATEMENTS))
        except pymysql.err.Error as exc:
            raise mysql_error(None, exc) from exc

    async def _existing_or_error(self, request: SendRequest) -> Any:
        if request.client_msg_id:
            existing = await self.store.find_message(request.tenant_id, request.session_id, request.sender_type,
                                                     request.sender_id, request.client_msg_id)
            if existing:
                return SendResult(existing, created=False)
        return Conflict("the message could not be stored; send it again", code="send_conflict")
