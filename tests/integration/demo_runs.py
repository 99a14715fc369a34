"""`titan demo --json` as a user runs it, in a fresh TITAN_HOME (its own Kafka and
PostgreSQL), and the comparison of runs by content (digests)."""

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


def fresh_demo_home(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A new TITAN_HOME; its local Kafka and PostgreSQL (started by the demos) go at the end."""
    home = tmp_path_factory.mktemp(name)
    try:
        yield home
    finally:
        down(home, purge=True)


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from fresh_demo_home(tmp_path_factory, "demo-home")


# `--offline` runs no broker and no database: its summary depends on its arguments only, so
# tests that compare with the same offline run share one (each costs minutes of CI on the
# full data).
_OFFLINE_SUMMARIES: dict[tuple[str, ...], dict[str, Any]] = {}


def run_demo(home: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`titan demo --json *args` with TITAN_HOME=home (and `env` added); its summary."""
    if "--offline" in args:
        key = (*args, *sorted(f"{k}={v}" for k, v in (env or {}).items()))
        if key not in _OFFLINE_SUMMARIES:
            _OFFLINE_SUMMARIES[key] = _run_demo(home, args, env or {})
        return _OFFLINE_SUMMARIES[key]
    return _run_demo(home, args, env or {})


def trimmed_prices(path: Path, symbols: str, first_day: str) -> Path:
    """The bundled 20-stock file cut to `symbols` (comma-separated) from `first_day`."""
    import pandas as pd

    from services.market_data.data import bundled_file

    source = bundled_file("sp500_20stocks_daily_1990_2022.csv.gz")
    assert source is not None
    wide = pd.read_csv(source, dtype={"Date": str})
    wide.loc[wide["Date"] >= first_day, ["Date", *symbols.split(",")]].to_csv(path, index=False)
    return path


def _run_demo(home: Path, args: tuple[str, ...], extra_env: dict[str, str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("TITAN_KAFKA_BOOTSTRAP",
                                                            "TITAN_DATABASE_URL")}  # fmt: skip
    env |= extra_env
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
        for field in ("ticks", "pairs_found", "pair_tests", "regime_shifts", "signals",
                      "portfolio"):  # fmt: skip
            assert other[field] == first[field], f"{field}: {first_name} != {name}"
