import numpy as np
import pytest
import torch

from segal.data import Digits
from segal.engine.train import train_stage
from segal.models import MLPClassifier
from segal.settings import TrainSettings


@pytest.fixture(scope="module")
def digits():
    return Digits()


def one_step_settings(lr):
    # one epoch of one full batch: exactly one optimizer step per stage
    return TrainSettings(optimizer=dict(type="Adam", lr=lr), batch_size=1000, max_epochs=1, patience=1)


def test_each_stage_continues_from_the_weights_with_a_fresh_adam(digits):
    torch.manual_seed(0)
    model = MLPClassifier(digits.input_shape, 10, hidden=16, dropout=0.0)
    train_ids, holdout_ids = np.arange(100), np.arange(100, 150)
    for _ in range(2):
        before = [p.detach().clone() for p in model.parameters()]
        train_stage(model, digits, train_ids, holdout_ids, one_step_settings(1e-2), torch.device("cpu"), seed=0, progress=False)
        # A fresh Adam's first update is lr * g / (|g| + eps): every parameter moves by ~lr.
        # A carried-over Adam state would give steps of other sizes; a re-initialised model
        # would move parameters by far more than lr.
        moved = torch.cat([(new.detach() - old).abs().flatten() for old, new in zip(before, model.parameters())])
        assert moved.max() <= 1e-2 * (1 + 1e-4)
        changed = moved[moved > 0]  # dead ReLU units get no gradient
        assert len(changed) > 0.8 * len(moved)
        assert ((changed - 1e-2).abs() < 1e-5).float().mean() > 0.99


def test_early_stopping_restores_the_best_epoch(digits):
    torch.manual_seed(0)
    model = MLPClassifier(digits.input_shape, 10, hidden=16)
    settings = TrainSettings(optimizer=dict(type="Adam", lr=1e-3), batch_size=16, max_epochs=300, patience=5)
    result = train_stage(model, digits, np.arange(200), np.arange(200, 300), settings, torch.device("cpu"), seed=0, progress=False)
    assert result.epochs < 300, "patience must stop training"
    assert result.epochs - result.best_epoch == 5
    # the model now holds the weights of the best epoch
    from segal.data.loading import make_loader
    from segal.engine.inference import evaluate
    _, loss = evaluate(model, make_loader(digits, np.arange(200, 300), 256), torch.device("cpu"), 10)
    assert loss == pytest.approx(result.holdout_loss, rel=1e-6)


def test_min_epochs_keeps_training_past_patience_and_still_keeps_the_best_epoch(digits):
    def stage(min_epochs):
        torch.manual_seed(0)
        model = MLPClassifier(digits.input_shape, 10, hidden=16)
        settings = TrainSettings(optimizer=dict(type="Adam", lr=3e-2), batch_size=50, max_epochs=100, patience=2,
                                 min_epochs=min_epochs)
        return train_stage(model, digits, np.arange(200), np.arange(200, 300), settings, torch.device("cpu"), seed=0,
                           progress=False)

    plain = stage(0)
    longer = stage(plain.epochs + 6)
    assert plain.epochs == plain.best_epoch + 2
    assert longer.epochs == max(plain.epochs + 6, longer.best_epoch + 2), "no stop before min_epochs, then patience"
    assert longer.best_epoch >= plain.best_epoch and longer.holdout_loss <= plain.holdout_loss


def test_bad_train_settings_name_the_key():
    with pytest.raises(ValueError, match="train.monitor"):
        TrainSettings(monitor="f1")
    with pytest.raises(ValueError, match="train.patience"):
        TrainSettings(patience=0)
    with pytest.raises(ValueError, match=r"train.min_epochs must be in \[0, train.max_epochs=20\]"):
        TrainSettings(max_epochs=20, min_epochs=21)


def test_terminal_bar_names_the_metric_and_runs_to_the_early_stopping_horizon(digits, monkeypatch, caplog):
    """On a terminal the bar's length is best epoch + patience, not max_epochs; epoch lines stay off the console."""
    import logging

    from segal.utils import progress as progress_module
    from segal.utils.logs import HideFileOnlyLines

    monkeypatch.setattr(progress_module, "stderr_is_terminal", lambda: True)
    totals, postfixes = [], []
    original_update = progress_module.Progress.update

    def recording_update(self, n=1, postfix=None):
        totals.append(self.total)
        postfixes.append(postfix)
        original_update(self, n, postfix)

    monkeypatch.setattr(progress_module.Progress, "update", recording_update)
    caplog.set_level(logging.INFO, logger="segal")
    torch.manual_seed(0)
    model = MLPClassifier(digits.input_shape, 10, hidden=16)
    settings = TrainSettings(optimizer=dict(type="Adam", lr=1e-3), batch_size=64, max_epochs=200, patience=4,
                             monitor="accuracy")
    result = train_stage(model, digits, np.arange(200), np.arange(200, 300), settings, torch.device("cpu"), seed=0)
    assert totals[0] == 5 and totals[-1] == result.best_epoch + 4 and max(totals) < 200
    assert postfixes[-1].startswith("train loss ") and "holdout accuracy " in postfixes[-1]
    epoch_records = [r for r in caplog.records if " epoch " in r.getMessage()]
    assert len(epoch_records) == result.epochs
    assert not any(HideFileOnlyLines().filter(r) for r in epoch_records), "the bar shows them on the console"
