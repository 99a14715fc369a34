"""Everything a PortfolioBook needs to resume exactly, and its JSON form.

Floats are written with Python's shortest repr (json does), so they read back bit for bit;
non-finite values (a symbol never priced) are written as null, which PostgreSQL's jsonb
accepts where NaN is not.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.portfolio.model import LegWeight, PairSignal

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass
class PendingOrder:
    """An order decided at one bar and not yet filled (it fills at its symbol's next close).

    A zero quantity is an internal cross: pairs swap shares of a symbol with no trade.
    """

    order_id: str
    symbol: str
    quantity: float  # signed shares
    decided_at: datetime
    contributions: tuple[tuple[str, float], ...]


@dataclass
class BookState:
    symbols: list[str] = field(default_factory=list)
    pairs: list[str] = field(default_factory=list)
    prices: FloatArray = field(default_factory=lambda: np.zeros(0))  # last close, NaN unpriced
    history: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # recent closes
    target: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # pairs x symbols
    held: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # pairs x symbols
    units: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))  # signed leg weights
    target_dir: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    held_dir: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    unfilled: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cum_pnl: FloatArray = field(default_factory=lambda: np.zeros(0))
    lifecycle: dict[str, str] = field(default_factory=dict)
    lifecycle_pending: list[tuple[str, str, datetime]] = field(default_factory=list)
    signals: list[PairSignal] = field(default_factory=list)
    orders: list[PendingOrder] = field(default_factory=list)
    cash: float = 0.0
    equity: float = 0.0
    peak: float = 0.0
    kill_reason: str | None = None
    last_bar: datetime | None = None

    def copy(self) -> BookState:
        return copy.deepcopy(self)

    def to_json(self) -> str:
        return json.dumps(_encode(self), separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> BookState:
        try:
            raw = json.loads(text)
            return _decode(raw)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"not a portfolio book state: {exc}") from exc


def _floats(values: FloatArray) -> Any:
    return [
        _floats(v) if isinstance(v, np.ndarray) else (float(v) if math.isfinite(v) else None)
        for v in values
    ]


def _array(values: Any, shape: tuple[int, ...]) -> FloatArray:
    out = np.array(values if values else [], dtype=np.float64).reshape(shape)
    return out


def _ints(values: Any) -> IntArray:
    return np.array(values, dtype=np.int64).reshape(len(values))


def _signal(raw: dict[str, Any]) -> PairSignal:
    return PairSignal(
        signal_id=raw["signal_id"],
        pair_id=raw["pair_id"],
        action=raw["action"],
        bar_time=datetime.fromisoformat(raw["bar_time"]),
        hedge_ratio=float(raw["hedge_ratio"]),
        legs=tuple(LegWeight(s, side, float(w)) for s, side, w in raw["legs"]),
    )


def _encode(state: BookState) -> dict[str, Any]:
    return {
        "symbols": state.symbols,
        "pairs": state.pairs,
        "prices": _floats(state.prices),
        "history": _floats(state.history),
        "history_rows": int(state.history.shape[0]),
        "target": _floats(state.target),
        "held": _floats(state.held),
        "units": _floats(state.units),
        "target_dir": state.target_dir.tolist(),
        "held_dir": state.held_dir.tolist(),
        "unfilled": state.unfilled.tolist(),
        "cum_pnl": _floats(state.cum_pnl),
        "lifecycle": state.lifecycle,
        "lifecycle_pending": [(p, s, t.isoformat()) for p, s, t in state.lifecycle_pending],
        "signals": [
            {
                "signal_id": s.signal_id,
                "pair_id": s.pair_id,
                "action": s.action,
                "bar_time": s.bar_time.isoformat(),
                "hedge_ratio": s.hedge_ratio if math.isfinite(s.hedge_ratio) else None,
                "legs": [(leg.symbol, leg.side, leg.weight) for leg in s.legs],
            }
            for s in state.signals
        ],
        "orders": [
            (o.order_id, o.symbol, o.quantity, o.decided_at.isoformat(), o.contributions)
            for o in state.orders
        ],
        "cash": state.cash,
        "equity": state.equity,
        "peak": state.peak,
        "kill_reason": state.kill_reason,
        "last_bar": state.last_bar.isoformat() if state.last_bar else None,
    }


def _decode(raw: dict[str, Any]) -> BookState:
    n_sym, n_pair = len(raw["symbols"]), len(raw["pairs"])

    def nan_floats(values: Any) -> Any:
        if isinstance(values, list):
            return [nan_floats(v) for v in values]
        return math.nan if values is None else float(values)

    signals = []
    for s in raw["signals"]:
        if s["hedge_ratio"] is None:
            s = {**s, "hedge_ratio": math.nan}
        signals.append(_signal(s))
    return BookState(
        symbols=list(raw["symbols"]),
        pairs=list(raw["pairs"]),
        prices=_array(nan_floats(raw["prices"]), (n_sym,)),
        history=_array(nan_floats(raw["history"]), (int(raw["history_rows"]), n_sym)),
        target=_array(raw["target"], (n_pair, n_sym)),
        held=_array(raw["held"], (n_pair, n_sym)),
        units=_array(raw["units"], (n_pair, n_sym)),
        target_dir=_ints(raw["target_dir"]),
        held_dir=_ints(raw["held_dir"]),
        unfilled=_ints(raw["unfilled"]),
        cum_pnl=_array(raw["cum_pnl"], (n_pair,)),
        lifecycle=dict(raw["lifecycle"]),
        lifecycle_pending=[
            (p, s, datetime.fromisoformat(t)) for p, s, t in raw["lifecycle_pending"]
        ],
        signals=signals,
        orders=[
            PendingOrder(
                oid,
                sym,
                float(q),
                datetime.fromisoformat(t),
                tuple((p, float(c)) for p, c in contrib),
            )
            for oid, sym, q, t, contrib in raw["orders"]
        ],
        cash=float(raw["cash"]),
        equity=float(raw["equity"]),
        peak=float(raw["peak"]),
        kill_reason=raw["kill_reason"],
        last_bar=datetime.fromisoformat(raw["last_bar"]) if raw["last_bar"] else None,
    )
