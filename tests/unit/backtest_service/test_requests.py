"""Request validation: valid requests become specs, bad ones name the field at fault."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from services.backtest.domain.requests import (
    JobSpec,
    RequestInvalid,
    parse_request,
    request_id_for_body,
    request_id_for_pair,
)
from shared.events import BacktestRequested


def _request(**kw: Any) -> BacktestRequested:
    base: dict[str, Any] = {"request_id": "r1", "a": "MSFT", "b": "IBM"}
    base.update(kw)
    return BacktestRequested(**base)


def test_valid_request_fills_defaults_and_round_trips_through_json() -> None:
    spec = parse_request(
        _request(
            kind="walk_forward",
            grid={"entry_z": [2.5, 1.5, 2.0], "stop_z": [math.inf]},
            costs={"commission_bps": 1, "slippage_bps": 2},
            options={"train_bars": 250, "test_bars": 60, "regimes": "none"},
        )
    )
    assert spec.grid["entry_z"] == (1.5, 2.0, 2.5)
    assert spec.grid["stop_z"] == (math.inf,)
    assert spec.costs == {"commission_bps": 1.0, "slippage_bps": 2.0, "borrow_bps": 0.0}
    assert spec.walk_forward.train_bars == 250 and spec.walk_forward.regimes == "none"
    assert len(spec.param_grid()) == 3 * 2 * 1 * 2 * 1
    assert JobSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    ("kw", "field", "fragment"),
    [
        ({"grid": {"entry_zz": [1.0]}}, "grid", "unknown parameter(s) entry_zz"),
        ({"grid": {"lookback": [1.5]}}, "grid.lookback", "integers >= 2"),
        ({"grid": {"entry_z": []}}, "grid.entry_z", "at least one value"),
        ({"grid": {"entry_z": [1.0], "exit_z": [2.0]}}, "grid", "no valid combination"),
        ({"costs": {"commission_bps": -1}}, "costs.commission_bps", ">= 0"),
        ({"costs": {"fees": 1}}, "costs", "unknown cost(s) fees"),
        (
            {"start": datetime(2010, 1, 2, tzinfo=UTC), "end": datetime(2010, 1, 1, tzinfo=UTC)},
            "end",
            "must be after start",
        ),
        ({"b": "MSFT"}, "b", "two different symbols"),
        ({"a": "ms ft"}, "a", "malformed symbol"),
        ({"interval": "7d"}, "interval", "unknown interval"),
        ({"options": {"objective": "luck"}}, "options.objective", "unknown objective"),
        ({"options": {"test_bars": 50, "step": 10}}, "options.step", "must be >= test_bars"),
        ({"options": {"colour": "red"}}, "options", "unknown option(s) colour"),
        ({"options": {"mode": "sliding"}}, "options.mode", "must be one of"),
    ],
)
def test_bad_requests_name_the_field(kw: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(RequestInvalid) as info:
        parse_request(_request(**kw))
    assert info.value.field == field
    assert fragment in str(info.value)


def test_request_ids_are_deterministic() -> None:
    as_of = datetime(2013, 3, 1, tzinfo=UTC)
    assert request_id_for_pair("MSFT~IBM", as_of, "backtest") == request_id_for_pair(
        "MSFT~IBM", as_of, "backtest"
    )
    assert request_id_for_pair("MSFT~IBM", as_of, "backtest") != request_id_for_pair(
        "MSFT~IBM", as_of, "walk_forward"
    )
    assert request_id_for_body({"a": "X", "b": "Y"}) == request_id_for_body({"b": "Y", "a": "X"})
