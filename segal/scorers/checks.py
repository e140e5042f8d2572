"""Checking a scoring pass's result: every score finite, or one error naming the ids."""
import numpy as np


class NonFiniteScores(FloatingPointError):
    """A scorer produced NaN or infinite scores, typically from a diverged model or an absurd scorer setting."""


def check_finite_scores(scorer: str, ids: np.ndarray, scores: np.ndarray) -> None:
    """Raises :class:`NonFiniteScores` naming the first ids whose score is NaN or infinite."""
    bad = ~np.isfinite(scores)
    if bad.any():
        raise NonFiniteScores(
            f"{scorer} gave {int(bad.sum())} non-finite scores (e.g. ids {np.asarray(ids)[bad][:10].tolist()}); "
            f"the model may have diverged, or a scorer setting (scorer.lr, scorer.steps) is too large"
        )
