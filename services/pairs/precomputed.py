"""Screens computed before the transaction that writes their outcome.

A step of the pairs service runs inside a transaction that holds the universe-clock row
lock. Before it screens anything, ``PairsApp.step`` plans the screens the step would run
(``Pipeline.planned_screens``); those not computed yet are raised as :class:`ScreensFirst`,
the runtime rolls the transaction back, computes them with no transaction or lock held (in
the screen's worker processes, off the event loop) and runs the step again, which then takes
every screen's records from :class:`PrecomputedScreens`. A screen is a pure function of its
input (``ScreenInput.key`` digests it), so the records are the ones an inline screen gives.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from core.cointegration import Autolag, PairScreenResult
from services.pairs.domain.screening import ScreenFn, ScreenInput, screen_key
from shared.runtime.compute_first import ComputeFirst

log = logging.getLogger(__name__)


# Pairs of screens kept after their step took them (~30 MB of ScreenTable arrays; a list of
# records, from a screen function that gives one, ~75 MB). A step's transaction may roll back
# and run again: a batch run one record at a time (shared/runtime/quarantine.py) computes
# the screen of its k-th step, then reruns steps 1..k-1, whose screens must still be here or
# the batch would compute them again forever. The oldest are dropped past this budget.
KEEP_PAIR_RECORDS = 200_000


class PrecomputedScreens:
    """The pipeline's screen function: the records computed for an input before the step."""

    def __init__(self, compute: ScreenFn, keep_pair_records: int = KEEP_PAIR_RECORDS) -> None:
        self.compute = compute
        self.keep_pair_records = keep_pair_records
        self.results: OrderedDict[str, Sequence[PairScreenResult]] = OrderedDict()
        self.computed = 0  # screens computed by ``fill`` (what ran outside a transaction)
        self.inline = 0  # screens computed during a step (a plan missed them)

    def missing(self, planned: list[ScreenInput]) -> list[ScreenInput]:
        """The planned inputs without records, each once, in plan order."""
        out: dict[str, ScreenInput] = {}
        for inp in planned:
            if inp.key not in self.results:
                out.setdefault(inp.key, inp)
        return list(out.values())

    def fill(self, inputs: list[ScreenInput]) -> None:
        """Compute the records of ``inputs`` (blocking: call it off the event loop)."""
        for inp in inputs:
            if inp.key not in self.results:
                records = self.compute(inp.closes, list(inp.symbols), inp.autolag, inp.maxlag)
                self.results[inp.key] = records
                self.computed += 1

    def trim(self) -> None:
        """Drop the oldest records past the budget (the newest screen always stays)."""
        kept = sum(len(r) for r in self.results.values())
        while len(self.results) > 1 and kept > self.keep_pair_records:
            _, dropped = self.results.popitem(last=False)
            kept -= len(dropped)

    def __call__(
        self, closes: NDArray[np.float64], symbols: list[str], autolag: Autolag, maxlag: int | None
    ) -> Sequence[PairScreenResult]:
        key = screen_key(closes, symbols, autolag, maxlag)
        found = self.results.get(key)
        if found is not None:
            self.results.move_to_end(key)
            return found
        # Same records either way (a pure function); only where it runs differs.
        log.warning("a screen of %d symbols was not planned; computing it inline", len(symbols))
        self.inline += 1
        return self.compute(closes, symbols, autolag, maxlag)


class ScreensFirst(ComputeFirst):
    """The screens a step needs, to compute before the step runs again."""

    def __init__(self, screens: PrecomputedScreens, inputs: list[ScreenInput]) -> None:
        super().__init__(
            f"{len(inputs)} screen(s) of {max(len(i.symbols) for i in inputs)} symbols"
        )
        self.screens = screens
        self.inputs = inputs

    async def compute(self) -> None:
        await asyncio.to_thread(self.screens.fill, self.inputs)
