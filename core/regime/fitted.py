"""The fitted regime model as plain, JSON-serialisable data, with canonical regime labels.

Regimes are relabelled at construction so that label 0 has the lowest variance (ties broken
by the mean, then by the sum of AR coefficients). A regime's label is therefore a property of
what the regime *is*, not of the arbitrary order an optimiser happened to find it in, which is
what keeps labels stable across refits on more data.

Parameter names follow statsmodels (`p[i->j]`, `const[i]`, `sigma2[i]`, `ar.L1[i]`, ...),
but the regime index inside the brackets is the canonical label.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.regime.spec import ModelKind, RegimeModelSpec

FloatArray = NDArray[np.float64]
SCHEMA_VERSION = 1


def statsmodels_param_names(spec: RegimeModelSpec) -> list[str]:
    """Parameter names in the order statsmodels uses for the same specification."""
    k = spec.k_regimes
    names = [f"p[{i}->{j}]" for j in range(k - 1) for i in range(k)]
    names += [f"const[{i}]" for i in range(k)] if spec.switching_mean else ["const"]
    names += [f"sigma2[{i}]" for i in range(k)] if spec.switching_variance else ["sigma2"]
    for lag in range(1, spec.order + 1):
        if spec.switching_ar:
            names += [f"ar.L{lag}[{i}]" for i in range(k)]
        else:
            names.append(f"ar.L{lag}")
    return names


def _per_regime(params: Mapping[str, float], base: str, k: int) -> FloatArray:
    if base in params:
        return np.full(k, float(params[base]))
    return np.array([float(params[f"{base}[{i}]"]) for i in range(k)])


def _transition_from_params(params: Mapping[str, float], k: int) -> FloatArray:
    """Row-stochastic matrix: [i, j] = Pr(S_t = j | S_{t-1} = i)."""
    matrix = np.zeros((k, k))
    for i in range(k):
        for j in range(k - 1):
            matrix[i, j] = float(params[f"p[{i}->{j}]"])
        matrix[i, k - 1] = 1.0 - matrix[i, : k - 1].sum()
    return matrix


def _ordering_keys(params: Mapping[str, float], spec: RegimeModelSpec) -> list[tuple[float, ...]]:
    k = spec.k_regimes
    variance = _per_regime(params, "sigma2", k)
    mean = _per_regime(params, "const", k)
    ar_sum = np.zeros(k)
    for lag in range(1, spec.order + 1):
        ar_sum += _per_regime(params, f"ar.L{lag}", k)
    return [(variance[r], mean[r], ar_sum[r], float(r)) for r in range(k)]


@dataclass(frozen=True, slots=True)
class FittedRegimeModel:
    """A fitted Markov-switching model in canonical label order. Build it via `from_raw_params`."""

    spec: RegimeModelSpec
    param_names: tuple[str, ...]
    param_values: tuple[float, ...]
    statsmodels_regime_of_label: tuple[int, ...]
    llf: float
    nobs: int
    data_sha256: str
    # The optimiser's inverse Hessian at the optimum, row-major, in statsmodels' unconstrained
    # parameter space and label order; seeds the next (warm-started) fit. Not part of the
    # model's identity (version), and None when the fit's regimes were relabelled.
    optimizer_hess_inv: tuple[float, ...] | None = None
    version: str = field(init=False)

    def __post_init__(self) -> None:
        expected = statsmodels_param_names(self.spec)
        if list(self.param_names) != expected:
            raise ValueError(f"param names {list(self.param_names)} != expected {expected}")
        if len(self.param_values) != len(self.param_names):
            raise ValueError("param_values and param_names differ in length")
        if sorted(self.statsmodels_regime_of_label) != list(range(self.spec.k_regimes)):
            raise ValueError("statsmodels_regime_of_label must be a permutation of 0..k-1")
        object.__setattr__(self, "version", self._derive_version())

    @classmethod
    def from_raw_params(
        cls,
        spec: RegimeModelSpec,
        raw_params: Mapping[str, float],
        llf: float,
        nobs: int,
        data_sha256: str,
        hess_inv: FloatArray | None = None,
    ) -> FittedRegimeModel:
        """Relabel statsmodels' (arbitrarily ordered) regimes canonically and freeze them."""
        k = spec.k_regimes
        keys = _ordering_keys(raw_params, spec)
        raw_of_label = sorted(range(k), key=lambda r: keys[r])
        # Relabelling maps the transition parameters non-linearly in the unconstrained space,
        # so the curvature is only carried over when the optimiser's order is already canonical.
        carried = hess_inv is not None and raw_of_label == list(range(k))
        raw_transition = _transition_from_params(raw_params, k)
        transition = raw_transition[np.ix_(raw_of_label, raw_of_label)]
        labelled: dict[str, float] = {}
        for j in range(k - 1):
            for i in range(k):
                labelled[f"p[{i}->{j}]"] = float(transition[i, j])
        for base in ["const", "sigma2"] + [f"ar.L{lag}" for lag in range(1, spec.order + 1)]:
            if base in raw_params:
                labelled[base] = float(raw_params[base])
            else:
                for label, raw in enumerate(raw_of_label):
                    labelled[f"{base}[{label}]"] = float(raw_params[f"{base}[{raw}]"])
        names = statsmodels_param_names(spec)
        return cls(
            spec=spec,
            param_names=tuple(names),
            param_values=tuple(labelled[n] for n in names),
            statsmodels_regime_of_label=tuple(raw_of_label),
            llf=float(llf),
            nobs=int(nobs),
            data_sha256=data_sha256,
            optimizer_hess_inv=_flat(hess_inv) if carried and hess_inv is not None else None,
        )

    @property
    def kind(self) -> ModelKind:
        return self.spec.kind

    @property
    def k_regimes(self) -> int:
        return self.spec.k_regimes

    @property
    def order(self) -> int:
        return self.spec.order

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(self.param_names, self.param_values, strict=True))

    @property
    def transition_matrix(self) -> FloatArray:
        """Row-stochastic, label order: [i, j] = Pr(S_t = j | S_{t-1} = i)."""
        return _transition_from_params(self.params, self.k_regimes)

    @property
    def means(self) -> FloatArray:
        return _per_regime(self.params, "const", self.k_regimes)

    @property
    def variances(self) -> FloatArray:
        return _per_regime(self.params, "sigma2", self.k_regimes)

    @property
    def ar_coefficients(self) -> FloatArray:
        """Shape (k_regimes, order); column j-1 multiplies lag j."""
        k, p = self.k_regimes, self.order
        cols = [_per_regime(self.params, f"ar.L{lag}", k) for lag in range(1, p + 1)]
        return np.column_stack(cols) if cols else np.zeros((k, 0))

    def statsmodels_params(self) -> FloatArray:
        """Parameter vector (label order) for a statsmodels model of the same spec."""
        return np.array(self.param_values, dtype=np.float64)

    def _derive_version(self) -> str:
        payload = json.dumps(
            {
                "schema": SCHEMA_VERSION,
                "spec": self.spec.to_dict(),
                "params": [
                    [n, repr(float(v))]
                    for n, v in zip(self.param_names, self.param_values, strict=True)
                ],
                "nobs": self.nobs,
                "data_sha256": self.data_sha256,
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(payload.encode()).hexdigest()[:16]
        return f"{self.kind.value}-k{self.k_regimes}-p{self.order}-{digest}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_VERSION,
            "version": self.version,
            "kind": self.kind.value,
            "spec": self.spec.to_dict(),
            "params": self.params,
            "transition_matrix": self.transition_matrix.tolist(),
            "statsmodels_regime_of_label": list(self.statsmodels_regime_of_label),
            "llf": self.llf,
            "nobs": self.nobs,
            "data_sha256": self.data_sha256,
            "optimizer_hess_inv": (
                list(self.optimizer_hess_inv) if self.optimizer_hess_inv is not None else None
            ),
        }

    def hess_inv_matrix(self) -> FloatArray | None:
        if self.optimizer_hess_inv is None:
            return None
        n = len(self.param_values)
        return np.array(self.optimizer_hess_inv, dtype=np.float64).reshape(n, n)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedRegimeModel:
        if data.get("schema") != SCHEMA_VERSION:
            raise ValueError(f"unsupported regime model schema {data.get('schema')!r}")
        spec = RegimeModelSpec.from_dict(dict(data["spec"]))
        params: Mapping[str, float] = data["params"]
        names = statsmodels_param_names(spec)
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(f"regime model JSON lacks params {missing}")
        model = cls(
            spec=spec,
            param_names=tuple(names),
            param_values=tuple(float(params[n]) for n in names),
            statsmodels_regime_of_label=tuple(int(x) for x in data["statsmodels_regime_of_label"]),
            llf=float(data["llf"]),
            nobs=int(data["nobs"]),
            data_sha256=str(data["data_sha256"]),
            optimizer_hess_inv=(
                tuple(float(x) for x in data["optimizer_hess_inv"])
                if data.get("optimizer_hess_inv")
                else None
            ),
        )
        if model.version != data["version"]:
            raise ValueError(f"version mismatch: stored {data['version']}, derived {model.version}")
        return model

    @classmethod
    def from_json(cls, text: str) -> FittedRegimeModel:
        return cls.from_dict(json.loads(text))


def _flat(matrix: FloatArray) -> tuple[float, ...] | None:
    values = np.asarray(matrix, dtype=np.float64).ravel()
    return tuple(float(v) for v in values) if np.all(np.isfinite(values)) else None


def data_fingerprint(endog: Sequence[float] | FloatArray) -> str:
    """sha256 of the float64 bytes of the series a model was fitted on."""
    return hashlib.sha256(np.ascontiguousarray(endog, dtype=np.float64).tobytes()).hexdigest()
