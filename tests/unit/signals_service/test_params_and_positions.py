"""Parameter resolution and the no-orphan rule (new params or regimes never strand a position)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from core.strategy import PairLifecycle, Signal, StrategyParams
from services.signals.domain import ParamsBook, ParamSet, SignalEngine, defaults_version
from services.signals.domain.convert import param_set, signal_payload
from shared.events import Payload
from tests.unit.signals_service.builders import feed, lifecycle, params, shift, spread

PAIR = "AAA~BBB"
DEFAULTS = StrategyParams(version="defaults-test")


def book(*sets: ParamSet, no_trade: tuple[str, ...] = ()) -> ParamsBook:
    return ParamsBook(DEFAULTS, no_trade_regimes=no_trade, sets=sets)


def ps(pair: str, regime: int | None, version: str, **kw: Any) -> ParamSet:
    return param_set(params(pair, regime, version, **kw))


def test_resolution_order_pair_then_any_pair_then_regime_free_then_defaults() -> None:
    b = book(ps(PAIR, 1, "p1"), ps("*", 1, "any1"), ps(PAIR, None, "pnone"), ps("*", None, "any"))
    assert b.resolve(PAIR, 1).params.version == "p1"
    assert b.resolve("CCC~DDD", 1).params.version == "any1"
    assert b.resolve(PAIR, 2).params.version == "pnone"
    assert b.resolve("CCC~DDD", 2).params.version == "any"
    assert b.resolve(PAIR, None).params.version == "pnone"
    assert book().resolve(PAIR, 1).source == "defaults"
    assert book(ps("*", 1, "any1")).resolve(PAIR, 1).source == "*|1"


def test_latest_publication_for_a_key_replaces_the_previous() -> None:
    b = book(ps(PAIR, 1, "old"))
    b.put(ps(PAIR, 1, "new", entry_z=2.5))
    resolved = b.resolve(PAIR, 1)
    assert (resolved.params.version, resolved.params.entry_z) == ("new", 2.5)


def test_no_trade_by_regime_number_name_or_published_flag() -> None:
    b = book(no_trade=("2", "crisis"))
    assert b.resolve(PAIR, 2).no_trade
    assert b.resolve(PAIR, 0, "crisis").no_trade
    assert not b.resolve(PAIR, 0, "calm").no_trade
    flagged = book(param_set(params("*", 1, "nt", no_trade=True)))
    assert flagged.resolve(PAIR, 1).no_trade
    assert not flagged.resolve(PAIR, 0).no_trade


def test_defaults_version_follows_the_values() -> None:
    a = defaults_version(StrategyParams())
    assert a == defaults_version(StrategyParams(version="other"))
    assert a != defaults_version(StrategyParams(entry_z=2.1))


def test_published_params_failing_the_core_rules_are_rejected() -> None:
    with pytest.raises(ValueError, match="exit_z"):
        param_set(params(PAIR, 1, "bad", entry_z=1.0, exit_z=1.5))
    with pytest.raises(ValueError, match="pair_id"):
        param_set(params("not-a-pair", 1, "bad"))


def _run(engine: SignalEngine, events: list[Payload]) -> list[Signal]:
    for e in events:
        feed(engine, e)
    return engine.take_changes().signals


def test_new_params_and_no_trade_regime_do_not_orphan_an_open_position() -> None:
    engine = SignalEngine(book(no_trade=("2",)), unknown_lifecycle=PairLifecycle.CANDIDATE)
    opened = _run(
        engine,
        [
            lifecycle(PAIR, "active", 0),
            params(PAIR, None, "v1", entry_z=2.0, exit_z=0.5, stop_z=4.0),
            spread(PAIR, 0, -2.2),
        ],
    )
    assert [(s.action.value, s.params_version) for s in opened] == [("open_long_spread", "v1")]
    # A stricter set arrives (it would never have entered at -2.2 and exits only at z >= 0),
    # and the regime turns no-trade: the position keeps v1's exit rule and still closes.
    later = _run(
        engine,
        [
            params(PAIR, None, "v2", entry_z=3.0, exit_z=0.0, stop_z=6.0),
            shift(PAIR, 1, 2),
            spread(PAIR, 1, -1.5),
            spread(PAIR, 2, -0.4),
            spread(PAIR, 3, -2.5),
        ],
    )
    assert [(s.action.value, s.params_version) for s in later] == [("close", "v1")]
    assert engine.record(PAIR).position is None


def test_position_record_carries_entry_params_and_opening_signal_id() -> None:
    engine = SignalEngine(book(), unknown_lifecycle=PairLifecycle.ACTIVE)
    (signal,) = _run(engine, [spread(PAIR, 0, 2.5)])
    changes_record = engine.record(PAIR)
    position = changes_record.position
    assert position is not None
    assert position.opening_signal_id == signal.signal_id
    assert position.direction == -1 and position.params_version == "defaults-test"
    assert position.params["entry_z"] == 2.0 and position.params["stop_z"] == 4.0
    assert json.loads(json.dumps(changes_record.machine)) == changes_record.machine


def test_signal_payload_maps_nan_z_to_null_and_regime_to_int() -> None:
    engine = SignalEngine(book(), unknown_lifecycle=PairLifecycle.ACTIVE)
    _run(engine, [shift("market", 0, 1), spread(PAIR, 0, -2.5)])
    # z missing on a bar where the pair is retired: forced close with z null.
    (closed,) = _run(engine, [lifecycle(PAIR, "retired", 1), spread(PAIR, 1, None)])
    payload = signal_payload(closed)
    assert payload.action == "forced_close" and payload.z_score is None
    assert payload.regime == 1 and math.isnan(closed.z_score)
    assert [leg.side for leg in payload.legs] == ["sell", "buy"]
