"""Deterministic seeds per (run seed, step, purpose).

Each stage of the active-learning loop draws its randomness from a seed derived
from the run seed, the step and what the randomness is for. A resumed run
therefore replays exactly the numbers of an uninterrupted one without having
to save generator states.
"""
import hashlib


def derive_seed(seed: int, step: int, purpose: str) -> int:
    """Returns a 63-bit seed that depends on ``seed``, ``step`` and ``purpose`` only."""
    digest = hashlib.sha256(f"{seed}:{step}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
