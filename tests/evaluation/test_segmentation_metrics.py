"""segal's dataset-wide mIoU against cityscapesscripts' own pixel-level evaluation."""
import cv2
import numpy as np
import pytest
import torch
from cityscapesscripts.evaluation import evalPixelLevelSemanticLabeling as cs_eval
from cityscapesscripts.helpers.labels import trainId2label
from helpers.cityscapes import write_random_cityscapes

from segal.data import Cityscapes
from segal.evaluation import ConfusionMatrix


def test_miou_matches_cityscapesscripts(tmp_path):
    written = write_random_cityscapes(tmp_path, {"train": 1, "val": 5}, height=24, width=40, seed=3)
    ds = Cityscapes(str(tmp_path))
    rng = np.random.default_rng(0)
    train_to_label_id = np.array([trainId2label[t].id for t in range(19)], np.uint8)
    confusion = ConfusionMatrix(19, ignore_index=255)
    predictions, ground_truths = [], []
    for idx in np.flatnonzero(ds.is_test):
        target = ds[idx]["target"]
        # a prediction that is right on ~half of the pixels, and any class elsewhere
        noise = torch.from_numpy(rng.integers(0, 19, target.shape))
        pred = torch.where(torch.from_numpy(rng.random(target.shape) < 0.5) & (target != 255), target, noise)
        confusion.update(pred, target)
        pred_path = tmp_path / f"pred_{idx}.png"

        cv2.imwrite(str(pred_path), train_to_label_id[pred.numpy()])
        predictions.append(str(pred_path))
        ground_truths.append(str(ds.label_path(idx)))

    args = cs_eval.CArgs()
    for key, value in vars(cs_eval.args).items():
        setattr(args, key, value)
    args.evalInstLevelScore, args.JSONOutput, args.quiet, args.colorized = False, False, True, False
    args.bold = args.nocol = ""
    results = cs_eval.evaluateImgLists(predictions, ground_truths, args)
    scores = results["classScores"]
    ours = confusion.per_class_iou()
    for train_id in range(19):
        theirs = scores[trainId2label[train_id].name]
        if np.isnan(theirs):
            assert np.isnan(ours[train_id])
        else:
            assert ours[train_id] == pytest.approx(theirs, abs=1e-6)
    assert confusion.mean_iou() == pytest.approx(results["averageScoreClasses"], abs=1e-6)
    assert len(written["val"]) == 5
