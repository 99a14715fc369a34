"""Domain metrics of the portfolio service on its /metrics registry: the book's equity, PnL,
exposure, drawdown and kill-switch state, and the orders and rejections it decided.

The gauges show the book as last marked (restored from the stored state at start-up, so a
restart does not show an empty book until the next bar). The counters count what this
process decided: like every Prometheus counter they restart at zero with the process and
are read with rate()/increase().
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge

from core.portfolio import BarOutcome, BookState, PortfolioMark

# A rejection's reason is text naming pairs, values and limits (core/portfolio); the label
# is the rule that stopped the entry, so the series stay few whatever the book holds.
# First match wins: the kill-switch blocks before any limit is looked at.
REJECTION_RULES = (
    ("kill-switch", "kill_switch"),
    ("max_pairs", "max_pairs"),
    ("gross exposure", "gross_exposure"),
    ("net exposure", "net_exposure"),
    ("symbol exposure", "symbol_exposure"),
    ("equity", "no_equity"),
    ("retired", "pair_retired"),
    ("no close", "unpriced"),
)


def rejection_rule(reason: str) -> str:
    """The label of a rejection reason: the rule's name, or `other`."""
    return next((label for text, label in REJECTION_RULES if text in reason), "other")


class PortfolioMetrics:
    def __init__(self, capital: float, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        # Cumulative PnL is equity above the starting capital, net of every cost.
        self.capital = capital
        self.equity = Gauge(
            "titan_portfolio_equity", "Equity of the book at its last mark", registry=registry
        )
        self.pnl = Gauge(
            "titan_portfolio_pnl",
            "Cumulative PnL net of costs at the last mark (equity minus starting capital)",
            registry=registry,
        )
        self.bar_pnl = Gauge(
            "titan_portfolio_bar_pnl",
            "PnL of the last marked bar, net of costs",
            registry=registry,
        )
        self.gross_exposure = Gauge(
            "titan_portfolio_gross_exposure",
            "Sum of the absolute market values of the positions at the last mark",
            registry=registry,
        )
        self.net_exposure = Gauge(
            "titan_portfolio_net_exposure",
            "Sum of the signed market values of the positions at the last mark",
            registry=registry,
        )
        self.drawdown = Gauge(
            "titan_portfolio_drawdown",
            "Fraction of equity below its peak at the last mark, in [0, 1]",
            registry=registry,
        )
        self.kill_switch = Gauge(
            "titan_portfolio_kill_switch",
            "1 while the kill-switch stops new entries, else 0",
            registry=registry,
        )
        self.orders = Counter(
            "titan_portfolio_orders",
            "Orders the book decided, by side",
            ["side"],
            registry=registry,
        )
        self.rejections = Counter(
            "titan_portfolio_rejections",
            "Entries a risk rule stopped, by rule (REJECTION_RULES)",
            ["reason"],
            registry=registry,
        )
        self.pnl.set(0.0)
        self.equity.set(capital)

    def restore(self, state: BookState | None) -> None:
        """The gauges from a stored book (none stored yet: a flat book at its capital)."""
        if state is None or state.last_bar is None:
            self._gauges(self.capital, 0.0, 0.0, 0.0, 0.0, kill=False)
            return
        prices = np.where(np.isnan(state.prices), 0.0, state.prices)
        value = state.held.sum(axis=0) * prices if state.held.size else np.zeros(0)
        drawdown = min(max(1.0 - state.equity / state.peak, 0.0), 1.0) if state.peak else 0.0
        self._gauges(state.equity, float(np.abs(value).sum()), float(value.sum()), drawdown,
                     0.0, kill=state.kill_reason is not None)  # fmt: skip

    def observe(self, outcomes: Iterable[BarOutcome]) -> None:
        last: PortfolioMark | None = None
        for outcome in outcomes:
            for order in outcome.orders:
                self.orders.labels(side=order.side).inc()
            for rejected in outcome.rejections:
                self.rejections.labels(reason=rejection_rule(rejected.reason)).inc()
            last = outcome.mark
        if last is not None:
            self._gauges(last.equity, last.gross_exposure, last.net_exposure, last.drawdown,
                         last.pnl, kill=last.kill_switch)  # fmt: skip

    def _gauges(
        self, equity: float, gross: float, net: float, drawdown: float, bar_pnl: float, *,
        kill: bool,
    ) -> None:  # fmt: skip
        self.equity.set(equity)
        self.pnl.set(equity - self.capital)
        self.bar_pnl.set(bar_pnl)
        self.gross_exposure.set(gross)
        self.net_exposure.set(net)
        self.drawdown.set(drawdown)
        self.kill_switch.set(1.0 if kill else 0.0)
