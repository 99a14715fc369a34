"""The example's Celery walk-forward, run by a real Celery worker (a subprocess) over a real
Redis broker (a redis-server of this test's own), queued from the Django site's page."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.infra.ports import free_port
from tests.integration.examples_support import (
    REPO,
    SITE,
    examples_services,
    get_json,
    load_site,
    redis_server,
    site_talking_to,
    subprocess_env,
)

pytestmark = pytest.mark.integration
__all__ = ["examples_services"]  # the fixture

WORKER_READY_S = 60.0
TASK_WAIT_S = 300.0


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module")
def celery_app(broker: str) -> Any:
    """The site's Celery app, sending to this test's broker."""
    load_site()
    from titan_site.celery import app

    app.conf.update(broker_url=broker, result_backend=broker)
    return app


@pytest.fixture(scope="module")
def worker(
    celery_app: Any, broker: str, examples_services: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`celery -A titan_site worker` in its own process; yields its node name once it answers."""
    node = f"desk-{secrets.token_hex(4)}@localhost"
    log_path = tmp_path_factory.mktemp("celery") / "worker.log"
    env = subprocess_env(
        examples_services.env, {"CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": broker}
    )
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "titan_site", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "-n", node],
            cwd=SITE, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_worker(celery_app, node, proc, log_path)
            yield node
        finally:
            proc.terminate()  # warm shutdown: the task in hand finishes, nothing is lost
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_worker(app: Any, node: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + WORKER_READY_S
    while not app.control.ping(destination=[node], timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"celery worker not ready (exit {proc.poll()}): {log.read_text()[-3000:]}")


def _follow(desk: Any, page: str) -> Any:
    deadline = time.monotonic() + TASK_WAIT_S
    seen: list[str] = []
    while True:
        response = desk.get(page)
        assert response.status_code == 200
        state = response.context["state"]
        seen.append(state)
        if state in ("SUCCESS", "FAILURE") or time.monotonic() > deadline:
            return response, seen
        time.sleep(0.5)


def test_walk_forward_queued_from_the_page_runs_on_the_worker(
    worker: str, examples_services: Any
) -> None:
    from django.test import Client

    a, b, start, end = examples_services.window
    with site_talking_to(examples_services.client_options):
        desk = Client()
        form = {"wf-a": a, "wf-b": b, "wf-start": start, "wf-end": end, "wf-entry_z": "1.5,2"}
        queued = desk.post("/walk-forwards/", form)
        assert queued.status_code == 302
        response, seen = _follow(desk, queued.url)
    assert response.context["state"] == "SUCCESS", (seen[-5:], response.context["error"])
    result = response.context["result"]
    # The worker asked the backtest service: the job is there, a completed walk-forward.
    served = get_json(examples_services.url("backtest") + f"/backtests/{result['request_id']}")
    assert served["kind"] == "walk_forward"
    assert served["status"] == "completed"
    assert result["pair_id"] == served["pair_id"]
    assert result["best_params"] == served["best_params"]
    assert result["metrics"] == served["metrics"]


def test_a_walk_forward_the_service_refuses_fails_with_its_message(
    worker: str, celery_app: Any, examples_services: Any
) -> None:
    from desk.tasks import walk_forward

    a, _, start, end = examples_services.window
    task = walk_forward.delay(a, "NOPE", start, end)
    with pytest.raises(Exception, match=r"unknown symbol\(s\) NOPE") as raised:
        task.get(timeout=TASK_WAIT_S)
    assert type(raised.value).__name__ == "InvalidRequest"
    assert task.state == "FAILURE"


DOWN_BROKER_PROBE = """
from django.test import Client
from tests.integration.examples_support import load_site
load_site()
desk = Client()
form = {"wf-a": "KO", "wf-b": "PEP", "wf-start": "2015-01-02", "wf-end": "2019-01-02"}
for response in (desk.post("/walk-forwards/", form), desk.get("/walk-forwards/some-task/")):
    print(response.status_code, "task queue unavailable" in response.content.decode())
"""


def test_pages_say_503_when_the_broker_is_down(examples_services: Any) -> None:
    """A site whose broker is down (nothing listens on its port): 503 with the reason, not 500.
    In a process of its own: a Celery app keeps its broker connection for its life."""
    down = f"redis://127.0.0.1:{free_port()}/0"
    env = subprocess_env(
        examples_services.env, {"CELERY_BROKER_URL": down, "CELERY_RESULT_BACKEND": down}
    )
    done = subprocess.run(
        [sys.executable, "-c", DOWN_BROKER_PROBE], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["503", "True", "503", "True"], done.stderr[-3000:]
