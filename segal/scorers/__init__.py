"""Selection strategies, registered by name in :data:`segal.registry.SCORERS`."""
from .base import BudgetError, Scorer, ScoringContext, Selection
from .diversity import BADGE, Coreset
from .error_reduction import ErrReduction
from .holdout import HoldoutLossChange, HoldoutLossChangeApprox
from .uncertainty import BALD, Entropy, MCDropout, Random

__all__ = [
    "BADGE", "BALD", "BudgetError", "Coreset", "Entropy", "ErrReduction", "HoldoutLossChange",
    "HoldoutLossChangeApprox", "MCDropout", "Random", "Scorer", "ScoringContext", "Selection",
]
