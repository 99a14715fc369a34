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
from pathlib import Path
from typing import Any

import httpx

from shared.infra.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SITE = EXAMPLES / "django"
REPO = EXAMPLES.parent


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, with the repository and the site importable
    (a worker or kernel started from another folder still imports titan and desk)."""
    paths = [str(SITE), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    return {**os.environ, **extra, "PYTHONPATH": ":".join(dict.fromkeys(paths))}


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
