"""regime on a real broker and database: shifts equal an offline run; SIGKILL changes nothing."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
import pandas as pd
import pytest
from aiokafka import AIOKafkaProducer

from core.regime import (
    SCOPE_SPECS,
    FittedRegimeModel,
    OnlineHamiltonFilter,
    RegimeScope,
    ShiftDetector,
    ShiftDetectorSettings,
    fit_regime_model,
    market_returns,
)
from services.regime.bootstrap import RegimeSettings, definition
from services.regime.handlers import shift_event_id
from shared.events import decode
from shared.settings import KafkaSettings
from tests.integration.streams import (
    ServiceProcess,
    end_offsets,
    kill_mid_stream,
    read_topic,
    running_service,
    send_watermark,
    wait_consumed,
    wait_consumed_by,
    wait_outbox_sent,
)
from tests.unit.regime._data import sp500_index
from tests.unit.regime_service.builders import bar_envelope

pytestmark = pytest.mark.integration
BARS, SHIFTS = "market.bars.v1", "regime.shifts.v1"
SCHEDULE: dict[str, Any] = {
    "regime_min_bars": 250,
    "regime_refit_every_bars": 50,
    "regime_window_bars": 250,
}
NAMES = ("low_vol", "high_vol")


def _sp500_slice() -> tuple[np.ndarray, list[pd.Timestamp]]:
    prices, dates = sp500_index()
    keep = (dates >= pd.Timestamp("2006-06-01")) & (dates < pd.Timestamp("2009-07-01"))
    return prices[keep], [pd.Timestamp(d, tz="UTC") for d in dates[keep]]


def offline_shifts(prices: np.ndarray, dates: list[pd.Timestamp]) -> list[dict[str, Any]]:
    """The same models run offline on the whole series with the service's schedule."""
    returns, times = market_returns(prices), dates[1:]
    spec = SCOPE_SPECS[RegimeScope.MARKET]
    detector = ShiftDetector(ShiftDetectorSettings())
    model: FittedRegimeModel | None = None
    filt: OnlineHamiltonFilter | None = None
    last_fit: int | None = None
    out: list[dict[str, Any]] = []
    for n in range(1, returns.size + 1):
        if n >= SCHEDULE["regime_min_bars"] and (
            last_fit is None or n - last_fit >= SCHEDULE["regime_refit_every_bars"]
        ):
            last_fit = n
            window = returns[max(0, n - SCHEDULE["regime_window_bars"]) : n]
            start = model.statsmodels_params() if model is not None else None
            curvature = model.hess_inv_matrix() if model is not None else None
            model = fit_regime_model(window, spec, start_params=start, start_hess_inv=curvature)
            filt = OnlineHamiltonFilter(model)
            probabilities = filt.run(window)[-1]
        elif filt is not None:
            probabilities = filt.update(returns[n - 1])
        else:
            continue
        shift = detector.update(probabilities)
        if shift is not None:
            assert model is not None
            t = times[n - 1].to_pydatetime()
            out.append(
                {
                    "event_id": str(shift_event_id("market", t, shift.to_regime)),
                    "occurred_at": t,
                    "key": "market",
                    "payload": {
                        "scope": "market",
                        "bar_time": t,
                        "from_regime": shift.from_regime,
                        "to_regime": shift.to_regime,
                        "from_name": NAMES[shift.from_regime],
                        "to_name": NAMES[shift.to_regime],
                        "probability": shift.probability,
                        "model": "markov_regression",
                        "model_version": model.version,
                    },
                }
            )
    return out


def _comparable(content: dict[str, Any]) -> dict[str, Any]:
    payload = content["payload"]
    return {
        "event_id": content["event_id"],
        "occurred_at": pd.Timestamp(content["occurred_at"]),
        "key": content["key"],
        "payload": {**payload, "bar_time": pd.Timestamp(payload["bar_time"])},
    }


async def _produce_bars(bootstrap: str, topic: str, symbol: str, prices: Any, dates: Any) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for price, date in zip(prices, dates, strict=True):
            env = bar_envelope(symbol, date.to_pydatetime(), float(price))
            await producer.send(topic, env.to_bytes(), key=symbol.encode())
        await producer.flush()
    finally:
        await producer.stop()
    # The end of input on bars and on spreads (whose watermark gates the shifts' too).
    await send_watermark(bootstrap, [topic, topic.replace(BARS, "pairs.spreads.v1")])


@pytest.fixture(scope="module")
def expected() -> list[dict[str, Any]]:
    prices, dates = _sp500_slice()
    shifts = offline_shifts(prices, dates)
    assert len(shifts) >= 2, "the 2006-2009 slice must contain regime shifts"
    return [_comparable(s) for s in shifts]


async def _shift_rows(dsn: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(dsn, server_settings={"search_path": "regime"})
    try:
        rows = await conn.fetch("SELECT * FROM shifts ORDER BY scope, bar_time")
        return [dict(r) for r in rows]
    finally:
        await conn.close()


def _rows_as_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "event_id": str(r["event_id"]),
            "occurred_at": pd.Timestamp(r["bar_time"]),
            "key": r["scope"],
            "payload": {
                "scope": r["scope"],
                "bar_time": pd.Timestamp(r["bar_time"]),
                "from_regime": r["from_regime"],
                "to_regime": r["to_regime"],
                "from_name": r["from_name"],
                "to_name": r["to_name"],
                "probability": r["probability"],
                "model": r["model"],
                "model_version": r["model_version"],
            },
        }
        for r in rows
    ]


def _topic_events(records: list[Any]) -> list[dict[str, Any]]:
    seen: dict[str, set[bytes]] = defaultdict(set)
    for r in records:
        seen[json.loads(r.value)["event_id"]].add(r.value)
    # An event may reach the topic twice, but only as an exact copy.
    assert all(len(v) == 1 for v in seen.values())
    contents = [_comparable(decode(next(iter(v))).content_identity()) for v in seen.values()]
    for c in contents:
        assert c.pop("event_type", "RegimeShifted") == "RegimeShifted"
    return sorted(contents, key=lambda c: c["payload"]["bar_time"])


async def test_shifts_on_topic_and_table_equal_an_offline_run(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    expected: list[dict[str, Any]],
) -> None:
    topics = await make_topics()
    prices, dates = _sp500_slice()
    await _produce_bars(kafka_bootstrap, topics[BARS], "SPX", prices, dates)
    dsn = await fresh_database("regime")
    settings = RegimeSettings(
        database_url=dsn,
        topic_prefix=topics.prefix,
        regime_benchmark_symbol="SPX",
        batch_max_records=200,
        **SCHEDULE,
    )
    ends = await end_offsets(kafka_bootstrap, [topics[BARS]])
    async with running_service(
        definition(), settings, KafkaSettings(bootstrap=kafka_bootstrap)
    ) as r:
        await wait_consumed(dsn, "regime", ends)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{r.http_port}") as http:
            current = (await http.get("/regimes")).json()["regimes"]
            history = await http.get("/regimes/market/history", params={"limit": 3})
            fit = await http.get("/regimes/market/fit")
            unknown = await http.get("/regimes/NOPE~NADA/history")
            bad = await http.get(
                "/regimes/market/history",
                params={"start": "2009-01-02T00:00:00Z", "end": "2008-01-02T00:00:00Z"},
            )
    records = await read_topic(kafka_bootstrap, topics[SHIFTS])
    assert _topic_events(records) == _strip_type(expected)
    assert _rows_as_events(await _shift_rows(dsn)) == _strip_type(expected)
    (market,) = current
    assert market["scope"] == "market" and market["regime_name"] in NAMES
    assert history.status_code == 200 and len(history.json()["history"]) == 3
    body = fit.json()
    assert fit.status_code == 200 and body["nobs"] == SCHEDULE["regime_window_bars"]
    assert body["version"].startswith("markov_regression-k2-p0-")
    assert set(body["params"]) >= {"p[0->0]", "sigma2[0]", "sigma2[1]"}
    assert unknown.status_code == 404 and "unknown scope" in unknown.json()["detail"]
    assert bad.status_code == 400


def _strip_type(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "event_type"} for e in events]


async def test_sigkill_mid_stream_gives_the_same_shifts(
    kafka_bootstrap: str,
    make_topics: Callable[..., Awaitable[Any]],
    fresh_database: Callable[[str], Awaitable[str]],
    expected: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    topics = await make_topics()
    prices, dates = _sp500_slice()
    await _produce_bars(kafka_bootstrap, topics[BARS], "SPX", prices, dates)
    dsn = await fresh_database("regime")
    ends = await end_offsets(kafka_bootstrap, [topics[BARS]])
    env = {
        "TITAN_DATABASE_URL": dsn,
        "TITAN_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "TITAN_TOPIC_PREFIX": topics.prefix,
        "TITAN_REGIME_BENCHMARK_SYMBOL": "SPX",
        # Small batches: many commits, so kills land between and inside transactions.
        "TITAN_BATCH_MAX_RECORDS": "25",
        # A killed member holds its partitions for the session timeout: 6 s, not 45.
        "TITAN_KAFKA_SESSION_TIMEOUT_MS": "6000",
        "TITAN_HOME": str(tmp_path / "home"),
        **{f"TITAN_{k.upper()}": str(v) for k, v in SCHEDULE.items()},
    }
    log_path = tmp_path / "regime.log"
    proc = ServiceProcess("regime", env, log_path)
    progress = await kill_mid_stream(proc, dsn, "regime", sum(ends.values()), 3, random.Random(5))
    assert progress < sum(ends.values()), "the stream was consumed before the last kill"
    proc.start()
    try:
        await wait_consumed_by(proc, dsn, "regime", ends, timeout_s=120)
        await wait_outbox_sent(dsn, "regime")
    finally:
        assert proc.terminate() == 0, log_path.read_text()[-3000:]
    records = await read_topic(kafka_bootstrap, topics[SHIFTS])
    assert _topic_events(records) == _strip_type(expected)
    assert _rows_as_events(await _shift_rows(dsn)) == _strip_type(expected)
