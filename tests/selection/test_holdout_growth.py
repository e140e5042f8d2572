"""A growing holdout (loop.holdout_growth): a share of each step's new labels joins the holdout."""
import json
from pathlib import Path

import numpy as np
import pytest

from segal.apis import run_experiment
from segal.config import load_config
from segal.data import Split
from segal.experiments.replay import replay_step
from segal.registry import SCORERS, build

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/digits/mlp_holdout-loss-change-approx_imbalanced.py")
SHORT = {"loop.progress": False, "train.max_epochs": 6, "protocol.num_steps": 2,
         "loop.holdout_growth": {"fraction": 0.3}}


def records(work_dir):
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def grown_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp("grown")
    run_experiment(load_config(CONFIG, SHORT), work_dir)
    return work_dir


def test_a_share_of_each_selection_joins_the_holdout_and_still_counts_as_labelled(grown_run, tmp_path):
    run_experiment(load_config(CONFIG, {k: v for k, v in SHORT.items() if k != "loop.holdout_growth"}), tmp_path / "off")
    grown, plain = records(grown_run), records(tmp_path / "off")
    assert [r["n_labelled"] for r in grown] == [r["n_labelled"] for r in plain], "n_labelled counts annotations"
    assert grown[0]["selected_ids"] == plain[0]["selected_ids"], "step 0 is the same run"
    holdout0 = grown[0]["n_holdout"]
    assert [r["n_holdout"] for r in grown] == [holdout0, holdout0 + 3, holdout0 + 6], "round(0.3 * 10) per step"
    assert [r["n_trained"] for r in grown] == [r["n_labelled"] - (r["n_holdout"] - holdout0) for r in grown]
    state = json.loads((grown_run / "state.json").read_text())
    splits, labelled_step = np.asarray(state["pool"]["splits"]), np.asarray(state["pool"]["labelled_step"])
    for step, record in enumerate(grown[:-1]):
        added = record["holdout_added_ids"]
        assert len(added) == 3 and set(added) <= set(record["selected_ids"])
        assert (splits[added] == Split.HOLDOUT).all() and (labelled_step[added] == step + 1).all()
    assert grown[1]["holdout_loss"] != plain[1]["holdout_loss"], "step 1 stopped early on the larger holdout"


def test_a_resumed_run_grows_the_same_holdout(grown_run, tmp_path):
    run_experiment(load_config(CONFIG, {**SHORT, "protocol.num_steps": 1}), tmp_path / "extended")
    run_experiment(load_config(CONFIG, SHORT), tmp_path / "extended", resume=True)
    assert records(tmp_path / "extended") == records(grown_run)


@pytest.mark.parametrize("step", [0, 1])
def test_a_replayed_step_scores_its_pool_and_holdout_as_the_run_did(grown_run, step):
    replayed = replay_step(grown_run, step)
    ctx, record = replayed.ctx, replayed.record
    assert len(ctx.pool.holdout_ids) == record["n_holdout"], "holdout growth after the step is undone"
    assert len(ctx.pool.training_ids()) == record["n_trained"]
    scorer = build(SCORERS, replayed.cfg.scorer, "scorer")
    assert scorer.select(ctx, len(record["selected_ids"])).ids.tolist() == record["selected_ids"]


@pytest.mark.parametrize("options, message", [
    ({"loop.holdout_growth": {"fraction": 0}}, r"holdout_growth.fraction must be in \(0, 1\]"),
    ({"loop.holdout_growth": {"count": 2.5}}, "holdout_growth.count must be an integer >= 1"),
    ({"loop.holdout_growth": 0.2}, r"holdout_growth must be dict\(count=N\) or dict\(fraction=F\)"),
    ({"loop.oracle": "annotators"}, "holdout_growth needs loop.oracle='simulated'"),
])
def test_holdout_growth_settings_are_checked_before_anything_is_written(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        run_experiment(load_config(CONFIG, {**SHORT, **options}), tmp_path / "run")
    assert not (tmp_path / "run").exists()
