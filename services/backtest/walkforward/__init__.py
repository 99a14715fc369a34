"""Walk-forward optimisation per regime, publication decision and parameter-set versions."""

from services.backtest.walkforward.optimise import (
    ALL_BARS,
    Evaluate,
    GridEvaluation,
    run_walk_forward,
)
from services.backtest.walkforward.publication import (
    PublicationCriteria,
    PublicationDecision,
    RegimeDecision,
    decide_publication,
)
from services.backtest.walkforward.results import (
    RegimeSelection,
    RegimeWalkForward,
    SkippedSelection,
    WalkForwardResult,
)
from services.backtest.walkforward.splits import Split, SplitMode, make_splits
from services.backtest.walkforward.version import combo_params, parameter_set_version

__all__ = [
    "ALL_BARS",
    "Evaluate",
    "GridEvaluation",
    "PublicationCriteria",
    "PublicationDecision",
    "RegimeDecision",
    "RegimeSelection",
    "RegimeWalkForward",
    "SkippedSelection",
    "Split",
    "SplitMode",
    "WalkForwardResult",
    "combo_params",
    "decide_publication",
    "make_splits",
    "parameter_set_version",
    "run_walk_forward",
]
