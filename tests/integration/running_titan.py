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

REPO = Path(__file__).resolve().parents[2]
# KO and PEP for the examples; PFE, GE and CVX give activations whose walk-forwards
# publish parameter sets (tests/integration/test_determinism.py), so params.live() has some.
SUBSET = "KO,PEP,PFE,GE,CVX"
DEMO_TIMEOUT_S = 900


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


@pytest.fixture(scope="session")
def running_titan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTitan]:
    home = tmp_path_factory.mktemp("running-titan")
    env = user_env(home)
    try:
        done = titan_cli(env, "demo", "--json", "--keep-running", "--symbols", SUBSET,
                         timeout=DEMO_TIMEOUT_S)  # fmt: skip
        assert done.returncode == 0, done.stderr[-4000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        yield RunningTitan(home, summary, env)
    finally:
        down = titan_cli(env, "down", timeout=180)
        assert down.returncode == 0, down.stderr[-2000:]
