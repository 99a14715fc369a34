"""One running TITAN for the integration tests of the client and the examples.

`running_titan` (session scope) runs `titan demo --keep-running` as a user would, on a
small symbol subset in a TITAN_HOME of its own (its own Kafka and PostgreSQL), and leaves
every service up until the session ends (`titan down`). Tests reach the services exactly
as a user does after the demo: `Titan(home=running_titan.home)`, or TITAN_HOME in the
environment of a subprocess (`running_titan.env`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.demo_runs import trimmed_prices

REPO = Path(__file__).resolve().parents[2]
# KO and PEP for the examples; PFE, GE and CVX give activations whose walk-forwards
# publish parameter sets (tests/integration/test_determinism.py), so params.live() has some.
SUBSET = "KO,PEP,PFE,GE,CVX"
# The bundled file from this date on: 33 years of these 5 symbols start ~80 walk-forwards
# (minutes of CPU); 2012-2022 keeps the pipeline's every path at a fraction of the cost.
FIRST_DAY = "2012-01-01"
DEMO_TIMEOUT_S = 900
# The activations' walk-forwards publish whatever their out-of-sample evidence, so that this
# short history still has parameter sets in force (params.live(), the examples' pages).
PUBLISH_ALL = {
    "TITAN_BACKTEST_LIFECYCLE_OPTIONS": '{"min_deflated_sharpe": 0.0, "min_oos_sharpe": -100.0,'
    ' "min_oos_trades": 1, "max_oos_drawdown": 1.0}'
}


@dataclass(frozen=True)
class RunningTitan:
    home: Path
    summary: dict[str, Any]  # `titan demo --json`'s summary (topic prefix, counts, digests)
    env: dict[str, str]  # an environment in which the client finds these services

    @property
    def topic_prefix(self) -> str:
        return str(self.summary["topic_prefix"])


def user_env(home: Path) -> dict[str, str]:
    """This environment minus anything that would point elsewhere than `home`'s services."""
    env = {k: v for k, v in os.environ.items()
           if not (k in ("TITAN_KAFKA_BOOTSTRAP", "TITAN_DATABASE_URL", "TITAN_TOPIC_PREFIX")
                   or (k.startswith("TITAN_") and k.endswith("_URL")))}  # fmt: skip
    env["TITAN_HOME"] = str(home)
    return env


def titan_cli(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "titan", *args], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def subset_file(path: Path) -> Path:
    """The bundled 20-stock file cut to SUBSET from FIRST_DAY (same wide layout)."""
    return trimmed_prices(path, SUBSET, FIRST_DAY)


SUMMARY_FILE = "running-titan-summary.json"
# While writing tests: a TITAN_HOME where this fixture's demo already runs (it is neither
# started nor stopped then), so one test can be re-run without a new demo each time.
REUSE_HOME = "TITAN_TEST_RUNNING_HOME"


@pytest.fixture(scope="session")
def running_titan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTitan]:
    if os.environ.get(REUSE_HOME):
        home = Path(os.environ[REUSE_HOME])
        yield RunningTitan(home, json.loads((home / SUMMARY_FILE).read_text()), user_env(home))
        return
    home = tmp_path_factory.mktemp("running-titan")
    env = user_env(home)
    try:
        prices = subset_file(home / "prices.csv")
        done = titan_cli(env | PUBLISH_ALL, "demo", "--json", "--keep-running", "--file", str(prices),
                         timeout=DEMO_TIMEOUT_S)  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        (home / SUMMARY_FILE).write_text(json.dumps(summary))
        yield RunningTitan(home, summary, env)
    finally:
        down = titan_cli(env, "down", timeout=180)
        assert down.returncode == 0, down.stderr[-2000:]
