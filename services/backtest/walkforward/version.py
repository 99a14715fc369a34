"""Deterministic version string of a published parameter set."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

ParamValue = int | float | str | bool
DataBound = str | int | float | dt.date | dt.datetime | np.datetime64


def combo_params(combo: Any) -> dict[str, ParamValue]:
    """A grid combo (mapping, dataclass, named tuple or structured-array row) as a plain dict."""
    if isinstance(combo, Mapping):
        raw = dict(combo)
    elif dataclasses.is_dataclass(combo) and not isinstance(combo, type):
        raw = dataclasses.asdict(combo)
    elif hasattr(combo, "_asdict"):
        raw = dict(combo._asdict())
    elif isinstance(combo, np.void) and combo.dtype.names:
        raw = {name: combo[name] for name in combo.dtype.names}
    else:
        raise TypeError(
            f"cannot read parameters from {type(combo).__name__}: expected a mapping, "
            "dataclass, named tuple or structured-array row"
        )
    return {str(k): _plain(v) for k, v in raw.items()}


def _plain(value: Any) -> ParamValue:
    item = value.item() if isinstance(value, np.generic) else value
    if isinstance(item, bool | int | str):
        return item
    if isinstance(item, float):
        if math.isnan(item):
            raise ValueError("parameter value must not be NaN")
        if math.isinf(item):
            return item  # e.g. stop_z = inf (stop disabled); hashed as the text "inf"
        # 2.0 and 2 are the same parameter: hash them alike.
        return int(item) if item.is_integer() else item
    raise TypeError(f"unsupported parameter value {item!r} ({type(item).__name__})")


def _json_value(value: ParamValue) -> ParamValue:
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _bound(value: DataBound) -> str:
    if isinstance(value, np.datetime64):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parameter_set_version(
    pair: str,
    regime: int | str,
    params: Mapping[str, Any],
    data_start: DataBound,
    data_end: DataBound,
) -> str:
    """`ps-` + 20 hex digits of SHA-256 over the canonical JSON of the inputs.

    Key order, numpy scalar types and 2 vs 2.0 do not change the version; any change of
    pair, regime, a parameter value or the data range does.
    """
    if not pair:
        raise ValueError("pair must be a non-empty string")
    canonical = json.dumps(
        {
            "pair": pair,
            "regime": regime,
            "params": {
                str(k): _json_value(_plain(v))
                for k, v in sorted(params.items())
                if k != "version"  # the label of a set must not feed its own hash
            },
            "data": [_bound(data_start), _bound(data_end)],
        },
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
    )
    return "ps-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]
