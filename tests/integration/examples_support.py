"""Shared by the examples' integration tests (test_examples_*.py): the Django site of
examples/django loaded in this process, a redis-server of the test's own, and the ways a
subprocess (Celery worker, notebook kernel) finds the running services."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shared.infra.ports import free_port
from tests.integration.running_titan import RunningTitan

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SITE = EXAMPLES / "django"
REPO = EXAMPLES.parent
SERVICES = ("market_data", "pairs", "regime", "signals", "backtest")
# The period the examples study a pair over: long enough for a walk-forward's folds, short
# enough that backtests take seconds.
WINDOW_YEARS = 4


def subprocess_env(env: dict[str, str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """`env` plus `extra`, with the repository and the site importable (a worker or kernel
    started from another folder still imports titan and desk)."""
    paths = [str(SITE), str(REPO), *filter(None, env.get("PYTHONPATH", "").split(":"))]
    return {**env, **(extra or {}), "PYTHONPATH": ":".join(dict.fromkeys(paths))}


_site_ready = False


def load_site() -> None:
    """Import and set up the example Django project once per test process."""
    global _site_ready
    if _site_ready:
        return
    if str(SITE) not in sys.path:
        sys.path.insert(0, str(SITE))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "titan_site.settings")
    import django
    from django.test.utils import setup_test_environment

    django.setup()
    # Captures each rendered template's context on the response (response.context).
    setup_test_environment()
    _site_ready = True


@contextmanager
def site_talking_to(client_options: dict[str, Any]) -> Iterator[None]:
    """The site's shared Titan opened with these options for the duration."""
    from desk.clients import close_titan
    from django.test import override_settings

    close_titan()
    with override_settings(TITAN_CLIENT=client_options):
        try:
            yield
        finally:
            close_titan()


def get_json(url: str, **params: Any) -> Any:
    """A service's own answer, to compare a page against."""
    response = httpx.get(url, params=params, timeout=30.0)
    response.raise_for_status()
    return response.json()


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of this test's own on a free port (no persistence); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: install it with deploy/setup.sh")
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (folder / "redis.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
         "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_redis(port, proc, folder / "redis.log")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait_redis(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import redis

    deadline = time.monotonic() + 20.0
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0).ping():
                return
        except redis.ConnectionError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server not answering on {port}: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@dataclass(frozen=True)
class ExamplesServices:
    """The running services as the examples see them: by TITAN_HOME, like a user's."""

    home: Path
    env: dict[str, str]  # a user's environment after the demo: TITAN_HOME, no service URLs
    urls: dict[str, str]
    pairs: list[str]  # pair ids the pipeline found
    window: tuple[str, str, str, str]  # a, b, start, end (ISO dates) of a pair with data

    @property
    def client_options(self) -> dict[str, Any]:
        return {"home": self.home}

    def url(self, service: str) -> str:
        return self.urls[service]


def describe_services(
    home: Path, env: dict[str, str], years: int = WINDOW_YEARS
) -> ExamplesServices:
    """What the examples' tests need to know of the services running under `home`."""
    from titan.client import Titan

    with Titan(home=home) as t:
        urls = {s: t.addresses.url(s) for s in SERVICES}
        pairs = t.pairs.list()
        if pairs.empty:
            a, b = t.market_data.symbols()[:2]
        else:
            a, b = str(pairs["a"].iloc[0]), str(pairs["b"].iloc[0])
        closes = t.market_data.closes([a, b]).dropna()
    end = closes.index[-1]
    start = max(closes.index[0], end - pd.DateOffset(years=years))
    window = (a, b, start.date().isoformat(), end.date().isoformat())
    return ExamplesServices(home, env, urls, [str(p) for p in pairs["pair_id"]], window)


@pytest.fixture(scope="session")
def examples_services(running_titan: RunningTitan) -> ExamplesServices:
    """The suite's one running TITAN (C-client's session fixture), as the examples see it."""
    return describe_services(running_titan.home, running_titan.env)
