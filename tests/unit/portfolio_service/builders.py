"""Input events of the portfolio service: two pairs sharing a leg (BBB), daily bars."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events import Bar, Envelope, make_envelope
from shared.events.market import bar_id
from shared.events.pairs import PairStateChanged
from shared.events.signals import Leg, SignalEmitted

T0 = datetime(2020, 1, 6, tzinfo=UTC)
DAY = timedelta(days=1)
SYMBOLS = ("AAA", "BBB", "CCC")
NS = uuid.UUID("0b7f3d1e-2c9a-4a7b-8f00-5d6e7f8091a2")


def day(n: int) -> datetime:
    return T0 + n * DAY


def close(symbol: str, n: int) -> float:
    base = {"AAA": 50.0, "BBB": 40.0, "CCC": 30.0}[symbol]
    return round(base * (1.0 + 0.02 * math.sin(n / 3.0 + len(symbol) + ord(symbol[0]))), 4)


def bar(symbol: str, n: int, *, price: float | None = None, revision: int = 0) -> Envelope[Bar]:
    start = day(n)
    c = close(symbol, n) if price is None else price
    payload = Bar(
        bar_id=bar_id(symbol, "1d", start), symbol=symbol, interval="1d", start=start,
        end=start + DAY, open=c, high=c, low=c, close=c, volume=1000.0, vwap=c,
        trade_count=10, revision=revision,
    )  # fmt: skip
    return make_envelope(payload, event_id=payload.event_id(), occurred_at=start + DAY,
                         key=symbol, producer="test", produced_at=start + DAY)  # fmt: skip


def lifecycle(pair: str, to_state: str, n: int) -> Envelope[PairStateChanged]:
    a, b = pair.split("~")
    payload = PairStateChanged(pair_id=pair, a=a, b=b, from_state=None, to_state=to_state,  # type: ignore[arg-type]
                               reason="test", as_of=day(n))  # fmt: skip
    eid = uuid.uuid5(NS, f"life|{pair}|{to_state}|{n}")
    return make_envelope(payload, event_id=eid, occurred_at=day(n), key=pair, producer="test",
                         produced_at=day(n))  # fmt: skip


def signal(pair: str, action: str, n: int, hedge: float = 1.0) -> Envelope[SignalEmitted]:
    a, b = pair.split("~")
    legs: list[Leg] = []
    if action in ("open_long_spread", "open_short_spread"):
        long_a = action == "open_long_spread"
        legs = [Leg(symbol=a, side="buy" if long_a else "sell", weight=0.5),
                Leg(symbol=b, side="sell" if long_a else "buy", weight=0.5)]  # fmt: skip
    sid = f"sig-{pair}-{n}-{action}"
    payload = SignalEmitted(signal_id=sid, pair_id=pair, action=action, reason="test",  # type: ignore[arg-type]
                            bar_time=day(n), z_score=2.5, hedge_ratio=hedge,
                            params_version="v1", legs=legs)  # fmt: skip
    return make_envelope(payload, event_id=uuid.uuid5(NS, sid), occurred_at=day(n), key=pair,
                         producer="test", produced_at=day(n))  # fmt: skip


def scenario(days: int = 12) -> dict[str, list[Envelope[Any]]]:
    """AAA~BBB and CCC~BBB active from day 0; AAA~BBB long spread on day 2 (buys AAA, sells
    BBB), CCC~BBB short spread on day 2 (sells CCC, buys BBB): their BBB legs net. Exits on
    day 6 and 8; AAA~BBB retires on day 9."""
    bars = [bar(s, n) for n in range(days) for s in SYMBOLS]
    life = [lifecycle("AAA~BBB", "active", 0), lifecycle("CCC~BBB", "active", 0),
            lifecycle("AAA~BBB", "retired", 9)]  # fmt: skip
    signals = [
        signal("AAA~BBB", "open_long_spread", 2),
        signal("CCC~BBB", "open_short_spread", 2),
        signal("AAA~BBB", "close", 6),
        signal("CCC~BBB", "stop", 8),
        signal("CCC~BBB", "open_long_spread", 10),
    ]
    return {"market.bars.v1": bars, "pairs.lifecycle.v1": life, "signals.v1": signals}


def long_scenario(days: int = 60) -> dict[str, list[Envelope[Any]]]:
    """`days` bars of three symbols; each pair enters and exits every few weeks, the two
    pairs' BBB legs overlapping (netted orders and internal crosses), AAA~BBB degraded then
    active again."""
    bars = [bar(s, n) for n in range(days) for s in SYMBOLS]
    life = [lifecycle("AAA~BBB", "active", 0), lifecycle("CCC~BBB", "active", 1),
            lifecycle("AAA~BBB", "degraded", days // 2),
            lifecycle("AAA~BBB", "active", days // 2 + 3)]  # fmt: skip
    signals = []
    for start in range(2, days - 3, 9):
        ab = "open_long_spread" if (start // 9) % 2 else "open_short_spread"
        cb = "open_short_spread" if (start // 9) % 2 else "open_long_spread"
        signals += [signal("AAA~BBB", ab, start), signal("CCC~BBB", cb, start + 1)]
        signals += [signal("AAA~BBB", "close", start + 5), signal("CCC~BBB", "stop", start + 5)]
    return {"market.bars.v1": bars, "pairs.lifecycle.v1": life, "signals.v1": signals}
