import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, jaccard_score, recall_score

from segal.evaluation import ConfusionMatrix


def test_matches_sklearn_over_batches():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 5, size=1000)
    pred = np.where(rng.random(1000) < 0.6, target, rng.integers(0, 5, size=1000))
    cm = ConfusionMatrix(5)
    for start in range(0, 1000, 128):  # accumulated batch by batch
        cm.update(torch.from_numpy(pred[start:start + 128]), torch.from_numpy(target[start:start + 128]))
    assert np.array_equal(cm.matrix, confusion_matrix(target, pred, labels=range(5)))
    assert cm.accuracy() == pytest.approx(accuracy_score(target, pred))
    np.testing.assert_allclose(cm.per_class_accuracy(), recall_score(target, pred, average=None))
    np.testing.assert_allclose(cm.per_class_iou(), jaccard_score(target, pred, average=None))
    assert cm.mean_iou() == pytest.approx(jaccard_score(target, pred, average="macro"))


def test_ignore_index_and_spatial_targets():
    target = torch.tensor([[[0, 1], [255, 1]]])
    pred = torch.tensor([[[0, 0], [1, 1]]])
    cm = ConfusionMatrix(2, ignore_index=255)
    cm.update(pred, target)
    assert cm.matrix.tolist() == [[1, 0], [1, 1]]
    assert cm.accuracy() == pytest.approx(2 / 3)
    # IoU class 0: 1 / (1 + 1) ; class 1: 1 / 2
    np.testing.assert_allclose(cm.per_class_iou(), [0.5, 0.5])


def test_absent_class_is_nan_and_left_out_of_the_mean():
    cm = ConfusionMatrix(3)
    cm.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0]))
    assert np.isnan(cm.per_class_accuracy()[2]) and np.isnan(cm.per_class_iou()[2])
    assert cm.mean_iou() == pytest.approx((0.5 + 0.5) / 2)


def test_out_of_range_target_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        ConfusionMatrix(2).update(torch.tensor([0]), torch.tensor([3]))
