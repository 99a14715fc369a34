"""The whole pipeline is a pure function of its input (contract rule 7), proven by digests.

`titan demo --json` exactly as a user runs it (its own Kafka and PostgreSQL in a fresh
TITAN_HOME), on fresh state each run: twice calm, once under `--chaos` (random start order,
batch sizes and per-batch delays, a CPU-hogging neighbour, a SIGKILL of every service), and
`--offline` (one process, no broker, no database). Every output topic's digest must be equal
across all of them; also on the Quandl long OHLCV file and on a symbol subset.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.infra.local import down
from tests.integration.streams import REPO

pytestmark = pytest.mark.integration

SUBSET = "KO,PEP,XOM,CVX,MSFT,AAPL,JPM,BAC,WMT,PG"


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("demo-home")
    try:
        yield home
    finally:
        down(home, purge=True)


def run_demo(home: Path, *args: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("TITAN_KAFKA_BOOTSTRAP",
                                                            "TITAN_DATABASE_URL")}  # fmt: skip
    env["TITAN_HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-m", "titan", "demo", "--json", *args],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, f"--json prints one line, got {len(lines)}"
    summary: dict[str, Any] = json.loads(lines[0])
    return summary


def assert_same_content(runs: dict[str, dict[str, Any]]) -> None:
    (first_name, first), *rest = runs.items()
    for name, other in rest:
        for topic, digest in first["digests"].items():
            assert other["digests"][topic] == digest, (
                f"{topic}: {first_name} {digest} != {name} {other['digests'][topic]}"
            )
        for field in ("ticks", "pairs_found", "pair_tests", "regime_shifts", "signals"):
            assert other[field] == first[field], f"{field}: {first_name} != {name}"


def test_sp500_calm_twice_chaos_and_offline_give_one_set_of_events(demo_home: Path) -> None:
    runs = {
        "offline": run_demo(demo_home, "--offline"),
        "live 1": run_demo(demo_home, "--quiet"),
        "live 2": run_demo(demo_home, "--quiet"),
        "chaos": run_demo(demo_home, "--quiet", "--chaos", "20261206"),
    }
    assert_same_content(runs)
    offline = runs["offline"]
    # every daily close makes one bar, the last one included (end of input closes it)
    assert offline["digests"]["market.bars.v1"]["count"] == offline["ticks"] == 166_260
    assert offline["signals"] > 100 and offline["regime_shifts"] > 10
    assert len(offline["pairs_found"]) > 10
    assert sorted(runs["chaos"]["chaos"]["killed"]) == sorted(
        ("market_data", "pairs", "regime", "signals")
    )


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


def test_with_backtest_parameter_sets_are_published_used_and_equal_offline(
    demo_home: Path,
) -> None:
    """Walk-forwards of every activation publish parameter sets that apply from the
    activation's bar time; signals waits for them, so live equals offline here too."""
    subset = "PFE,GE,CVX,KO"
    runs = {
        "offline": run_demo(demo_home, "--offline", "--with-backtest", "--symbols", subset),
        "live": run_demo(demo_home, "--quiet", "--with-backtest", "--symbols", subset),
    }
    assert_same_content(runs)
    assert runs["offline"]["digests"]["params.v1"]["count"] > 0
    without = run_demo(demo_home, "--offline", "--symbols", subset)
    # the published sets changed what signals decided
    assert without["digests"]["signals.v1"] != runs["offline"]["digests"]["signals.v1"]
