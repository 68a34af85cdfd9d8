"""The registry's API: lookups, subscribers, and what makes it refresh (the loop, probe_soon after
a connection error, a window asking for fast refreshes), all without a running server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from gateway.backends.catalogue import CatalogueSnapshot
from gateway.backends.registry import Registry
from gateway.config import BackendConfig, GatewayConfig
from gateway.errors import BackendUnavailable, NotFound
from tests.fakes.server import FakeBackend

Start = Callable[..., FakeBackend]
# Long enough that a refresh seen within the test's wait can only come from the poke.
QUIET = {"health_interval": 300.0, "idle_interval": 300.0}


def config_for(fake: FakeBackend, **extra: object) -> GatewayConfig:
    return GatewayConfig.model_validate(
        {"discovery_targets": {fake.flavour.name: [fake.root_url]}, **QUIET, **extra}
    )


def test_lookups(fake_backend: Start) -> None:
    fake = fake_backend("lmstudio", models=["m1", "m2"])
    config = config_for(
        fake, backends=[BackendConfig(id="off", url="http://127.0.0.1:9/v1", enabled=False)]
    )

    async def scenario() -> None:
        registry = Registry(config, transport="httpx")
        await registry.start()
        try:
            assert registry.index().models == {"off": (), "lmstudio": ("m1", "m2")}
            assert registry.info("lmstudio").state == "up"
            upstream = registry.upstream("lmstudio")
            assert upstream is registry.upstream("lmstudio")  # one pooled client per backend
            assert upstream.base_url == f"{fake.root_url}/v1"
            with pytest.raises(NotFound, match="no backend 'nope' is known"):
                registry.upstream("nope")
            with pytest.raises(NotFound):
                registry.info("nope")
            with pytest.raises(BackendUnavailable, match="disabled"):
                registry.upstream("off")
        finally:
            await registry.stop()

    asyncio.run(scenario())


def test_start_waits_for_the_first_refresh_and_stop_ends_it(fake_backend: Start) -> None:
    fake = fake_backend("ollama")

    async def scenario() -> None:
        registry = Registry(config_for(fake), transport="httpx")
        assert registry.snapshot().backends == ()
        await registry.start()
        assert [b.id for b in registry.snapshot().backends] == ["ollama"]
        await registry.stop()
        # A restarted server starts the same registry again, on its own loop.
        await registry.start()
        await registry.stop()

    asyncio.run(scenario())
    asyncio.run(scenario())


async def next_snapshot(registry: Registry, poke: Callable[[], None]) -> CatalogueSnapshot:
    """The snapshot of the refresh that `poke` causes."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[CatalogueSnapshot] = loop.create_future()

    def seen(snapshot: CatalogueSnapshot) -> None:
        if not arrived.done():
            arrived.set_result(snapshot)

    unsubscribe = registry.subscribe(seen)
    try:
        poke()
        return await asyncio.wait_for(arrived, 10)
    finally:
        unsubscribe()


def test_probe_soon_refreshes_at_once(fake_backend: Start) -> None:
    fake = fake_backend("ollama", models=["a"])

    async def scenario() -> None:
        registry = Registry(config_for(fake), transport="httpx")
        await registry.start()
        try:
            fake.stop()  # the request path saw a connection error
            snapshot = await next_snapshot(registry, registry.probe_soon)
            assert snapshot.backends[0].state == "down"
            assert [(m.name, m.loaded) for m in snapshot.models] == [("a:latest", None)]
        finally:
            await registry.stop()

    asyncio.run(scenario())


def test_a_window_opening_refreshes_from_its_own_thread(fake_backend: Start) -> None:
    fake = fake_backend("lmstudio")

    async def scenario() -> None:
        registry = Registry(config_for(fake), transport="httpx")
        await registry.start()
        try:
            gui = threading.Thread(target=registry.set_fast_refresh, args=(True,))
            first = await next_snapshot(registry, gui.start)
            gui.join()
            assert first.backends[0].state == "up"
            # Already fast: asking again is no new refresh; going slow is none either.
            registry.set_fast_refresh(True)
            registry.set_fast_refresh(False)
        finally:
            await registry.stop()

    asyncio.run(scenario())


def test_fast_refresh_uses_the_short_interval(fake_backend: Start) -> None:
    fake = fake_backend("lmstudio")
    config = config_for(fake).model_copy(update={"health_interval": 0.05})

    async def scenario() -> int:
        registry = Registry(config, transport="httpx")
        refreshes: list[CatalogueSnapshot] = []
        enough = asyncio.Event()

        def seen(snapshot: CatalogueSnapshot) -> None:
            refreshes.append(snapshot)
            if len(refreshes) >= 4:
                enough.set()

        registry.subscribe(seen)
        await registry.start()
        try:
            registry.set_fast_refresh(True)
            await asyncio.wait_for(enough.wait(), 10)
        finally:
            await registry.stop()
        return len(refreshes)

    assert asyncio.run(scenario()) >= 4


def test_a_failing_subscriber_does_not_stop_the_others(fake_backend: Start) -> None:
    fake = fake_backend("lmstudio")
    got: list[CatalogueSnapshot] = []

    def broken(snapshot: CatalogueSnapshot) -> None:
        raise RuntimeError("boom")

    async def scenario() -> None:
        registry = Registry(config_for(fake), transport="httpx")
        registry.subscribe(broken)
        registry.subscribe(got.append)
        try:
            await registry.refresh()
        finally:
            await registry.stop()

    asyncio.run(scenario())
    assert len(got) == 1
