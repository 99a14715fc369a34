"""What regime model to fit: the statsmodels model family and its switching options."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ModelKind(StrEnum):
    """statsmodels model family used as the fitting engine."""

    MARKOV_REGRESSION = "markov_regression"
    MARKOV_AUTOREGRESSION = "markov_autoregression"


@dataclass(frozen=True, slots=True)
class RegimeModelSpec:
    """Model specification; a constant (the regime mean) is always included.

    `order == 0` means MarkovRegression, `order >= 1` MarkovAutoregression of that order.
    """

    k_regimes: int = 2
    order: int = 0
    switching_mean: bool = True
    switching_variance: bool = True
    switching_ar: bool = False

    def __post_init__(self) -> None:
        if self.k_regimes < 2:
            raise ValueError(f"k_regimes must be >= 2, got {self.k_regimes}")
        if self.order < 0:
            raise ValueError(f"order must be >= 0, got {self.order}")
        if self.order == 0 and self.switching_ar:
            raise ValueError("switching_ar needs order >= 1")
        if self.switching_variance and self.order >= 2:
            # statsmodels 0.15 MarkovAutoregression reshapes the variance to (k, 1, 1), which
            # only lines up with S_t when order == 1; for order >= 2 its likelihood indexes the
            # variance by a lagged regime, so its fits are not the documented model.
            raise ValueError(
                "switching_variance with order >= 2 is not supported: statsmodels' "
                "MarkovAutoregression mis-broadcasts the regime variance for order >= 2"
            )

    @property
    def kind(self) -> ModelKind:
        if self.order == 0:
            return ModelKind.MARKOV_REGRESSION
        return ModelKind.MARKOV_AUTOREGRESSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "k_regimes": self.k_regimes,
            "order": self.order,
            "switching_mean": self.switching_mean,
            "switching_variance": self.switching_variance,
            "switching_ar": self.switching_ar,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RegimeModelSpec:
        return cls(
            k_regimes=int(data["k_regimes"]),
            order=int(data["order"]),
            switching_mean=bool(data["switching_mean"]),
            switching_variance=bool(data["switching_variance"]),
            switching_ar=bool(data["switching_ar"]),
        )
