"""Replay speed: as fast as possible, or N times real time on the trades' own clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TypeVar

from services.market_data.feeds.encoding import TickLike

T = TypeVar("T", bound=TickLike)
Sleep = Callable[[float], Awaitable[None]]


def parse_speed(text: str) -> float | None:
    """'max' -> None (no pacing); a positive number -> that multiple of real time."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed must be 'max' or a positive number, got {text!r}") from None
    if not (speed > 0.0 and speed != float("inf")):
        raise ValueError(f"speed must be 'max' or a positive number, got {text!r}")
    return speed


async def paced_batches(
    ticks: Sequence[T],
    speed: float | None,
    *,
    batch_size: int = 5000,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[list[T]]:
    """Yield ticks in order; with a speed, sleep each event-time gap divided by speed.

    Ticks sharing a timestamp go out together (a daily replay sends a whole day at once);
    batches never exceed batch_size. At max speed no sleep happens at all.
    """
    batch: list[T] = []
    previous = ticks[0].ts if ticks else None
    for tick in ticks:
        if speed is not None and previous is not None and tick.ts > previous:
            if batch:
                yield batch
                batch = []
            await sleep((tick.ts - previous).total_seconds() / speed)
        previous = tick.ts if previous is None or tick.ts > previous else previous
        batch.append(tick)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch
