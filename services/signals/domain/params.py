"""Which parameter set decides a pair's next entry, and whether its regime forbids entries.

Resolution for pair P in regime R (R None while no regime is known), first match wins:
  1. `P|R`   2. `*|R`   3. `P|*` (a set published with regime null)   4. `*|*`
  5. the defaults from settings (TITAN_SIGNALS_ENTRY_Z etc.).
A regime forbids new entries when its number or its name is listed in the no-trade setting
(TITAN_SIGNALS_NO_TRADE_REGIMES) or when the resolved parameter set says `no_trade`.
Exits are never gated: an open position keeps the parameters it was entered with.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from core.strategy import StrategyParams
from services.signals.domain.records import ANY_PAIR, ParamSet


def defaults_version(params: StrategyParams) -> str:
    """A label that changes whenever the default values change (signals carry it)."""
    values = asdict(params)
    values.pop("version")
    digest = hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
    return f"defaults-{digest}"


@dataclass(frozen=True)
class Resolved:
    params: StrategyParams
    no_trade: bool
    source: str  # which key matched, e.g. "P|2", "*|2", "defaults"


class ParamsBook:
    def __init__(
        self,
        defaults: StrategyParams,
        no_trade_regimes: Iterable[str] = (),
        sets: Iterable[ParamSet] = (),
    ) -> None:
        self.defaults = defaults
        self.no_trade_regimes = frozenset(s.strip() for s in no_trade_regimes if s.strip())
        self._sets: dict[tuple[str, int | None], ParamSet] = {}
        for s in sets:
            self.put(s)

    def put(self, param_set: ParamSet) -> None:
        """The last set published for a key replaces the previous one (compacted topic)."""
        self._sets[param_set.key] = param_set

    def sets(self) -> list[ParamSet]:
        return list(self._sets.values())

    def regime_forbids_entry(self, regime: int | None, regime_name: str | None) -> bool:
        if regime is not None and str(regime) in self.no_trade_regimes:
            return True
        return regime_name is not None and regime_name in self.no_trade_regimes

    def resolve(self, pair_id: str, regime: int | None, regime_name: str | None = None) -> Resolved:
        keys: list[tuple[str, int | None]] = []
        if regime is not None:
            keys += [(pair_id, regime), (ANY_PAIR, regime)]
        keys += [(pair_id, None), (ANY_PAIR, None)]
        blocked = self.regime_forbids_entry(regime, regime_name)
        for key in keys:
            found = self._sets.get(key)
            if found is not None:
                label = f"{key[0]}|{'*' if key[1] is None else key[1]}"
                return Resolved(found.params, blocked or found.no_trade, label)
        return Resolved(self.defaults, blocked, "defaults")
