"""The Batcher that group-commits sends and pipelines Redis calls."""
import asyncio

import pytest

from callcenter.batching import Batcher


@pytest.mark.gen_test(timeout=10)
async def test_calls_made_during_a_flush_go_together_in_order_with_their_own_outcomes():
    flushed = []
    release = asyncio.Event()

    async def flush(items):
        flushed.append(list(items))
        if len(flushed) == 1:
            await release.wait()  # the first flush is "in the database" while more calls arrive
        return [ValueError(f"bad {i}") if i == "bad" else i.upper() for i in items]

    batcher = Batcher(flush, max_batch=3, name="test")
    first = asyncio.ensure_future(batcher.submit("a"))
    while not flushed:
        await asyncio.sleep(0)
    later = [asyncio.ensure_future(batcher.submit(x)) for x in ("b", "bad", "c", "d")]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert flushed == [["a"], ["b", "bad", "c"], ["d"]], "a lone call at once, then up to max_batch"
    assert results[:2] == ["A", "B"] and isinstance(results[2], ValueError) and results[3:] == ["C", "D"]


@pytest.mark.gen_test(timeout=10)
async def test_a_failing_flush_answers_every_caller_and_the_batcher_goes_on():
    calls = 0

    async def flush(items):
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    batcher = Batcher(flush, max_batch=10, name="test")
    results = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await batcher.submit(7) == 7


@pytest.mark.gen_test(timeout=10)
async def test_with_concurrency_2_a_second_batch_runs_while_the_first_waits():
    in_flight, most = 0, 0
    release = asyncio.Event()

    async def flush(items):
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return items

    batcher = Batcher(flush, max_batch=2, name="test", concurrency=2)
    calls = [asyncio.ensure_future(batcher.submit(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    assert most == 2 and batcher.waiting == 1, "two batches of 2 in flight, the fifth call waits"
    release.set()
    assert await asyncio.gather(*calls) == [0, 1, 2, 3, 4]
    await batcher.wait_idle()


@pytest.mark.gen_test(timeout=10)
async def test_a_flush_can_claim_what_waits_as_the_next_batch():
    """`claim_next` inside a flush: the items waiting then are the next batch, flushed right after
    this one; what arrives later waits for the batch after that, and a second claim takes nothing."""
    flushed: list[list[str]] = []
    claims: list[list[str]] = []
    arrived = asyncio.Event()

    async def flush(items):
        flushed.append(list(items))
        if items == ["a"]:
            await arrived.wait()
            claims.append(batcher.claim_next())
            claims.append(batcher.claim_next())
            late.append(batcher.enqueue("d"))
            assert batcher.waiting == 3
        return list(items)

    batcher = Batcher(flush, max_batch=10, name="test")
    late: list[asyncio.Future] = []
    first = batcher.enqueue("a")
    await asyncio.sleep(0.01)
    queued = [batcher.enqueue("b"), batcher.enqueue("c")]
    arrived.set()
    assert await asyncio.gather(first, *queued, *late) == ["a", "b", "c"]
    assert await late[0] == "d"
    await batcher.wait_idle()
    assert claims == [["b", "c"], []]
    assert flushed == [["a"], ["b", "c"], ["d"]]

    # Several flushes in flight: nothing is claimed (the order between batches is not kept there).
    parallel = Batcher(flush, max_batch=10, name="test", concurrency=2)
    parallel.enqueue("x")
    assert parallel.claim_next() == [] and parallel.waiting == 1
    await parallel.wait_idle()
