"""Scale-out keeps the pipeline a pure function of its input: two replicas of every service,
one of each stopped for good with SIGTERM and another SIGKILLed and restarted mid-stream,
give exactly the events of one process with no broker (`--offline`), by digest.

Also what the replicas must not do: leave a bar open (each daily close makes one bar, the
last included) or publish a copy of an event after a newer event of its key (a replica
sending another's outbox rows, or a takeover publishing before the departed replica's rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.demo_runs import assert_same_content, run_demo, trimmed_prices
from tests.integration.running_titan import PUBLISH_ALL

pytestmark = pytest.mark.integration


def assert_delivered_in_key_order(summary: dict[str, Any]) -> None:
    for topic, audit in summary["delivery"].items():
        assert audit["copies_after_newer"] == 0, f"{topic}: {audit}"


def test_two_replicas_each_with_sigterm_and_sigkill_equal_offline(demo_home: Path) -> None:
    runs = {
        "offline": run_demo(demo_home, "--offline"),
        "2 replicas, chaos": run_demo(
            demo_home, "--quiet", "--replicas", "2", "--chaos", "15", "--timeout", "840"
        ),
    }
    assert_same_content(runs)
    live = runs["2 replicas, chaos"]
    assert live["replicas"] == 2
    services = ("market_data", "pairs", "regime", "signals", "portfolio")
    assert sorted(live["chaos"]["retired"]) == sorted(f"{s}.2" for s in services)
    assert sorted(live["chaos"]["killed"]) == sorted(services)
    assert live["digests"]["market.bars.v1"]["count"] == live["ticks"]  # no bar left open
    assert_delivered_in_key_order(live)


def test_two_replicas_with_backtest_publish_parameters_to_their_pairs(demo_home: Path) -> None:
    """backtest x2 claims walk-forwards from one queue; each parameter set goes to its pair's
    partition, where the signals replica owning the pair waits for it. Walk-forwards of every
    activation publish parameter sets that apply from the activation's bar time; signals
    waits for them, so live equals offline here too."""
    # 2012-2022: the 33 years of these symbols start ~60 walk-forwards (minutes of CPU per
    # run); their activations' walk-forwards publish whatever their out-of-sample evidence,
    # so that this shorter history still has parameter sets in force.
    prices = str(trimmed_prices(demo_home / "wf-prices.csv", "PFE,GE,CVX,KO", "2012-01-01"))
    with_backtest = ("--with-backtest", "--file", prices)
    live = ("--quiet", *with_backtest, "--replicas", "2")
    runs = {
        "offline": run_demo(demo_home, "--offline", *with_backtest, env=PUBLISH_ALL),
        "2 replicas": run_demo(demo_home, *live, env=PUBLISH_ALL),
    }
    assert_same_content(runs)
    assert runs["offline"]["digests"]["params.v1"]["count"] > 0
    assert_delivered_in_key_order(runs["2 replicas"])
    without = run_demo(demo_home, "--offline", "--file", prices)
    # the published sets changed what signals decided
    assert without["digests"]["signals.v1"] != runs["offline"]["digests"]["signals.v1"]
