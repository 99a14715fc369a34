from __future__ import annotations

import gzip
import itertools
import math
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from services.market_data.domain import decode_ticks
from services.market_data.feeds.encoding import tick_event_bytes
from services.market_data.feeds.pacing import paced_batches, parse_speed
from services.market_data.feeds.replay import (
    FeedTick,
    ReplayError,
    inject_malformed,
    parse_close_time,
    replay_ticks,
)
from shared.clock import ManualClock
from tests.data import data_file


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode("utf-8")))
    return path


def test_wide_file_gives_one_tick_per_cell_sorted_and_skips_empty_cells(tmp_path: Path) -> None:
    path = _write(tmp_path, "w.csv.gz", "Date,PEP,KO\n2020-01-03,2.5,\n2020-01-02,1.5,3.0\n")
    ticks = replay_ticks(path, close_time=time(20, 30))
    day = datetime(2020, 1, 2, 20, 30, tzinfo=UTC)
    assert [(t.symbol, t.ts, t.price, t.size) for t in ticks] == [
        ("KO", day, 3.0, 0.0),
        ("PEP", day, 1.5, 0.0),
        ("PEP", day + timedelta(days=1), 2.5, 0.0),
    ]
    assert [t.trade_id for t in ticks] == ["replay:w:1:KO", "replay:w:1:PEP", "replay:w:0:PEP"]


def test_long_file_uses_the_chosen_price_column_and_volume() -> None:
    path = data_file("quandl_wiki_stocks_daily_2000_2013.csv.gz")
    adj = replay_ticks(path, symbols=["msft", "IBM"])
    close = replay_ticks(path, symbols=["MSFT"], price_column="Close")
    assert {t.symbol for t in adj} == {"MSFT", "IBM"}
    first_msft = next(t for t in adj if t.symbol == "MSFT")
    assert first_msft.ts == datetime(2000, 3, 1, 21, tzinfo=UTC)
    assert first_msft.size > 0 and close[0].price > first_msft.price  # Close > Adj Close
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(adj))


def test_crude_file_with_bom_has_upper_case_symbols() -> None:
    ticks = replay_ticks(data_file("crude_brent_wti_monthly_1987_2020.csv.gz"))
    assert {t.symbol for t in ticks} == {"BRENT", "WTI"} and len(ticks) == 786


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"layout": "long"}, "columns look wide"),
        ({"symbols": ["KO", "NOPE"]}, "NOPE"),
    ],
)
def test_bad_options_fail_with_the_reason(
    tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    path = _write(tmp_path, "w.csv.gz", "Date,KO\n2020-01-02,1.0\n")
    with pytest.raises(ReplayError, match=message):
        replay_ticks(path, **kwargs)  # type: ignore[arg-type]


def test_bad_files_fail_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no such file"):
        replay_ticks(tmp_path / "missing.csv")
    with pytest.raises(ReplayError, match="not dates"):
        replay_ticks(_write(tmp_path, "d.csv.gz", "Date,KO\nsoon,1.0\n"))
    with pytest.raises(ReplayError, match="no price column 'Last'"):
        replay_ticks(data_file("quandl_wiki_stocks_daily_2000_2013.csv.gz"), price_column="Last")
    with pytest.raises(ReplayError, match="HH:MM"):
        parse_close_time("9pm")


def test_malformed_ticks_are_reported_and_all_reach_the_rejections() -> None:
    ticks = replay_ticks(data_file("crude_brent_wti_monthly_1987_2020.csv.gz"))
    broken, report = inject_malformed(ticks, rate=0.1, seed=42)
    again, _ = inject_malformed(ticks, rate=0.1, seed=42)
    assert broken == again and len(broken) == len(ticks) and 40 < len(report) < 120
    assert {m.kind for m in report} == {
        "nan_price",
        "negative_size",
        "bad_symbol",
        "far_future_ts",
        "zero_price",
    }
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    raws = [tick_event_bytes(t, producer="feed", produced_at=clock.now()) for t in broken]
    accepted, rejected = decode_ticks(raws, clock)
    assert [r.position for r in rejected] == [m.index for m in report]
    assert len(accepted) == len(ticks) - len(report)
    with pytest.raises(ReplayError, match="within"):
        inject_malformed(ticks, rate=1.5, seed=1)


async def test_pacing_sleeps_scaled_event_time_gaps() -> None:
    t0 = datetime(2020, 1, 2, 21, tzinfo=UTC)
    ticks = [
        FeedTick(s, t0 + timedelta(days=d), 1.0, 0.0, "x", "s")
        for d, s in [(0, "A"), (0, "B"), (1, "A"), (3, "A")]
    ]
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    batches = [b async for b in paced_batches(ticks, 86_400.0, sleep=fake_sleep)]
    assert [len(b) for b in batches] == [2, 1, 1] and sleeps == [1.0, 2.0]
    fast = [b async for b in paced_batches(ticks, None, batch_size=3, sleep=fake_sleep)]
    assert [len(b) for b in fast] == [3, 1] and sleeps == [1.0, 2.0]


def test_parse_speed() -> None:
    assert parse_speed("max") is None and parse_speed("60") == 60.0
    for bad in ("0", "-2", "fast", "inf", "nan"):
        with pytest.raises(ValueError, match="speed"):
            parse_speed(bad)
    assert math.isclose(parse_speed("0.5") or 0, 0.5)
