"""Coalescing concurrent calls into one round trip (group commit of sends, rate-limit hits in one MULTI).

`Batcher.submit(item)` waits for the item's own outcome. Items submitted while a
flush is running are flushed together right after it, in submission order, up to
`max_batch` at a time. An idle batcher flushes a lone item at once, so batching
adds no wait; a busy one pays its round trips once per batch instead of per call.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

# Outcomes in the order of the items; an exception in the list is raised to that item's caller.
Flush = Callable[[list[Item]], Awaitable[list]]


class Batcher(Generic[Item, Outcome]):
    """`concurrency` flushes may be in flight at once (each taking the next batch): for a database
    whose commits wait on the disk, a second transaction can run while the first one syncs. Keep
    it 1 where the order between batches matters."""

    def __init__(self, flush: Flush, *, max_batch: int, name: str, concurrency: int = 1):
        self._flush = flush
        self.max_batch = max_batch
        self.name = name
        self.concurrency = concurrency
        self._waiting: list[tuple[Item, asyncio.Future]] = []
        self._claimed: list[tuple[Item, asyncio.Future]] | None = None  # the next batch, taken early
        self._runners: set[asyncio.Task] = set()
        # Told each batch's size (the app factory points it at a metrics histogram).
        self.on_batch: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting) + len(self._claimed or ())

    def claim_next(self) -> list[Item]:
        """From inside a flush: the items waiting now (up to `max_batch`) become the next batch, to
        be flushed right after this one whatever arrives meanwhile, so the flush can start work for
        them in its own round trip. Nothing when one is claimed already (or with concurrency > 1)."""
        if self.concurrency != 1 or self._claimed is not None or not self._waiting:
            return []
        self._claimed = self._waiting[:self.max_batch]
        del self._waiting[:self.max_batch]
        return [item for item, _ in self._claimed]

    async def submit(self, item: Item) -> Outcome:
        return await self.enqueue(item)

    def enqueue(self, item: Item) -> "asyncio.Future[Outcome]":
        """`submit` for a caller that does not wait there: the Future of the item's outcome."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((item, future))
        # (Finished runners, and those of an event loop that has ended, no longer count.)
        runners = {t for t in self._runners if not t.done() and t.get_loop() is loop}
        if len(runners) < self.concurrency:
            runner = loop.create_task(self._run(), name=self.name)
            runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        self._runners = runners
        return future

    async def wait_idle(self) -> None:
        """Let the batches in flight (and whatever queued behind them) finish."""
        loop = asyncio.get_running_loop()
        runners = [t for t in self._runners if t.get_loop() is loop]
        if runners:
            await asyncio.shield(asyncio.gather(*runners, return_exceptions=True))

    async def _run(self) -> None:
        while self._waiting or self._claimed:
            if self._claimed is not None:
                batch, self._claimed = self._claimed, None
            else:
                # Let the callbacks that are ready run first (frames already read, replies already
                # in): what they submit joins this batch rather than waiting for the next one.
                await asyncio.sleep(0)
                batch = self._waiting[:self.max_batch]
                del self._waiting[:self.max_batch]
            if not batch:
                return
            items = [item for item, _ in batch]
            if self.on_batch is not None:
                self.on_batch(len(items))
            try:
                outcomes = await self._flush(items)
            except Exception as exc:  # every caller must get an answer, whatever went wrong
                outcomes = [exc] * len(batch)
            for (_, future), outcome in zip(batch, outcomes):
                if future.done() or future.get_loop().is_closed():
                    continue  # the caller went away
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
