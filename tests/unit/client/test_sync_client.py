"""The sync client's one loop thread: from plain threads, 16 threads at once, inside a
running event loop; typed errors with the service's message; explicit timeouts; closing.

Against a local HTTP server that answers like the pairs service (real HTTP, no mocks)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException

from shared.infra.ports import free_port
from titan.client import ClientClosed, InvalidRequest, NotFound, Titan, TitanTimeout
from titan.client.sync import _loop_thread

PAIRS = [
    {"pair_id": "KO~PEP", "a": "KO", "b": "PEP", "state": "active",
     "since": "2020-01-02T21:00:00+00:00", "consecutive_passes": 3, "strikes": 0,
     "degraded_screens": 0, "screens": 5},
]  # fmt: skip


def pairs_like_app() -> FastAPI:
    app = FastAPI()

    @app.get("/pairs")
    async def pairs(state: str | None = None) -> dict[str, Any]:
        await asyncio.sleep(0.05)  # calls from many threads overlap in the loop
        return {"pairs": [p for p in PAIRS if state in (None, p["state"])]}

    @app.get("/pairs/test")
    async def test(a: str, b: str, start: str, end: str) -> dict[str, Any]:
        raise HTTPException(400, f"unknown symbol(s) {a}: no 1d bars stored")

    @app.get("/pairs/{pair_id}")
    async def one(pair_id: str) -> dict[str, Any]:
        if pair_id == "SLOW~PAIR":
            await asyncio.sleep(30.0)
        raise HTTPException(404, f"unknown pair {pair_id!r}")

    return app


@pytest.fixture(scope="module")
def pairs_url() -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            pairs_like_app(), port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "test server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def loop_threads() -> int:
    return sum(t.name == "titan-client-loop" and t.is_alive() for t in threading.enumerate())


def test_sixteen_threads_share_one_client_and_one_loop_thread(pairs_url: str) -> None:
    before = loop_threads()
    with Titan(urls={"pairs": pairs_url}) as t:
        with ThreadPoolExecutor(16) as pool:
            frames = list(pool.map(lambda _: t.pairs.list(state="active"), range(64)))
        assert loop_threads() == before + 1
    assert {tuple(f["pair_id"]) for f in frames} == {("KO~PEP",)}
    assert str(frames[0]["since"].dt.tz) == "UTC"
    assert loop_threads() == before


def test_works_from_inside_a_running_event_loop(pairs_url: str) -> None:
    async def async_view() -> list[str]:
        with Titan(urls={"pairs": pairs_url}) as t:  # sync code called by async code
            return list(t.pairs.list()["pair_id"])

    assert asyncio.run(async_view()) == ["KO~PEP"]


def test_errors_are_typed_and_carry_the_service_message(pairs_url: str) -> None:
    with Titan(urls={"pairs": pairs_url}) as t:
        with pytest.raises(NotFound, match="unknown pair 'X~Y'") as missing:
            t.pairs.get("X~Y")
        assert (missing.value.service, missing.value.status) == ("pairs", 404)
        with pytest.raises(InvalidRequest, match="unknown symbol"):
            t.pairs.test("ZZZ", "KO", start="2020-01-01", end="2021-01-01")
        with pytest.raises(InvalidRequest, match="not an ISO date"):
            t.pairs.test("KO", "PEP", start="last tuesday", end="2021-01-01")


def test_request_timeout_is_explicit_and_typed(pairs_url: str) -> None:
    with Titan(urls={"pairs": pairs_url}, timeout=1.0) as t:
        started = time.monotonic()
        with pytest.raises(TitanTimeout, match="within"):
            t.pairs.get("SLOW~PAIR")  # the service would answer after 30 s
        assert time.monotonic() - started < 20  # generous: 2 shared cores under load
        assert list(t.pairs.list()["pair_id"]) == ["KO~PEP"]  # the client still works


def test_closes_as_a_context_manager_also_after_an_error(pairs_url: str) -> None:
    before = loop_threads()
    with (
        pytest.raises(RuntimeError, match="the view failed"),
        Titan(urls={"pairs": pairs_url}) as t,
    ):
        t.pairs.list()
        raise RuntimeError("the view failed")
    assert loop_threads() == before
    with pytest.raises(ClientClosed):
        t.pairs.list()
    t.close()  # closing twice is harmless


def test_the_loop_thread_refuses_a_call_from_itself_instead_of_deadlocking() -> None:
    runner = _loop_thread()
    try:

        async def inner() -> int:
            return 1

        async def reentrant() -> int:
            return runner.run(inner, 1.0)

        with pytest.raises(RuntimeError, match="its own loop thread"):
            runner.run(reentrant, 5.0)
        assert runner.run(inner, 5.0) == 1
    finally:
        runner.close()
    assert not runner.thread.is_alive()
