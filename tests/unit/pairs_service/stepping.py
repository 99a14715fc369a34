"""A pairs step as the runtime runs it: screens it needs are computed first, then it reruns."""

from __future__ import annotations

from services.pairs.domain.pipeline import Effects
from services.pairs.domain.universe import BarClose
from services.pairs.handlers import Emit, PairsApp
from services.pairs.precomputed import ScreensFirst
from services.pairs.store import PairsStore
from shared.clock import Clock


async def step_computing_first(
    app: PairsApp,
    store: PairsStore,
    bars: list[BarClose],
    emit: Emit,
    *,
    producer: str,
    clock: Clock,
) -> Effects:
    """``app.step``; on ScreensFirst (raised before the step changed anything, so the
    store needs no rollback here) the screens are computed and the step runs again."""
    while True:
        try:
            return await app.step(store, bars, emit, producer=producer, clock=clock)
        except ScreensFirst as need:
            await need.compute()
