"""Every shipped digits config runs the full loop, and no selection ever takes a labelled, holdout or test id."""
from pathlib import Path

import numpy as np
import pytest

from segal.apis import run_experiment
from segal.config import load_config
from segal.data import ActivePool, Split
from segal.utils.io import read_json

REPO = Path(__file__).resolve().parents[2]
DIGITS_CONFIGS = sorted((REPO / "configs" / "digits").glob("*.py"))


def test_every_scorer_has_a_digits_config_per_protocol():
    names = {p.stem for p in DIGITS_CONFIGS}
    for scorer in ["holdout-loss-change", "holdout-loss-change-approx", "mc-dropout", "bald", "coreset", "badge",
                   "err-reduction", "entropy", "random"]:
        for protocol in ["balanced", "imbalanced"]:
            assert f"mlp_{scorer}_{protocol}" in names


@pytest.mark.slow
@pytest.mark.parametrize("config", DIGITS_CONFIGS, ids=lambda p: p.stem)
def test_digits_config_runs_and_selects_only_unlabelled_pool_ids(config, tmp_path):
    records = run_experiment(load_config(str(config), {"loop.progress": False}), tmp_path)
    assert len(records) == 11 and all(r["mistake_rate"] is not None for r in records[:-1])
    pool = ActivePool.from_state_dict(read_json(tmp_path / "state.json")["pool"])
    seen = set(pool.labelled_ids(0).tolist())
    for record in records[:-1]:
        ids = np.asarray(record["selected_ids"])
        assert len(ids) == len(set(ids.tolist())) > 0
        assert (pool.split_of(ids) == Split.POOL).all(), "never a holdout, test or unused id"
        assert not seen & set(ids.tolist()), "never an id labelled before"
        assert (pool.labelled_step(ids) == record["step"] + 1).all()
        seen |= set(ids.tolist())
