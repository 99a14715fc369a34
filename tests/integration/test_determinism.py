"""The whole pipeline is a pure function of its input (contract rule 7), proven by digests.

`titan demo --json` exactly as a user runs it (its own Kafka and PostgreSQL in a fresh
TITAN_HOME), on fresh state each run: the S&P file twice calm and `--offline` (one process, no
broker, no database); the Quandl long OHLCV file under `--chaos` (random start order, batch
sizes and per-batch delays, a CPU-hogging neighbour, a SIGKILL of every service); a symbol
subset. Every output topic's digest must be equal across the runs of a file. The S&P file
under `--chaos` runs with two replicas of every service in tests/integration/test_scale_out.py
(also with the backtest service publishing parameter sets), and under 50 SIGKILLs, 5 broker
kills, 5 PostgreSQL stops and 1 % poison in tests/integration/test_faults.py; the offline
runs they compare with are shared (tests/integration/demo_runs.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.demo_runs import assert_same_content, run_demo

pytestmark = pytest.mark.integration

SUBSET = "KO,PEP,XOM,CVX,MSFT,AAPL,JPM,BAC,WMT,PG"


def test_sp500_calm_twice_and_offline_give_one_set_of_events(demo_home: Path) -> None:
    runs = {
        "offline": run_demo(demo_home, "--offline"),
        "live 1": run_demo(demo_home, "--quiet"),
        "live 2": run_demo(demo_home, "--quiet"),
    }
    assert_same_content(runs)
    offline = runs["offline"]
    # every daily close makes one bar, the last one included (end of input closes it)
    assert offline["digests"]["market.bars.v1"]["count"] == offline["ticks"] == 166_260
    assert offline["signals"] > 100 and offline["regime_shifts"] > 10
    assert len(offline["pairs_found"]) > 10
    # the portfolio backtest (offline) and the live service: one set of orders and marks
    portfolio = offline["portfolio"]
    assert portfolio["bars"] == offline["digests"]["portfolio.positions.v1"]["count"] > 8000
    assert portfolio["orders"] > 100 and portfolio["netted_orders"] > 0


def test_quandl_long_ohlcv_file_live_under_chaos_equals_offline(demo_home: Path) -> None:
    name = "quandl_wiki_stocks_daily_2000_2013.csv.gz"
    runs = {
        "offline": run_demo(demo_home, "--offline", "--file", name),
        "chaos": run_demo(demo_home, "--quiet", "--file", name, "--chaos", "5"),
    }
    assert_same_content(runs)
    assert runs["offline"]["digests"]["market.bars.v1"]["count"] == runs["offline"]["ticks"]
    assert runs["offline"]["pair_tests"] > 0


def test_symbol_subset_live_equals_offline(demo_home: Path) -> None:
    runs = {
        "offline": run_demo(demo_home, "--offline", "--symbols", SUBSET),
        "live": run_demo(demo_home, "--quiet", "--symbols", SUBSET),
    }
    assert_same_content(runs)
    assert runs["offline"]["symbols"] == SUBSET.split(",")
    # `titan signals tail` after a demo, with no flag: tests/integration/test_titan_up.py
