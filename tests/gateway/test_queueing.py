"""The per-backend queue: slots, depth, main-loop requests first, cancellation frees places."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Overloaded
from gateway.queueing import MAIN, SIDE, BackendQueue


async def hold(
    queue: BackendQueue, order: list[str], name: str, release: asyncio.Event, priority: int = MAIN
) -> float:
    async with queue.admit(priority) as waited:
        order.append(name)
        await release.wait()
    return waited


@pytest.mark.alone
def test_one_slot_serves_main_loop_before_side_requests() -> None:
    async def scenario() -> list[str]:
        queue = BackendQueue(1, depth=8)
        order: list[str] = []
        gates = {n: asyncio.Event() for n in ("first", "side1", "side2", "main")}
        tasks = [asyncio.create_task(hold(queue, order, "first", gates["first"]))]
        await asyncio.sleep(0)
        for name, prio in (("side1", SIDE), ("side2", SIDE), ("main", MAIN)):
            tasks.append(asyncio.create_task(hold(queue, order, name, gates[name], prio)))
            await asyncio.sleep(0)
        assert queue.active == 1 and queue.waiting == 3
        for name in ("first", "main", "side1", "side2"):
            gates[name].set()
            await asyncio.sleep(0.01)
        waited = await asyncio.gather(*tasks)
        assert waited[0] < 0.01 and all(w > 0 for w in waited[1:])
        assert queue.active == 0 and queue.waiting == 0
        return order

    assert asyncio.run(scenario()) == ["first", "main", "side1", "side2"]


def test_beyond_the_depth_is_529_with_retry_after() -> None:
    async def scenario() -> None:
        queue = BackendQueue(1, depth=1, name="LM Studio")
        release = asyncio.Event()
        order: list[str] = []
        a = asyncio.create_task(hold(queue, order, "a", release))
        await asyncio.sleep(0)
        b = asyncio.create_task(hold(queue, order, "b", release))
        await asyncio.sleep(0)
        with pytest.raises(Overloaded) as info:
            async with queue.admit():
                pass
        assert info.value.status == 529 and info.value.headers()["retry-after"] == "2"
        assert "LM Studio is busy" in info.value.message
        release.set()
        await asyncio.gather(a, b)

    asyncio.run(scenario())


def test_several_slots_run_together() -> None:
    async def scenario() -> None:
        queue = BackendQueue(3)
        release = asyncio.Event()
        order: list[str] = []
        tasks = [asyncio.create_task(hold(queue, order, str(i), release)) for i in range(4)]
        await asyncio.sleep(0.01)
        assert len(order) == 3 and queue.waiting == 1
        release.set()
        await asyncio.gather(*tasks)
        assert len(order) == 4 and queue.active == 0

    asyncio.run(scenario())


def test_a_cancelled_waiter_frees_its_place() -> None:
    """A client that presses Esc while queued leaves no trace in the queue."""

    async def scenario() -> None:
        queue = BackendQueue(1, depth=1)
        release = asyncio.Event()
        order: list[str] = []
        a = asyncio.create_task(hold(queue, order, "a", release))
        await asyncio.sleep(0)
        b = asyncio.create_task(hold(queue, order, "b", release))
        await asyncio.sleep(0)
        b.cancel()
        await asyncio.gather(b, return_exceptions=True)
        assert queue.waiting == 0
        c = asyncio.create_task(hold(queue, order, "c", release))
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(a, c)
        assert order == ["a", "c"] and queue.active == 0

    asyncio.run(scenario())
