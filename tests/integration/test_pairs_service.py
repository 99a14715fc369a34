"""pairs on a real broker and database: planted pairs, offline equality, HTTP, SIGKILL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.pairs.bootstrap import PairsSettings, definition
from services.pairs.domain.pipeline import Effects, Pipeline
from services.pairs.domain.universe import BarClose
from shared.events import Bar, Envelope, bar_id, decode, make_envelope
from shared.runtime.inputs import bar_order
from shared.settings import KafkaSettings
from tests.integration.streams import (
    ServiceProcess,
    end_offsets,
    read_topic,
    running_service,
    send_watermark,
    stored_progress,
    wait_consumed,
    wait_consumed_by,
    wait_outbox_sent,
)
from tests.unit.pairs_service.synthetic import interleave, planted_universe, streams

pytestmark = pytest.mark.integration
BARS = "market.bars.v1"
OUT_TOPICS = ("pairs.tests.v1", "pairs.lifecycle.v1", "pairs.spreads.v1")
SYMBOLS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
PAIRS_ENV = {
    "pairs_universe": ",".join(SYMBOLS),
    "pairs_window": 100,
    "pairs_rescreen_every": 15,
    "pairs_stale_after": 2000,
    "pairs_max_ffill": 3,
    "pairs_zscore_lookback": 30,
}
PRODUCED_AT = datetime(2030, 1, 1, tzinfo=UTC)


def bar_stream(n_bars: int = 240) -> list[BarClose]:
    symbols, prices = planted_universe(n_bars, seed=21)
    return interleave(streams(symbols, prices, revisions=True), seed=2)


def bar_envelope(b: BarClose) -> Envelope[Bar]:
    bar = Bar(
        bar_id=bar_id(b.symbol, "1d", b.bar_time), symbol=b.symbol, interval="1d",
        start=b.bar_time, end=b.bar_time + timedelta(days=1), open=b.close, high=b.close,
        low=b.close, close=b.close, volume=100.0, vwap=b.close, trade_count=1,
        revision=b.revision,
    )  # fmt: skip
    return make_envelope(
        bar, event_id=bar.event_id(), occurred_at=b.bar_time, key=b.symbol,
        producer="test-feed", produced_at=PRODUCED_AT,
    )  # fmt: skip


async def produce_bars(bootstrap: str, topic: str, bars: list[BarClose]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for b in bars:
            await producer.send(topic, bar_envelope(b).to_bytes(), key=b.symbol.encode())
        await producer.flush()
    finally:
        await producer.stop()
    await send_watermark(bootstrap, [topic])  # the end of input releases every bar


def offline_events(bars: list[BarClose]) -> dict[str, dict[str, Any]]:
    """The same bars through the pure pipeline, in the runtime's event-time order (released
    at the end of input): the events the service must publish."""
    settings = PairsSettings(database_url="postgresql://unused", **PAIRS_ENV)  # type: ignore[arg-type]
    pipe = Pipeline(settings.pipeline_config())
    fx = Effects()
    ordered = sorted(bars, key=lambda b: bar_order(bar_envelope(b)))
    pipe.on_released(ordered, fx)
    out: dict[str, dict[str, Any]] = {}
    for ev in fx.events:
        env = make_envelope(ev.payload, event_id=ev.event_id, occurred_at=ev.occurred_at,
                            key=ev.key, producer="titan-pairs", produced_at=PRODUCED_AT)  # fmt: skip
        out[str(ev.event_id)] = env.content_identity()
    return out


async def published(bootstrap: str, names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Events on the output topics by id; a duplicate must be an exact copy."""
    out: dict[str, dict[str, Any]] = {}
    for t in OUT_TOPICS:
        for rec in await read_topic(bootstrap, names[t]):
            ident = decode(rec.value).content_identity()
            assert out.setdefault(ident["event_id"], ident) == ident
    return out


async def tables(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "pairs"})
    try:
        q = {
            "bar_closes": "SELECT * FROM bar_closes ORDER BY interval, symbol, bar_time",
            "pending_revisions": "SELECT * FROM pending_revisions ORDER BY 1, 2, 3, 4, 6",
            "universe_times": "SELECT * FROM universe_times ORDER BY interval, seq",
            "clock": "SELECT interval, n_complete, last_complete FROM universe_clock",
            "pairs": "SELECT * FROM pairs ORDER BY pair_id",
            "pair_tests": "SELECT pair_id, screen_id, as_of, passed, pvalue_adjusted,"
            " payload::text FROM pair_tests ORDER BY pair_id, screen_id",
            "kalman_state": "SELECT * FROM kalman_state ORDER BY pair_id",
            "spreads": "SELECT * FROM spreads ORDER BY pair_id, bar_time",
        }
        return {k: [tuple(r) for r in await conn.fetch(sql)] for k, sql in q.items()}
    finally:
        await conn.close()


API_TOKEN = "pairs-integration-test-token"


def service_settings(dsn: str, prefix: str) -> PairsSettings:
    return PairsSettings(database_url=dsn, topic_prefix=prefix, api_token=API_TOKEN, **PAIRS_ENV)  # type: ignore[arg-type]


async def test_planted_pairs_spreads_and_http(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[dict[str, str]]],
    fresh_database: Callable[[str], Awaitable[str]],
) -> None:
    names = await make_topics()
    dsn = await fresh_database("pairs")
    bars = bar_stream()
    await produce_bars(kafka_bootstrap, names[BARS], bars)
    ends = await end_offsets(kafka_bootstrap, [names[BARS]])
    settings = service_settings(dsn, names.prefix)  # type: ignore[attr-defined]
    async with running_service(
        definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)
    ) as r:
        await wait_consumed(dsn, "pairs", ends)
        base = f"http://127.0.0.1:{r.http_port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            active = (await http.get("/pairs", params={"state": "active"})).json()["pairs"]
            assert {frozenset(p["pair_id"].split("~")) for p in active} == {
                frozenset({"AAA", "BBB"}),
                frozenset({"CCC", "DDD"}),
            }
            one = (await http.get(f"/pairs/{active[0]['pair_id']}")).json()
            assert one["pair"]["state"] == "active" and len(one["tests"]) >= 2
            assert (await http.get("/pairs/NOPE~NADA")).status_code == 404
            assert (await http.get("/pairs", params={"state": "zombie"})).status_code == 422
            start, end = bars[0].bar_time.date().isoformat(), "2030-01-01"
            ok = await http.get("/pairs/test", params={"a": "AAA", "b": "BBB", "start": start,
                                                       "end": end})  # fmt: skip
            assert ok.status_code == 200 and ok.json()["pvalue"] < 0.01
            for params, fragment in (
                ({"a": "AAA", "b": "ZZZ", "start": start, "end": end}, "unknown symbol(s) ZZZ"),
                ({"a": "AAA", "b": "BBB", "start": "2020-13-01", "end": end}, "start="),
                ({"a": "AAA", "b": "BBB", "start": start, "end": start}, "must be before"),
                ({"a": "AAA", "b": "BBB", "start": start, "end": "2020-01-10"}, "too few bars"),
            ):
                resp = await http.get("/pairs/test", params=params)
                assert resp.status_code == 400 and fragment in resp.json()["detail"], resp.text
            anonymous = await http.post("/screen")
            assert anonymous.status_code == 401, anonymous.text  # issue 19, item 6
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            auth = {"Authorization": f"Bearer {API_TOKEN}"}
            req = await http.post("/screen", headers=auth)
            assert req.status_code == 202
            rid = req.json()["request_id"]
            deadline = time.monotonic() + 30
            while (status := (await http.get(f"/screen/{rid}")).json())["status"] != "done":
                assert time.monotonic() < deadline, status
                await asyncio.sleep(0.2)
            assert status["as_of"] == bars_last_complete(bars)
            assert status["outcome"].startswith("screened 6 symbols")
    expected = offline_events(bars)
    got = await published(kafka_bootstrap, names)
    request_ids = {k for k, v in got.items() if k not in expected}
    # everything but the on-demand screen's events equals the offline run exactly
    assert {k: v for k, v in got.items() if k not in request_ids} == expected
    spreads = [v for v in expected.values() if v["event_type"] == "SpreadUpdated"]
    assert len(spreads) > 100
    assert all(v["event_type"] in ("PairTested",) for k, v in got.items() if k in request_ids)


def bars_last_complete(bars: list[BarClose]) -> str:
    last = min(max(b.bar_time for b in bars if b.symbol == s) for s in SYMBOLS)
    return last.isoformat()


async def test_sigkill_mid_stream_equals_a_clean_run(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[dict[str, str]]],
    fresh_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> None:
    bars = bar_stream(300)
    clean_names, faulty_names = await make_topics(), await make_topics()
    clean_dsn, faulty_dsn = await fresh_database("pairs"), await fresh_database("pairs")
    for names in (clean_names, faulty_names):
        await produce_bars(kafka_bootstrap, names[BARS], bars)

    clean_ends = await end_offsets(kafka_bootstrap, [clean_names[BARS]])
    settings = service_settings(clean_dsn, clean_names.prefix)  # type: ignore[attr-defined]
    settings = settings.model_copy(update={"batch_max_records": 40})
    async with running_service(definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)):
        await wait_consumed(clean_dsn, "pairs", clean_ends)

    ends = await end_offsets(kafka_bootstrap, [faulty_names[BARS]])
    env = {
        "TITAN_DATABASE_URL": faulty_dsn,
        "TITAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TITAN_TOPIC_PREFIX": faulty_names.prefix,  # type: ignore[attr-defined]
        # A killed member holds its partitions for the session timeout: 6 s, not 45.
        "TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "TITAN_BATCH_MAX_RECORDS": "15",
        "TITAN_HOME": str(tmp_path / "home"),
        **{f"TITAN_{k.upper()}": str(v) for k, v in PAIRS_ENV.items()},
    }
    proc = ServiceProcess("pairs", env, tmp_path / "pairs.log")
    total = sum(ends.values())
    kills = 0
    for fraction in (0.2, 0.45, 0.7):
        proc.start()
        await wait_progress(faulty_dsn, fraction * total, timeout_s=120)
        proc.kill()
        kills += 1
    proc.start()
    try:
        await wait_consumed_by(proc, faulty_dsn, "pairs", ends, timeout_s=180)
        await wait_outbox_sent(faulty_dsn, "pairs")
    finally:
        assert proc.terminate() == 0, (tmp_path / "pairs.log").read_text()[-3000:]
    assert kills == 3
    assert await tables(faulty_dsn) == await tables(clean_dsn)
    faulty_events = await published(kafka_bootstrap, faulty_names)
    clean_events = await published(kafka_bootstrap, clean_names)
    assert faulty_events == clean_events
    assert any(v["event_type"] == "SpreadUpdated" for v in clean_events.values())


async def wait_progress(dsn: str, records: float, timeout_s: float) -> None:
    """Until the stored offsets show at least `records` consumed (the kill lands mid-stream)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await stored_progress(dsn, "pairs") >= records:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no progress to {records} records in {timeout_s}s")
