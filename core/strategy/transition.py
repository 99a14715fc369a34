"""The per-bar decision rule of the pair strategy, vectorised over any number of positions.

The live state machine (one pair, arrays of size 1) and the backtest grid engine (one array
slot per parameter combination) both decide through :func:`z_conditions`, :func:`gate_bits`
and :func:`step`, so the same code decides live and in backtests.

A bar is reduced to a bit code: what the z-score says relative to the thresholds, whether
entries are allowed, whether the pair must be closed, whether the time stop has run out.
:func:`decide` is the readable rule for one position and one code; it is tabulated once
for every (position, code) so that :func:`step` decides a whole array with table look-ups.

Priority while in a position: forced close > stop > close (mean reverted) > time stop.
A flat position opens long on LONG_ENTRY or short on SHORT_ENTRY when CAN_OPEN is set.
One action per bar: a position closed on a bar is re-opened at the earliest on the next bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from core.strategy.model import ActionCode

# z-score bits. Entry bits use the current parameters; stop and reverted bits use the
# parameters the open position was entered with.
LONG_ENTRY = 1 << 0  # -stop_z < z <= -entry_z
SHORT_ENTRY = 1 << 1  # entry_z <= z < stop_z
LONG_STOP = 1 << 2  # z <= -stop_z of the position
SHORT_STOP = 1 << 3  # z >= stop_z of the position
LONG_REVERTED = 1 << 4  # z >= -exit_z of the position
SHORT_REVERTED = 1 << 5  # z <= exit_z of the position
# gating bits
CAN_OPEN = 1 << 6  # pair active and regime tradable
FORCE_CLOSE = 1 << 7  # pair degraded or retired
TIME_UP = 1 << 8  # bars held >= time limit of the position
N_CODES = 1 << 9

FLAT, LONG, SHORT = 0, 1, -1


def z_conditions(
    z: ArrayLike,
    entry_z: ArrayLike,
    stop_z: ArrayLike,
    position_exit_z: ArrayLike,
    position_stop_z: ArrayLike,
) -> NDArray[np.uint16]:
    """Bit code of the z-score bits; all inputs broadcast together (NaN z sets no bit)."""
    z_arr = np.asarray(z, dtype=np.float64)
    entry = np.asarray(entry_z, dtype=np.float64)
    stop = np.asarray(stop_z, dtype=np.float64)
    exit_pos = np.asarray(position_exit_z, dtype=np.float64)
    stop_pos = np.asarray(position_stop_z, dtype=np.float64)
    code = ((z_arr <= -entry) & (z_arr > -stop)).astype(np.uint16)
    code |= ((z_arr >= entry) & (z_arr < stop)).astype(np.uint16) << 1
    code |= (z_arr <= -stop_pos).astype(np.uint16) << 2
    code |= (z_arr >= stop_pos).astype(np.uint16) << 3
    code |= (z_arr >= -exit_pos).astype(np.uint16) << 4
    code |= (z_arr <= exit_pos).astype(np.uint16) << 5
    return code


def gate_bits(can_open: ArrayLike, force_close: ArrayLike) -> NDArray[np.uint16]:
    """Bit code of the gating bits (broadcasts, e.g. one value per bar)."""
    open_bits = np.asarray(can_open, dtype=bool).astype(np.uint16) << 6
    force_bits = np.asarray(force_close, dtype=bool).astype(np.uint16) << 7
    return (open_bits | force_bits).astype(np.uint16, copy=False)


def decide(position: int, code: int) -> ActionCode:
    """The decision rule for one position and one bar code."""
    if position == FLAT:
        if code & CAN_OPEN:
            if code & LONG_ENTRY:
                return ActionCode.OPEN_LONG_SPREAD
            if code & SHORT_ENTRY:
                return ActionCode.OPEN_SHORT_SPREAD
        return ActionCode.NONE
    if code & FORCE_CLOSE:
        return ActionCode.FORCED_CLOSE
    stop_bit, reverted_bit = (
        (LONG_STOP, LONG_REVERTED) if position == LONG else (SHORT_STOP, SHORT_REVERTED)
    )
    if code & stop_bit:
        return ActionCode.STOP
    if code & reverted_bit:
        return ActionCode.CLOSE
    if code & TIME_UP:
        return ActionCode.TIME_STOP
    return ActionCode.NONE


def position_after(position: int, action: ActionCode) -> int:
    if action == ActionCode.OPEN_LONG_SPREAD:
        return LONG
    if action == ActionCode.OPEN_SHORT_SPREAD:
        return SHORT
    if action == ActionCode.NONE:
        return position
    return FLAT


def _tabulate() -> tuple[NDArray[np.int8], NDArray[np.int64], NDArray[np.bool_]]:
    actions = np.zeros(3 * N_CODES, dtype=np.int8)
    positions = np.zeros(3 * N_CODES, dtype=np.int64)
    for position in (SHORT, FLAT, LONG):
        for code in range(N_CODES):
            action = decide(position, code)
            actions[(position + 1) * N_CODES + code] = action
            positions[(position + 1) * N_CODES + code] = position_after(position, action)
    opened = (actions == ActionCode.OPEN_LONG_SPREAD) | (actions == ActionCode.OPEN_SHORT_SPREAD)
    return actions, positions, opened


# index: (position + 1) * N_CODES + code
ACTION_TABLE, NEXT_POSITION_TABLE, OPENED_TABLE = _tabulate()


def time_stop_bars(time_stop_half_lives: ArrayLike, half_life: ArrayLike) -> NDArray[np.float64]:
    """ceil(k x half-life) bars; inf (no time stop) unless the half-life is > 0 and both finite."""
    hl = np.asarray(half_life, dtype=np.float64)
    positive = hl > 0  # False for NaN too
    bars = np.ceil(np.asarray(time_stop_half_lives, dtype=np.float64) * np.where(positive, hl, 1.0))
    return np.where(positive & np.isfinite(bars), bars, np.inf)


@dataclass
class PositionArrays:
    """Mutable decision state of n positions (one per pair or per parameter combination).

    ``position`` is -1/0/+1 (short/flat/long spread); ``bars_held`` counts bars since the
    entry bar (0 on it); ``time_limit`` is the time stop of the open position in bars, fixed
    at entry from the half-life then (inf: none). While flat the last two are meaningless.
    """

    position: NDArray[np.int64]
    bars_held: NDArray[np.int64]
    time_limit: NDArray[np.float64]

    @classmethod
    def flat(cls, n: int) -> PositionArrays:
        return cls(
            position=np.zeros(n, dtype=np.int64),
            bars_held=np.zeros(n, dtype=np.int64),
            time_limit=np.full(n, np.inf),
        )


def step(
    state: PositionArrays,
    codes: NDArray[np.uint16],
    half_life: ArrayLike,
    time_stop_half_lives: ArrayLike,
) -> NDArray[np.int8]:
    """Advance ``state`` in place by one bar and return the action code of every slot.

    ``codes`` is z_conditions(...) | gate_bits(...) for this bar; ``half_life`` and
    ``time_stop_half_lives`` (scalars or arrays like ``codes``) set the time stop of the
    positions opened on this bar.
    """
    state.bars_held += 1
    index = state.position * N_CODES
    index += codes
    index += N_CODES  # row of position p starts at (p + 1) * N_CODES
    np.add(index, TIME_UP, out=index, where=state.bars_held >= state.time_limit)
    actions = ACTION_TABLE.take(index)
    state.position = NEXT_POSITION_TABLE.take(index)
    opened = np.flatnonzero(OPENED_TABLE.take(index))
    if len(opened):
        k = np.asarray(time_stop_half_lives, dtype=np.float64)
        hl = np.asarray(half_life, dtype=np.float64)
        state.bars_held[opened] = 0
        state.time_limit[opened] = time_stop_bars(
            k[opened] if k.ndim else k, hl[opened] if hl.ndim else hl
        )
    return actions
