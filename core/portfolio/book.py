"""PortfolioBook: the one state machine of the live portfolio service and the backtest.

`on_bar(t, closes)`, once per bar time after every signal and lifecycle change at or
before t, does in this order:

1. fills the orders decided at the previous bar at these closes (paper trading: commission
   + slippage on traded notional; an order whose symbol has no close waits for its next one);
2. marks: PnL of the bar = shares held over the bar x price move - borrow on the net short
   notional at the previous close - fill costs; equity = cash + market value; drawdown from
   the equity peak (the capital is the first peak); the kill-switch latches at
   drawdown >= drawdown_kill;
3. applies the due signals (per pair, the last by bar time, exits before entries at one
   time, then signal id) and lifecycle changes (retired closes the pair) to per-pair targets;
4. sizes entries (see :mod:`core.portfolio.sizing`) from the signal's leg weights (which
   carry the hedge ratio) at this bar's closes;
5. risk rules, in this order: a retired pair takes no entry; the kill-switch blocks every
   entry; an entry needs a close for each leg; max_pairs admits entries by pair id while
   the open pairs stay within it; then ONE scale s in [0, 1] of this bar's entries, the
   largest keeping gross, net and per-symbol exposure (at these closes, on the equity) inside
   their limits (s = 0 rejects them). Exits always pass: they take a pair's risk off.
6. nets the pair targets into one target per symbol; an order is the per-symbol change, with
   each pair's contribution, so opposite legs of two pairs cancel (a fully cancelling change
   is an internal cross: no order, no cost).

Attribution: a pair's PnL is its own shares x price moves, minus its share of the fill costs
(pro rata |contribution|) and of the symbol's borrow (pro rata its short shares), so the
pairs' PnL sums to the portfolio's. Pairs and symbols are kept sorted, so the state does not
depend on the order they were first seen in.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from datetime import datetime

import numpy as np

from core.portfolio.marks import Marked, mark_of
from core.portfolio.model import (
    LIFECYCLE_STATES,
    BarOutcome,
    FillRecord,
    PairSignal,
    PortfolioConfig,
    Side,
)
from core.portfolio.orders import Decision, net_orders
from core.portfolio.sizing import FloatArray, allocate, entry_scale, pair_vols
from core.portfolio.state import BookState, PendingOrder

_IN_PLAY = ("active", "degraded")


class PortfolioBook:
    def __init__(self, config: PortfolioConfig, state: BookState | None = None) -> None:
        self.config = config
        if state is None:
            c = config.capital
            state = BookState(cash=c, equity=c, peak=c)
        self._s = state.copy()
        self._index = {symbol: j for j, symbol in enumerate(self._s.symbols)}
        self._pair_index = {pair: i for i, pair in enumerate(self._s.pairs)}
        self._exited: set[int] = set()  # pairs with an exit signal due at the bar in hand

    def state(self) -> BookState:
        return self._s.copy()

    # -- inputs -----------------------------------------------------------------------
    def on_lifecycle(self, pair_id: str, state: str, as_of: datetime) -> None:
        if state not in LIFECYCLE_STATES:
            raise ValueError(f"lifecycle state must be one of {sorted(LIFECYCLE_STATES)}")
        if as_of.tzinfo is None:
            raise ValueError(f"as_of must be timezone-aware, got {as_of!r}")
        self._pair(pair_id)
        self._s.lifecycle_pending.append((pair_id, state, as_of))

    def on_signal(self, signal: PairSignal) -> None:
        self._pair(signal.pair_id)
        for leg in signal.legs:
            self._symbol(leg.symbol)
        self._s.signals.append(signal)

    def on_bar(self, bar_time: datetime, closes: Mapping[str, float]) -> BarOutcome:
        s = self._s
        if bar_time.tzinfo is None:
            raise ValueError(f"bar_time must be timezone-aware, got {bar_time!r}")
        if s.last_bar is not None and bar_time <= s.last_bar:
            raise ValueError(f"bar {bar_time.isoformat()} is not after {s.last_bar.isoformat()}")
        now = self._closes(closes)
        marked = self._mark_and_fill(bar_time, now)
        decision = self._decide(bar_time)
        orders, rejections, netted = net_orders(self.config, s, decision, bar_time)
        s.last_bar = bar_time
        mark = mark_of(s, bar_time, marked)
        return BarOutcome(orders, rejections, marked.fills, mark, netted)

    # -- universe ---------------------------------------------------------------------
    def _symbol(self, symbol: str) -> int:
        known = self._index.get(symbol)
        if known is not None:
            return known
        s = self._s
        i = bisect.bisect_left(s.symbols, symbol)
        s.symbols.insert(i, symbol)
        self._index = {name: j for j, name in enumerate(s.symbols)}
        s.prices = np.insert(s.prices, i, np.nan)
        s.history = np.insert(s.history, i, np.nan, axis=1)
        for name in ("target", "held", "units"):
            setattr(s, name, np.insert(getattr(s, name), i, 0.0, axis=1))
        return i

    def _pair(self, pair_id: str) -> int:
        known = self._pair_index.get(pair_id)
        if known is not None:
            return known
        s = self._s
        i = bisect.bisect_left(s.pairs, pair_id)
        s.pairs.insert(i, pair_id)
        self._pair_index = {name: k for k, name in enumerate(s.pairs)}
        for name in ("target", "held", "units"):
            setattr(s, name, np.insert(getattr(s, name), i, 0.0, axis=0))
        for name in ("target_dir", "held_dir", "unfilled"):
            setattr(s, name, np.insert(getattr(s, name), i, 0))
        s.cum_pnl = np.insert(s.cum_pnl, i, 0.0)
        if "~" in pair_id:  # until its first entry, a pair A~B is long A, short B
            a, b = pair_id.split("~", 1)
            if a and b and a != b:
                ia, ib = self._symbol(a), self._symbol(b)
                s.units[i, ia], s.units[i, ib] = 0.5, -0.5
        return i

    def _closes(self, closes: Mapping[str, float]) -> FloatArray:
        names = list(closes)
        try:
            values = np.array([closes[k] for k in names], dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"closes must be numbers: {exc}") from exc
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            k = names[int(np.argmax(bad))]
            raise ValueError(f"close of {k!r} must be finite and > 0, got {closes[k]!r}")
        for name in names:
            self._symbol(name)
        now = np.full(len(self._s.symbols), np.nan)
        now[[self._index[k] for k in names]] = values
        return now

    # -- steps 1 and 2 ----------------------------------------------------------------
    def _mark_and_fill(self, bar_time: datetime, now: FloatArray) -> Marked:
        s, cfg = self._s, self.config
        before = s.equity
        previous = s.prices
        current = np.where(np.isnan(now), previous, now)
        priced = np.where(np.isnan(current), 0.0, current)
        pair_pnl = np.zeros(len(s.pairs))
        total_borrow = 0.0
        if s.held.any():  # flat books (most bars of a backtest) skip the marking arithmetic
            last = np.where(np.isnan(previous), 0.0, previous)
            pair_pnl = s.held @ (priced - last)
            if cfg.costs.borrow_rate_per_bar > 0:
                short = np.maximum(-s.held, 0.0)
                net_short = np.maximum(-s.held.sum(axis=0), 0.0)
                borrow = cfg.costs.borrow_rate_per_bar * net_short * last
                shorted = short.sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(shorted > 0, short / shorted, 0.0)
                pair_pnl = pair_pnl - share @ borrow
                total_borrow = float(borrow.sum())
        s.cash -= total_borrow
        fills, fill_costs = self._fill(bar_time, now, pair_pnl)
        s.prices = current
        s.history = np.vstack([s.history, current[None, :]])[-(cfg.vol_lookback + 1) :]
        s.equity = s.cash + float(s.held.sum(axis=0) @ priced)
        s.peak = max(s.peak, s.equity)
        drawdown = min(max(1.0 - s.equity / s.peak, 0.0), 1.0)
        limit = cfg.drawdown_kill
        if limit is not None and s.kill_reason is None and drawdown >= limit:
            s.kill_reason = (
                f"kill-switch: drawdown {drawdown:.4f} >= {cfg.drawdown_kill:g} at "
                f"{bar_time.isoformat()}; new entries blocked, exits allowed"
            )
        s.cum_pnl = s.cum_pnl + pair_pnl
        return Marked(s.equity - before, pair_pnl, total_borrow + fill_costs, fills)

    def _fill(
        self, bar_time: datetime, now: FloatArray, pair_pnl: FloatArray
    ) -> tuple[list[FillRecord], float]:
        """Fills every pending order whose symbol has a close now; updates pair_pnl in place."""
        s, rate = self._s, self.config.costs.trade_rate
        fills: list[FillRecord] = []
        waiting: list[PendingOrder] = []
        total = 0.0
        for order in s.orders:
            j = self._index[order.symbol]
            price = float(now[j])
            if math.isnan(price):
                waiting.append(order)
                continue
            rows = [self._pair_index[p] for p, _ in order.contributions]
            amounts = np.array([c for _, c in order.contributions])
            s.held[rows, j] += amounts
            s.unfilled[rows] -= 1
            if order.quantity == 0.0:
                continue  # an internal cross between pairs: no trade
            cost = rate * abs(order.quantity) * price
            weight = np.abs(amounts) / np.abs(amounts).sum()
            pair_pnl[rows] -= cost * weight
            s.cash -= order.quantity * price + cost
            total += cost
            side: Side = "buy" if order.quantity > 0 else "sell"
            fills.append(FillRecord(order.order_id, order.symbol, side, abs(order.quantity),
                                    price, cost, bar_time))  # fmt: skip
        s.orders = waiting
        settled = s.unfilled == 0
        s.held_dir = np.where(settled, s.target_dir, s.held_dir)
        return fills, total

    # -- steps 3 to 5 -----------------------------------------------------------------
    def _due(self, bar_time: datetime) -> dict[int, tuple[PairSignal | None, str]]:
        """Per pair index, the signal it ends on (None: flat) and why."""
        s = self._s
        due = [x for x in s.signals if x.bar_time <= bar_time] if s.signals else []
        if due:
            s.signals = [x for x in s.signals if x.bar_time > bar_time]
        wanted: dict[int, tuple[PairSignal | None, str]] = {}
        self._exited = set()
        for sig in sorted(due, key=lambda x: (x.bar_time, x.is_entry, x.signal_id)):
            why = f"{sig.pair_id} {sig.action} ({sig.signal_id})"
            wanted[self._pair(sig.pair_id)] = (sig if sig.is_entry else None, why)
            if not sig.is_entry:
                self._exited.add(self._pair(sig.pair_id))
        changes = sorted(
            (c for c in s.lifecycle_pending if c[2] <= bar_time), key=lambda c: (c[2], c[0])
        )
        if changes:
            s.lifecycle_pending = [c for c in s.lifecycle_pending if c[2] > bar_time]
        for pair_id, state, _as_of in changes:
            s.lifecycle[pair_id] = state
        # Retired pairs with a position or a signal go flat (the others are flat already).
        candidates = set(np.flatnonzero(s.target_dir).tolist()) | set(wanted)
        for i in candidates:
            if s.lifecycle.get(s.pairs[i]) == "retired":
                wanted[i] = (None, f"{s.pairs[i]} retired")
        return wanted

    def _decide(self, bar_time: datetime) -> Decision:
        s, cfg = self._s, self.config
        wanted = self._due(bar_time)
        if not wanted:  # nothing to decide: no copy of the targets
            return Decision(target=s.target, direction=s.target_dir)
        d = Decision.start(s)
        for i, (sig, why) in sorted(wanted.items()):
            if sig is None:
                if s.target_dir[i] != 0:
                    d.exit(i, why)
                continue
            # An exit and a re-entry the same way due together: the shares stay as entered,
            # unless the kill-switch is on, which lets the exit through and blocks the entry.
            killed_reentry = i in self._exited and s.kill_reason is not None
            if sig.direction == s.target_dir[i] and not killed_reentry:
                continue
            if s.target_dir[i] != 0:
                d.exit(i, why)  # a flip: the old position goes whatever happens to the new
            self._set_units(i, sig)
            d.rows[i] = self._leg_shares(sig)
            d.candidate(i, sig.direction, why, self._precheck(i, sig))
        self._max_pairs(d)
        if not d.entering:
            return d
        vols = pair_vols(s.history, s.units, cfg.vol_lookback)
        in_play = np.array([s.lifecycle.get(p) in _IN_PLAY for p in s.pairs])
        notional = allocate(cfg, vols, in_play, d.entering_mask(len(s.pairs)))
        for i in d.rows:
            d.rows[i] = d.rows[i] * notional[i]
            d.notional[i] = float(notional[i])
        accepted = [i for i in d.entering if i not in d.rejected]
        if not accepted:
            return d
        entries = np.sum([d.rows[i] for i in accepted], axis=0)
        scale, limits = entry_scale(cfg, d.target.sum(axis=0), entries, s.prices, s.equity)
        d.place(accepted, scale, limits)
        return d

    def _set_units(self, i: int, sig: PairSignal) -> None:
        s = self._s
        row = np.zeros(len(s.symbols))
        total = sum(leg.weight for leg in sig.legs)
        for leg in sig.legs:
            row[self._symbol(leg.symbol)] = leg.sign * leg.weight / total
        s.units[i] = row

    def _leg_shares(self, sig: PairSignal) -> FloatArray:
        """Shares per unit of gross notional: sign x weight / sum of weights / close (NaN for
        an unpriced leg); the signals' weights already sum to 1, the division makes sure."""
        s = self._s
        row = np.zeros(len(s.symbols))
        total = sum(leg.weight for leg in sig.legs)
        for leg in sig.legs:
            j = self._symbol(leg.symbol)
            row[j] = leg.sign * leg.weight / total / s.prices[j]
        return row

    def _precheck(self, i: int, sig: PairSignal) -> str | None:
        s = self._s
        if s.lifecycle.get(sig.pair_id) == "retired":
            return "pair retired: no entry"
        if s.kill_reason is not None:
            return s.kill_reason
        unpriced = [
            leg.symbol for leg in sig.legs if math.isnan(s.prices[self._symbol(leg.symbol)])
        ]
        if unpriced:
            return f"no close for {', '.join(unpriced)}: no entry"
        if s.equity <= 0:
            return f"equity {s.equity:.2f} <= 0: no entry"
        return None

    def _max_pairs(self, d: Decision) -> None:
        limit = self.config.max_pairs
        if limit is None:
            return
        open_pairs = int(np.count_nonzero(d.direction))
        for i in sorted(d.entering):
            if i in d.rejected:
                continue
            if open_pairs >= limit:
                d.rejected[i] = f"max_pairs {limit} reached ({open_pairs} open): no entry"
            else:
                open_pairs += 1
