"""Small float64 setups shared by the scorer tests."""
import copy

import numpy as np
import torch
import torch.nn.functional as F

from segal.data import ActivePool, Cityscapes, Digits, Split
from segal.engine.train import train_stage
from segal.models import MLPClassifier
from segal.scorers import ScoringContext
from segal.settings import TrainSettings


class Digits64(Digits):
    """Digits with float64 inputs, for float64 models."""

    def __getitems__(self, ids):
        batch = super().__getitems__(ids)
        batch["inputs"] = batch["inputs"].double()
        return batch


class Cityscapes64(Cityscapes):
    """Cityscapes with float64 inputs, for float64 models."""

    def load(self, idx, train=False, with_target=True):
        sample = super().load(idx, train, with_target)
        sample["inputs"] = sample["inputs"].double()
        return sample


def city_pool(dataset, holdout, labelled) -> ActivePool:
    """A pool over a Cityscapes-format set: its val images as test, ``holdout`` ids, ``labelled`` ids at step 0."""
    splits = np.where(dataset.is_test, Split.TEST, Split.POOL).astype(np.int8)
    splits[list(holdout)] = Split.HOLDOUT
    pool = ActivePool(splits)
    pool.label(list(labelled), step=0)
    return pool


def batch_of(dataset, ids):
    """``(inputs, targets)`` of ``ids``, stacked: a batch of a dataset that reads files."""
    samples = [dataset[int(i)] for i in ids]
    return torch.stack([s["inputs"] for s in samples]), torch.stack([s["target"] for s in samples])


def trained_mlp64(dataset, hidden=16, dropout=0.0, seed=0):
    """A small MLP trained briefly on digits (so its predictions vary), then cast to float64."""
    torch.manual_seed(seed)
    model = MLPClassifier(dataset.input_shape, 10, hidden=hidden, dropout=dropout)
    base = Digits()
    settings = TrainSettings(batch_size=32, max_epochs=5, patience=5)
    train_stage(model, base, np.arange(60), np.arange(60, 100), settings, torch.device("cpu"), seed=seed, progress=False)
    return model.double().eval()


def digits_context(dataset, model, n_labelled=60, n_holdout=40, n_candidates=None, seed=0, batch_size=64):
    """A pool over digits: ids [0, n_labelled) labelled, then n_holdout holdout ids, test ids as test."""
    splits = np.where(dataset.is_test, Split.TEST, Split.POOL).astype(np.int8)
    train_ids = np.flatnonzero(~dataset.is_test)
    splits[train_ids[n_labelled:n_labelled + n_holdout]] = Split.HOLDOUT
    if n_candidates is not None:
        splits[train_ids[n_labelled + n_holdout + n_candidates:]] = Split.UNUSED
    pool = ActivePool(splits)
    pool.label(train_ids[:n_labelled], step=0)
    return ScoringContext(model=model, dataset=dataset, pool=pool, device=torch.device("cpu"), step=0, seed=seed,
                          batch_size=batch_size, progress=False)


def inputs_and_targets(dataset, ids):
    batch = dataset.__getitems__([int(i) for i in ids])
    return batch["inputs"], batch["target"]


def reference_loss_changes(model, x_pool, x_hold, y_hold, steps, lr, ignore_index=255):
    """Plain eq. 3 per pool sample: copy the model, take SGD steps on the head with the
    pseudo-label (``torch.optim.SGD``), re-run the full model on the holdout.

    Returns one tensor per pool sample: the loss change of every holdout element, and
    the mask of the elements that count.
    """
    model.eval()
    with torch.no_grad():
        before = F.cross_entropy(model(x_hold), y_hold, reduction="none", ignore_index=ignore_index)
    changes = []
    for x in x_pool:
        probe = copy.deepcopy(model)
        with torch.no_grad():
            pseudo = probe(x[None]).argmax(1)
        optimizer = torch.optim.SGD(probe.head.parameters(), lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(probe(x[None]), pseudo).backward()
            optimizer.step()
        with torch.no_grad():
            changes.append(F.cross_entropy(probe(x_hold), y_hold, reduction="none", ignore_index=ignore_index) - before)
    return changes, y_hold != ignore_index


def reference_approx_scores(model, x_pool, x_hold, y_hold, ignore_index=255):
    """Eq. 10 from explicit autograd gradients: minus the holdout-loss gradient dotted with each
    pool sample's pseudo-label-loss gradient, over the head's parameters."""
    head = list(model.head.parameters())
    holdout_grad = torch.autograd.grad(F.cross_entropy(model(x_hold), y_hold, ignore_index=ignore_index), head)
    scores = []
    for x in x_pool:
        logits = model(x[None])
        sample_grad = torch.autograd.grad(F.cross_entropy(logits, logits.argmax(1)), head)
        scores.append(-sum(float((g_v * g_i).sum()) for g_v, g_i in zip(holdout_grad, sample_grad)))
    return np.asarray(scores)
