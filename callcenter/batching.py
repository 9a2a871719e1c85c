"""Coalescing concurrent calls into one round trip (group commit, pipelined Redis calls).

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
    def __init__(self, flush: Flush, *, max_batch: int, name: str):
        self._flush = flush
        self.max_batch = max_batch
        self.name = name
        self._waiting: list[tuple[Item, asyncio.Future]] = []
        self._task: asyncio.Task | None = None
        # Told each batch's size (the app factory points it at a metrics histogram).
        self.on_batch: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def submit(self, item: Item) -> Outcome:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((item, future))
        if self._task is None or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name=self.name)
        return await future

    async def wait_idle(self) -> None:
        """Let the batch in flight (and whatever queued behind it) finish."""
        task = self._task
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            await asyncio.shield(task)

    async def _run(self) -> None:
        me = asyncio.current_task()
        try:
            while self._waiting:
                # Let the callbacks that are ready run first (frames already read, replies already
                # in): what they submit joins this batch rather than waiting for the next one.
                await asyncio.sleep(0)
                batch = self._waiting[:self.max_batch]
                del self._waiting[:self.max_batch]
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
        finally:
            if self._task is me:
                self._task = None
