"""Every method of `titan.client` against the real services of `titan demo --keep-running`
(tests/integration/running_titan.py: KO, PEP, PFE, GE, CVX in a TITAN_HOME of its own)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pandas as pd
import pytest
from aiokafka import AIOKafkaConsumer

from tests.integration.running_titan import SUBSET, RunningTitan
from titan.client import (
    AsyncTitan,
    BacktestJob,
    BacktestResult,
    Conflict,
    InvalidRequest,
    NotFound,
    Titan,
)

pytestmark = pytest.mark.integration
START, END = "2015-01-01", "2019-12-31"


@pytest.fixture(scope="module")
def t(running_titan: RunningTitan) -> Iterator[Titan]:
    with Titan(home=running_titan.home) as client:
        yield client


def test_market_data_symbols_bars_and_wide_closes(t: Titan) -> None:
    assert set(SUBSET.split(",")) <= set(t.market_data.symbols())
    bars = t.market_data.bars(["KO", "PEP"], start=START, end=END)
    assert set(bars["symbol"]) == {"KO", "PEP"}
    assert bars["start"].min() >= pd.Timestamp(START, tz="UTC")
    assert bars["start"].max() < pd.Timestamp(END, tz="UTC")
    closes = t.market_data.closes(["PEP", "KO"], start=START, end=END)
    assert list(closes.columns) == ["PEP", "KO"]
    assert closes.index.is_monotonic_increasing and len(closes) > 1000
    ko = bars[bars["symbol"] == "KO"].set_index("start")["close"]
    pd.testing.assert_series_equal(closes["KO"], ko.astype(float), check_names=False)


def test_market_data_publish_ticks_reach_the_demo_ticks_topic(
    t: Titan, running_titan: RunningTitan
) -> None:
    ticks = pd.DataFrame({
        "symbol": ["ZZCLIENT", "ZZCLIENT"],
        "ts": [datetime(2031, 1, 2, 21, tzinfo=UTC), datetime(2031, 1, 3, 21, tzinfo=UTC)],
        "price": [10.0, 10.5],
        "trade_id": ["client-test-1", "client-test-2"],
    })  # fmt: skip
    assert t.market_data.publish_ticks(ticks) == 2
    with pytest.raises(InvalidRequest, match="missing"):
        t.market_data.publish_ticks(ticks.drop(columns=["price"]))

    async def read_back() -> set[str]:
        consumer = AIOKafkaConsumer(
            running_titan.topic_prefix + "market.ticks.v1",
            bootstrap_servers=t.addresses.bootstrap(), auto_offset_reset="earliest",
        )  # fmt: skip
        await consumer.start()
        found: set[str] = set()
        try:
            for _ in range(60):
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    found |= {
                        r.value.decode() for r in records if r.value and b"client-test" in r.value
                    }
                if len(found) >= 2:
                    break
        finally:
            await consumer.stop()
        return {tid for tid in ("client-test-1", "client-test-2") if any(tid in v for v in found)}

    assert asyncio.run(read_back()) == {"client-test-1", "client-test-2"}


def test_pairs_list_get_test_stability(t: Titan) -> None:
    pairs = t.pairs.list()
    assert len(pairs) > 0 and {"pair_id", "a", "b", "state", "since"} <= set(pairs.columns)
    active = t.pairs.list(state="active")
    assert set(active["state"]) <= {"active"}
    first = str(pairs["pair_id"].iloc[0])
    detail = t.pairs.get(first)
    assert detail.pair is not None and detail.pair.pair_id == first
    assert len(detail.tests) > 0
    with pytest.raises(NotFound, match="unknown pair"):
        t.pairs.get("NO~SUCH")
    report = t.pairs.test("KO", "PEP", start=START, end=END)
    assert 0.0 <= report.pvalue <= 1.0 and report.n_obs > 1000
    assert {report.a, report.b} == {"KO", "PEP"}
    with pytest.raises(InvalidRequest, match="unknown symbol"):
        t.pairs.test("KO", "NOPE", start=START, end=END)
    stability = t.pairs.stability("KO", "PEP", start=START, end=END, n_windows=4)
    assert len(stability.windows) == 4 and stability.windows["start"].is_monotonic_increasing
    assert stability.pvalue_min == pytest.approx(stability.windows["pvalue"].min())
    assert 0.0 <= stability.pass_fraction <= 1.0
    with pytest.raises(InvalidRequest, match="windows"):
        t.pairs.stability("KO", "PEP", start="2019-01-01", end="2019-03-01", n_windows=10)


def test_pairs_screen_waits_until_done(t: Titan) -> None:
    request = t.pairs.screen(wait=True, timeout=300)
    assert request.status == "done" and request.as_of is not None
    assert t.pairs.screen_status(request.request_id).status == "done"


def test_regime_current_history_fit(t: Titan) -> None:
    current = t.regime.current()
    assert "market" in set(current["scope"])
    history = t.regime.history("market", start=START, end=END)
    assert history.index.is_monotonic_increasing and len(history) > 0
    probabilities = history.filter(regex=r"^p\d+$")
    assert probabilities.shape[1] >= 2
    assert (probabilities.sum(axis=1) - 1.0).abs().max() < 1e-6
    fit = t.regime.fit("market")
    assert fit.scope == "market" and fit.nobs > 0
    with pytest.raises(NotFound, match="unknown scope"):
        t.regime.history("NO~SUCH")


def test_signals_active_history_and_subscription(t: Titan, running_titan: RunningTitan) -> None:
    expected = running_titan.summary["signals"]
    assert expected > 0
    history = t.signals.history()
    assert len(history) == expected and history["bar_time"].is_monotonic_increasing
    one = str(history["pair_id"].iloc[0])
    assert set(t.signals.history(pair_id=one)["pair_id"]) == {one}
    assert {"pair_id", "side", "entry_time", "params"} <= set(t.signals.active().columns)
    with pytest.raises(InvalidRequest):
        t.signals.history(pair_id="not a pair")
    seen: dict[str, object] = {}
    with t.signals.subscribe(from_="beginning") as subscription:
        for _ in range(60):
            seen |= {s.signal_id: s for s in subscription.poll(1000, timeout=1.0)}
            if len(seen) >= expected:
                break
    assert set(seen) == set(history["signal_id"])


def test_backtest_run_waits_with_progress_and_metrics(t: Titan) -> None:
    updates: list[BacktestJob] = []
    result = t.backtest.run("KO", "PEP", start=START, end=END, wait=True,
                            progress=updates.append, timeout=600)  # fmt: skip
    assert isinstance(result, BacktestResult) and result.pair_id == "KO~PEP"
    assert {"sharpe", "max_drawdown"} <= set(result.metrics)
    assert updates[-1].status == "completed" and updates[-1].progress == 1.0
    again = t.backtest.result(result.request_id)
    assert again.metrics == result.metrics
    assert "<svg" in t.backtest.report_html(result.request_id)
    jobs = t.backtest.list()
    assert result.request_id in set(jobs["request_id"])


def test_backtest_submit_status_list_with_queue_positions(t: Titan) -> None:
    grid = {"entry_z": [1.5, 2.0, 2.5], "exit_z": [0.0, 0.5]}
    years = [
        ("2013-01-01", "2016-12-31"),
        ("2014-01-01", "2017-12-31"),
        ("2015-01-01", "2018-12-31"),
    ]
    jobs = [t.backtest.submit("PFE", "GE", s, e, grid=grid) for s, e in years]
    listing = t.backtest.list()
    queued = listing[listing["status"] == "queued"]
    assert list(queued["queue_position"]) == list(range(1, len(queued) + 1))
    ours = listing[listing["request_id"].isin([j.request_id for j in jobs])]
    assert len(ours) == 3
    status = t.backtest.status(jobs[-1].request_id)
    if status.status == "queued":
        assert status.queue_position is not None and status.queue_position >= 1
        with pytest.raises(Conflict, match="queued"):
            t.backtest.report_html(jobs[-1].request_id)
    with pytest.raises(NotFound):
        t.backtest.status("no-such-request")
    with pytest.raises(InvalidRequest, match="unknown symbol"):
        t.backtest.submit("KO", "NOPE", START, END)
    results = [t.backtest.wait(job.request_id, timeout=600) for job in jobs]
    assert len({r.n_combinations for r in results}) == 1  # one grid, three periods
    assert [r.data_start.year for r in results if r.data_start] == [2013, 2014, 2015]


def test_walk_forward_progress_moves_during_the_run(t: Titan) -> None:
    updates: list[float] = []
    # A grid big enough that the run lasts several of the service's 0.25 s progress writes
    # and the client's 0.25 s polls (the default grid ends in well under a second when the
    # machine is idle, and progress then reads 0 then 1).
    grid = {
        "entry_z": [1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5, 3.0],
        "exit_z": [0.0, 0.25, 0.5],
        "stop_z": [3.0, 4.0, 5.0],
        "lookback": [10, 15, 20, 30, 40, 60, 80, 120],
    }
    result = t.params.walk_forward("KO", "PEP", start="2012-01-01", end=END, grid=grid,
                                   progress=lambda job: updates.append(job.progress),
                                   timeout=600)  # fmt: skip
    assert isinstance(result, BacktestResult) and result.best_params
    assert any(0.0 < p < 1.0 for p in updates), updates
    assert updates == sorted(updates)


def test_params_live_with_evidence(t: Titan) -> None:
    live = t.params.live()
    assert len(live) > 0
    assert not live.duplicated(["pair_id", "regime"]).any()
    published = live[live["request_id"].notna()]
    assert len(published) > 0, "the demo's walk-forwards published no set in force"
    assert all(isinstance(e, dict) and e for e in published["evidence"])
    assert all({"entry_z", "exit_z"} <= set(p) for p in live["params"])


def test_sync_client_from_a_plain_thread_sixteen_threads_and_a_running_loop(
    running_titan: RunningTitan, t: Titan
) -> None:
    out: list[pd.DataFrame] = []
    worker = threading.Thread(target=lambda: out.append(t.pairs.list()))
    worker.start()
    worker.join(60)
    assert len(out) == 1 and len(out[0]) > 0
    with ThreadPoolExecutor(16) as pool:
        calls = [pool.submit(t.regime.current), *(pool.submit(t.pairs.list) for _ in range(15))]
        frames = [c.result(120) for c in calls]
    assert all(f.equals(frames[1]) for f in frames[1:])

    async def async_view() -> int:
        return len(t.signals.history())

    assert asyncio.run(async_view()) == running_titan.summary["signals"]


def test_async_client_same_answers(running_titan: RunningTitan, t: Titan) -> None:
    async def main() -> tuple[pd.DataFrame, dict[str, bool]]:
        async with AsyncTitan(home=running_titan.home) as at:
            return await at.pairs.list(), await at.health()

    pairs, health = asyncio.run(main())
    assert pairs.equals(t.pairs.list())
    assert health == {s: True for s in ("market_data", "pairs", "regime", "signals", "backtest")}


def test_must_show_with_no_set_up_after_demo_keep_running(
    running_titan: RunningTitan, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in running_titan.env.items():
        monkeypatch.setenv(name, value)
    for name in ("TITAN_KAFKA_BOOTSTRAP", "TITAN_TOPIC_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    with Titan() as t:
        closes = t.market_data.closes(["KO", "PEP"], start=START, end=END)
        assert isinstance(closes, pd.DataFrame) and list(closes.columns) == ["KO", "PEP"]
        assert len(t.pairs.list()) > 0
        assert 0.0 <= t.pairs.test("KO", "PEP", start=START, end=END).pvalue <= 1.0
        assert isinstance(t.signals.active(), pd.DataFrame)
        result = t.backtest.run("KO", "PEP", start=START, end=END, wait=True)
        assert isinstance(result, BacktestResult) and "sharpe" in result.metrics
        assert len(t.params.live()) > 0
