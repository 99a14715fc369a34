"""Events the backtest service produces, with ids derived from their causes."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from services.backtest.domain.compute import JobResult, Publication
from services.backtest.domain.jobs import Job
from services.backtest.domain.requests import JobSpec
from shared.events import (
    BacktestCompleted,
    BacktestFailed,
    BacktestRequested,
    Envelope,
    ParametersPublished,
    StrategyParameters,
    derive_id,
    make_envelope,
)
from shared.topics import BACKTEST_REQUESTS, BACKTEST_RESULTS, PARAMS

PRODUCER = "titan-backtest"
# JSON has no infinity: a disabled time stop is published as this many half-lives, which no
# position ever reaches.
NO_TIME_STOP = 1e9

Topical = tuple[str, Envelope[Any]]


def _cause_time(job: Job) -> datetime:
    return job.requested_at or job.created_at


def completed(job: Job, result: JobResult, produced_at: datetime) -> list[Topical]:
    out: list[Topical] = [
        (
            BACKTEST_RESULTS.name,
            make_envelope(
                BacktestCompleted(
                    request_id=result.request_id,
                    kind=result.kind,
                    pair_id=result.pair_id,
                    metrics=result.metrics,
                    n_trades=result.n_trades,
                    n_combinations=result.n_combinations,
                    best_params=result.best_params,
                    published_params_version=result.publications[0].version
                    if result.publications
                    else None,
                ),
                event_id=derive_id("backtest-result", result.request_id),
                occurred_at=_cause_time(job),
                key=result.request_id,
                producer=PRODUCER,
                produced_at=produced_at,
            ),
        )
    ]
    out.extend((PARAMS.name, published(result, p, job, produced_at)) for p in result.publications)
    return out


def _number(value: Any) -> float:
    number = float(value)
    return NO_TIME_STOP if math.isinf(number) else number


def published(
    result: JobResult, p: Publication, job: Job, produced_at: datetime
) -> Envelope[ParametersPublished]:
    params = p.params
    return make_envelope(
        ParametersPublished(
            pair_id=result.pair_id,
            regime=p.regime,
            version=p.version,
            params=StrategyParameters(
                entry_z=float(params["entry_z"]),
                exit_z=float(params["exit_z"]),
                stop_z=_number(params["stop_z"]),
                lookback=int(params["lookback"]),
                time_stop_half_lives=_number(params["time_stop_half_lives"]),
                sizing=params.get("sizing", "dollar_neutral"),
            ),
            evidence={**p.evidence, "request_id": result.request_id},
        ),
        event_id=derive_id("params", p.version),
        occurred_at=_cause_time(job),
        key=f"{result.pair_id}|{'*' if p.regime is None else p.regime}",
        producer=PRODUCER,
        produced_at=produced_at,
    )


def failed(job: Job, reason: str, produced_at: datetime) -> Topical:
    return (
        BACKTEST_RESULTS.name,
        make_envelope(
            BacktestFailed(
                request_id=job.request_id,
                kind=job.kind,
                reason=reason,
            ),
            event_id=derive_id("backtest-failed", job.request_id),
            occurred_at=_cause_time(job),
            key=job.request_id,
            producer=PRODUCER,
            produced_at=produced_at,
        ),
    )


def requested(spec: JobSpec, options: dict[str, Any], when: datetime) -> Topical:
    grid = {k: list(v) for k, v in spec.grid.items()}
    return (
        BACKTEST_REQUESTS.name,
        make_envelope(
            BacktestRequested(
                request_id=spec.request_id,
                kind=spec.kind,
                a=spec.a,
                b=spec.b,
                start=spec.start,
                end=spec.end,
                interval=spec.interval,
                grid={k: [_number(v) for v in vs] for k, vs in grid.items()},
                costs=spec.costs,
                options=options,
            ),
            event_id=derive_id("backtest-requested", spec.request_id),
            occurred_at=when,
            key=spec.request_id,
            producer=PRODUCER,
            produced_at=when,
        ),
    )


def partition_key(contract_topic: str, envelope: Envelope[Any]) -> str | None:
    """Parameters (keyed pair|regime for compaction) go to their pair's partition, where
    signals consumes the pair's lifecycle and spreads: co-partitioned by pair id."""
    if contract_topic == PARAMS.name and isinstance(envelope.payload, ParametersPublished):
        return envelope.payload.pair_id
    return None
