"""The desk's pages: each is one or two calls to the TITAN services through `titan.client`.

Sync views use the process's shared `Titan`; `overview` is async and uses `AsyncTitan`,
fetching three services at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from celery.result import AsyncResult
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from desk.clients import async_titan, titan
from desk.errors import async_titan_errors, broker_errors, titan_errors
from desk.forms import BacktestForm, PairForm
from desk.tables import table
from desk.tasks import walk_forward

PAIR_STATES = ("candidate", "active", "degraded", "retired")
# The walk-forward form shares the backtest form's fields on the index page.
WALK_FORWARD_PREFIX = "wf"


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "pair_form": PairForm(),
        "backtest_form": BacktestForm(),
        "walk_forward_form": BacktestForm(prefix=WALK_FORWARD_PREFIX),
    }
    return render(request, "desk/index.html", context)


@require_GET
@titan_errors
def pair_list(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state") or None
    if state is not None and state not in PAIR_STATES:
        context = {"message": f"state must be one of {', '.join(PAIR_STATES)}", "status": 400}
        return render(request, "desk/error.html", context, status=400)
    pairs = titan().pairs.list(state=state)
    return render(request, "desk/pairs.html", {"pairs": table(pairs), "state": state})


@require_GET
@titan_errors
def pair_analysis(request: HttpRequest) -> HttpResponse:
    """Engle-Granger test of two symbols over a period (the seed's 'analyse a pair')."""
    form = PairForm(request.GET)
    if not form.is_valid():
        return render(request, "desk/analysis.html", {"form": form}, status=400)
    d = form.cleaned_data
    report = titan().pairs.test(d["a"], d["b"], start=d["start"], end=d["end"])
    return render(request, "desk/analysis.html", {"form": form, "report": report})


@require_POST
@titan_errors
def backtest_submit(request: HttpRequest) -> HttpResponse:
    form = BacktestForm(request.POST)
    if not form.is_valid():
        return render(request, "desk/index.html", {"backtest_form": form}, status=400)
    d = form.cleaned_data
    job = titan().backtest.submit(d["a"], d["b"], start=d["start"], end=d["end"], grid=form.grid())
    return redirect("desk:backtest", request_id=job.request_id)


@require_GET
@titan_errors
def backtest_list(request: HttpRequest) -> HttpResponse:
    return render(request, "desk/backtests.html", {"jobs": table(titan().backtest.list())})


@require_GET
@titan_errors
def backtest_detail(request: HttpRequest, request_id: str) -> HttpResponse:
    """A job's status and progress; its metrics and best parameters once it completed."""
    client = titan()
    job = client.backtest.status(request_id)
    context: dict[str, Any] = {"job": job, "result": None}
    if job.status == "completed":
        context["result"] = client.backtest.result(request_id)
    return render(request, "desk/backtest.html", context)


@require_GET
@titan_errors
def backtest_report(request: HttpRequest, request_id: str) -> HttpResponse:
    """The service's own HTML report (tear sheet), as it made it."""
    return HttpResponse(titan().backtest.report_html(request_id))


@require_GET
@titan_errors
def active_signals(request: HttpRequest) -> HttpResponse:
    return render(request, "desk/signals.html", {"signals": table(titan().signals.active())})


@require_GET
@titan_errors
def live_params(request: HttpRequest) -> HttpResponse:
    """Every parameter set in force, per pair and regime, with the evidence behind it."""
    return render(request, "desk/params.html", {"params": table(titan().params.live())})


@require_GET
@async_titan_errors
async def overview(request: HttpRequest) -> HttpResponse:
    """Active pairs, open positions and current regimes, asked of three services at once."""
    async with async_titan() as t:
        pairs, signals, regimes = await asyncio.gather(
            t.pairs.list(state="active"), t.signals.active(), t.regime.current()
        )
    context = {"pairs": table(pairs), "signals": table(signals), "regimes": table(regimes)}
    return render(request, "desk/overview.html", context)


@require_POST
@broker_errors
def walk_forward_submit(request: HttpRequest) -> HttpResponse:
    """Queue a walk-forward for a Celery worker; the page that follows shows the task."""
    form = BacktestForm(request.POST, prefix=WALK_FORWARD_PREFIX)
    if not form.is_valid():
        return render(request, "desk/index.html", {"walk_forward_form": form}, status=400)
    d = form.cleaned_data
    task = walk_forward.delay(
        d["a"], d["b"], d["start"].isoformat(), d["end"].isoformat(), grid=form.grid()
    )
    return redirect("desk:walk-forward", task_id=task.id)


@require_GET
@broker_errors
def walk_forward_detail(request: HttpRequest, task_id: str) -> HttpResponse:
    task = AsyncResult(task_id, app=walk_forward.app)
    context: dict[str, Any] = {"task_id": task_id, "state": task.state, "progress": None,
                               "result": None, "error": None}  # fmt: skip
    if task.state == "PROGRESS" and isinstance(task.info, dict):
        context["progress"] = task.info.get("progress")
    elif task.successful():
        context["result"] = task.result
    elif task.failed():
        context["error"] = str(task.result)
    return render(request, "desk/walk_forward.html", context)
