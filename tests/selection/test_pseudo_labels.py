"""Pseudo-labels (section 3): the lowest-scored pool samples train the next stage with predicted labels."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from segal.apis import run_experiment
from segal.config import load_config
from segal.data import Digits, Split
from segal.data.pseudo_labels import WithPseudoLabels

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/digits/mlp_holdout-loss-change-approx_imbalanced.py")
SHORT = {"loop.progress": False, "train.max_epochs": 6, "protocol.num_steps": 2, "loop.pseudo_labels": {"count": 15}}


def records(work_dir):
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


def test_pseudo_labelled_dataset_replaces_only_their_targets():
    digits = Digits()
    wrapped = WithPseudoLabels(digits, [3, 7], [9, 9])
    batch = wrapped.__getitems__([1, 3, 7])
    assert batch["target"].tolist() == [digits.labels[1], 9, 9]
    assert torch.equal(batch["inputs"], digits.__getitems__([1, 3, 7])["inputs"])
    assert digits.labels[3] != 9 or digits.labels[7] != 9, "the fixture must change a label"
    assert digits.__getitems__([3])["target"].item() == digits.labels[3], "the true labels stay untouched"
    assert wrapped[7]["target"].item() == 9 and wrapped.num_classes == 10


def test_pseudo_labels_train_the_next_stage_and_are_never_counted_as_labelled(tmp_path):
    run_experiment(load_config(CONFIG, SHORT), tmp_path / "pseudo")
    run_experiment(load_config(CONFIG, {k: v for k, v in SHORT.items() if k != "loop.pseudo_labels"}), tmp_path / "off")
    steps, plain = records(tmp_path / "pseudo"), records(tmp_path / "off")
    assert [r["n_pseudo_labelled"] for r in steps] == [0, 15, 15]
    assert [r["n_labelled"] for r in steps] == [r["n_labelled"] for r in plain], "pseudo-labels cost no annotation"
    assert steps[0]["selected_ids"] == plain[0]["selected_ids"], "step 0's model and selection are the same"
    assert steps[1]["accuracy"] != plain[1]["accuracy"], "the next stage trained on something else"
    state = json.loads((tmp_path / "pseudo/state.json").read_text())
    splits, labelled_step = np.asarray(state["pool"]["splits"]), np.asarray(state["pool"]["labelled_step"])
    digits = Digits()
    for step, record in enumerate(steps[:-1]):
        ids = np.asarray(record["pseudo_ids"])
        assert len(ids) == 15 and not set(ids) & set(record["selected_ids"])
        assert (splits[ids] == Split.POOL).all()
        later = labelled_step[ids]
        assert ((later == -1) | (later > step + 1)).all(), "unlabelled then; only a later real selection labels them"
        truth = digits.labels[ids]
        assert record["pseudo_label_accuracy"] == pytest.approx(np.mean(np.asarray(record["pseudo_labels"]) == truth))


def test_a_resumed_run_trains_on_the_same_pseudo_labels(tmp_path):
    run_experiment(load_config(CONFIG, SHORT), tmp_path / "straight")
    run_experiment(load_config(CONFIG, {**SHORT, "protocol.num_steps": 1}), tmp_path / "extended")
    run_experiment(load_config(CONFIG, SHORT), tmp_path / "extended", resume=True)
    assert records(tmp_path / "extended") == records(tmp_path / "straight")


def test_pseudo_label_settings_are_checked_before_anything_is_written(tmp_path):
    for options, message in (({"loop.pseudo_labels": {"count": 0}}, "count must be an integer >= 1"),
                             ({"loop.pseudo_labels": {"fraction": 1.5}}, r"fraction must be in \(0, 1\)"),
                             ({"loop.pseudo_labels": {"share": 3}}, "must be dict\\(count=N\\) or dict\\(fraction=F\\)")):
        with pytest.raises(ValueError, match=message):
            run_experiment(load_config(CONFIG, {**SHORT, **options}), tmp_path / "run")
    coreset = load_config(str(REPO / "configs/digits/mlp_coreset_imbalanced.py"), SHORT)
    with pytest.raises(ValueError, match="pseudo_labels needs .* scorer that scores each sample"):
        run_experiment(coreset, tmp_path / "run")
    assert not (tmp_path / "run").exists()
