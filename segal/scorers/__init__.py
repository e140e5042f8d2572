"""Selection strategies, registered by name in :data:`segal.registry.SCORERS`."""
from .base import BudgetError, Scorer, ScoringContext, Selection
from .uncertainty import Entropy, Random

__all__ = ["BudgetError", "Entropy", "Random", "Scorer", "ScoringContext", "Selection"]
