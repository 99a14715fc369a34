"""The fault matrix of issue 19 on the real infrastructure, against a clean run's digests.

One live `titan demo --json --chaos SEED` run (its own Kafka and PostgreSQL in a fresh
TITAN_HOME) under all four faults at once: 50 SIGKILLs spread over the five services, 5
SIGKILLs of the broker's JVM each restarted on the same port and data folder, 5
`pg_ctl stop -m immediate` each started again, and 1 % poison records (at least one of each
kind) on every topic the services consume. One combined run rather than four: the CI budget
allows one live run of the pipeline, and faults that overlap (a SIGKILL while the broker is
down, poison replayed by a service restarted after a kill) are the harder case. The clean
reference is `titan demo --offline` on the same file, run beside the live run.

Four symbols from 2015 keep the run short while a pair still becomes active (spreads,
signals and orders flow, so every consumed topic has real events to poison among).
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

from tests.integration.demo_runs import assert_same_content, fresh_demo_home, trimmed_prices
from tests.integration.streams import REPO

pytestmark = pytest.mark.integration

SYMBOLS = ("KO", "PEP", "XOM", "CVX")
FIRST_DAY = "2015-01-01"
KILLS, BROKER_KILLS, POSTGRES_STOPS, POISON = 50, 5, 5, 0.01
FAULTS = ("--chaos", "19", "--kills", str(KILLS), "--broker-kills", str(BROKER_KILLS),
          "--postgres-stops", str(POSTGRES_STOPS), "--poison", str(POISON))  # fmt: skip
# Regime refits yearly instead of quarterly: the run's time goes to the faults, not the fits.
ENV = {"TITAN_REGIME_REFIT_EVERY_BARS": "252"}
SERVICES = ("market_data", "pairs", "regime", "signals", "portfolio")
CONSUMED = ("market.ticks.v1", "market.bars.v1", "pairs.spreads.v1", "pairs.lifecycle.v1",
            "regime.shifts.v1", "params.v1", "signals.v1")  # fmt: skip
TIMEOUT_S = 1500


def _demo(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TITAN_KAFKA_BOOTSTRAP",
                                                            "TITAN_DATABASE_URL")}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "titan", "demo", "--json", *args],
        env=env | ENV | {"TITAN_HOME": str(home)}, cwd=REPO, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _summary(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, err[-4000:]
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


@pytest.fixture(scope="module")
def fault_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Its own Kafka and PostgreSQL, not the session's demo_home: this run kills both."""
    yield from fresh_demo_home(tmp_path_factory, "fault-home")


@pytest.fixture(scope="module")
def runs(fault_home: Path) -> Iterator[dict[str, dict[str, Any]]]:
    prices = str(trimmed_prices(fault_home / "faults-prices.csv", ",".join(SYMBOLS), FIRST_DAY))
    live = _demo(fault_home, "--quiet", "--file", prices, *FAULTS)
    offline = _demo(fault_home, "--offline", "--file", prices)
    try:
        summaries = {"offline": _summary(offline), "faults": _summary(live)}
        # Kept beside the run for the figures table of the issue (the home is a temp folder).
        (fault_home / "faults-summaries.json").write_text(json.dumps(summaries, indent=1))
        yield summaries
    finally:
        for proc in (live, offline):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def test_digests_equal_the_clean_run_nothing_lost_nothing_duplicated(
    runs: dict[str, dict[str, Any]],
) -> None:
    # Equal digests: the same events (counts and content), each id with one payload only.
    assert_same_content(runs)
    offline = runs["offline"]
    assert offline["pairs_found"] and offline["signals"] > 0
    assert offline["portfolio"]["orders"] > 0
    # No copy of an event after a newer one of its key: a broker killed mid-batch used to
    # make the outbox send the whole batch again (shared/runtime/outbox.py `send`).
    for topic, audit in runs["faults"]["delivery"].items():
        assert audit["copies_after_newer"] == 0, f"{topic}: {audit}"


def test_every_fault_was_done(runs: dict[str, dict[str, Any]]) -> None:
    chaos = runs["faults"]["chaos"]
    assert sum(chaos["kills"].values()) == KILLS
    assert chaos["kills"] == {s: KILLS // len(SERVICES) for s in sorted(SERVICES)}
    assert chaos["broker_kills"] == BROKER_KILLS
    assert chaos["postgres_stops"] == POSTGRES_STOPS
    assert [kind for kind, _s in chaos["outages_s"]].count("kafka") == BROKER_KILLS


def test_poison_on_every_consumed_topic_lands_in_its_dlq_once_per_consumer(
    runs: dict[str, dict[str, Any]],
) -> None:
    poison = runs["faults"]["chaos"]["poison"]
    assert set(poison) == set(CONSUMED)
    counts = runs["offline"]["digests"]
    for topic, audit in poison.items():
        real = runs["offline"]["ticks"] if topic == "market.ticks.v1" else counts[topic]["count"]
        assert audit["sent"] >= max(4, POISON * real), (topic, audit, real)
        assert audit["consumers"], topic
        assert audit["dead_lettered"] == audit["sent"] * len(audit["consumers"]), (topic, audit)
        assert audit["missing"] == audit["unexpected"] == audit["unreasoned"] == 0, (topic, audit)


def test_no_service_left_dead_and_lag_back_to_zero(runs: dict[str, dict[str, Any]]) -> None:
    chaos = runs["faults"]["chaos"]
    assert chaos["health"] == dict.fromkeys(SERVICES, "ready")
    assert chaos["final_lag"] == dict.fromkeys(SERVICES, 0)
