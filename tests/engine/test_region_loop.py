"""Region mode in the loop: budgets and their records, partial labels in training, resume, refusals."""
import json
import logging
import shutil

import cv2
import numpy as np
import pytest
import torch
from helpers.region_runs import CONFIG, options
from helpers.tools import load_tool, run_main

from segal.apis import run_experiment
from segal.config import load_config
from segal.data import Cityscapes
from segal.data.partial_labels import WithRegionLabels
from segal.data.pool import ActivePool, Split
from segal.data.region_pool import RegionLabels
from segal.engine.step_progress import StepProgress
from segal.engine.train import train_stage
from segal.models import SegmentationModel
from segal.reporting.cost_report import reach_cost
from segal.settings import TrainSettings


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("city") / "data"
    load_config(CONFIG, options(root))  # checks the options
    from segal.data.synthetic_city import generate

    generate(root, num_train=40, num_val=6, progress=False)
    return root


@pytest.fixture(scope="module")
def region_run(city, tmp_path_factory):
    work = tmp_path_factory.mktemp("regions") / "run"
    records = run_experiment(load_config(CONFIG, options(city)), work)
    return work, records


def read_state(work):
    return json.loads((work / "state.json").read_text())


@pytest.mark.slow
def test_a_region_run_buys_its_budget_and_records_what_it_cost(region_run, city):
    work, records = region_run
    state = read_state(work)
    rows = state["regions"]
    assert len(rows) == 24 and len({(i, r) for i, r, _ in rows}) == 24, "12 regions a step, none twice"
    pool = ActivePool.from_state_dict(state["pool"])
    assert all(pool.split_of([i])[0] == Split.POOL and pool.labelled_step([i])[0] == -1 for i, _, _ in rows)
    for step, record in enumerate(records[:-1]):
        chosen = [(i, r) for i, r, s in rows if s == step + 1]
        assert sorted(map(tuple, record["selected_regions"])) == sorted(chosen)
        assert record["selected_ids"] == sorted({i for i, _ in chosen})
        scores = record["selected_region_scores"]
        assert scores == sorted(scores, reverse=True)
        counted = sum(record["selected_class_pixels"].values())
        assert 0 < counted <= record["selected_pixels"] == 12 * 256, "mistakes are counted on the regions' pixels"
    first, second, last = records
    assert second["labelled_regions"] - first["labelled_regions"] == 12
    assert second["labelled_clicks"] - first["labelled_clicks"] == 12
    assert second["labelled_pixels"] - first["labelled_pixels"] == first["selected_pixels"] == 12 * 256
    assert last["labelled_images"] == 4 + len({i for i, _, _ in rows}) == last["n_labelled"]
    assert first["labelled_regions"] == 4 * 32 and first["labelled_pixels"] == 4 * 64 * 128
    totals = state["protocol"]["costs"]
    assert totals["pixels"] == 36 * 64 * 128 and totals["regions"] == 36 * 32
    assert last["labelled_pixels_fraction"] == pytest.approx(last["labelled_pixels"] / totals["pixels"])
    assert first["click_model"] == "label_contours+one_per_region"


@pytest.mark.slow
def test_a_run_killed_inside_a_region_step_resumes_exactly(region_run, city, tmp_path, monkeypatch, caplog):
    straight, _ = region_run
    work = tmp_path / "run"
    original, calls = StepProgress.save_scores, {"n": 0}

    class Killed(BaseException):
        pass

    def killing(self, *args):
        original(self, *args)
        calls["n"] += 1
        if calls["n"] == 6:  # inside step 1's region pass (step 0's pass saves 5 batches)
            raise Killed()

    monkeypatch.setattr(StepProgress, "save_scores", killing)
    with pytest.raises(Killed):
        run_experiment(load_config(CONFIG, options(city)), work)
    monkeypatch.undo()
    assert read_state(work)["completed_step"] == 0
    caplog.set_level(logging.INFO, logger="segal")
    run_experiment(load_config(CONFIG, options(city)), work, resume=True)
    assert "continuing an interrupted region scoring pass after" in caplog.text
    for name in ("state.json", "metrics.jsonl"):
        assert (work / name).read_bytes() == (straight / name).read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("edit, expected", [
    (lambda rows: rows.append(list(rows[0])), "region labels are not valid"),  # a region labelled twice
    (lambda rows: rows[0].__setitem__(1, 100_000), "name region 100000 of image"),  # a region the image lacks
])
def test_an_edited_region_state_is_refused_before_anything_runs(region_run, city, tmp_path, edit, expected):
    from segal.engine.run_state import write_run_state

    work = tmp_path / "run"
    shutil.copytree(region_run[0], work)
    state = read_state(work)
    edit(state["regions"])
    state.pop("digest")
    write_run_state(work / "state.json", state)  # signed again: only the region checks can catch it
    before = {p: p.read_bytes() for p in work.rglob("*") if p.is_file()}
    with pytest.raises(Exception, match=expected):
        run_experiment(load_config(CONFIG, options(city, **{"protocol.num_steps": 3})), work, resume=True)
    assert {p: p.read_bytes() for p in work.rglob("*") if p.is_file()} == before, "no step was committed"


@pytest.mark.parametrize("extra, words", [
    ({"scorer.type": "Coreset"}, ["Coreset", "cannot score regions"]),
    ({"protocol.budget.unit": "images"}, ["dataset.regions selects regions"]),
    ({"dataset.regions": None}, ["needs dataset.regions"]),
    ({"dataset.regions": "SLIC"}, ["dataset.regions must be"]),
    ({"protocol.budget": dict(unit="pixels", per_step=100)}, ["per_step=100 pixels", "less than one region"]),
    ({"protocol.budget": dict(unit="pixels", per_step=10**7)}, ["steps asks for", "the pool holds"]),
    ({"protocol.budget.per_step": 0}, ["protocol.budget.per_step", "at least"]),
    ({"protocol.step_size": 4}, ["protocol.step_size and protocol.budget"]),
    ({"loop.oracle": dict(type="simulated", region_label="majority")}, ["region_label", "majority"]),
    ({"loop.oracle": dict(type="simulated", region_label="exact"), "protocol.budget": dict(unit="clicks", per_step=12)},
     ["unit='clicks'", "exact region labels", "one per class"]),
])
def test_a_budget_that_cannot_be_served_is_one_line_before_anything_is_written(city, tmp_path, capsys, extra, words):
    work = tmp_path / "run"
    argv = [CONFIG, "--work-dir", str(work), "--cfg-options"]
    flat = {}
    for key, value in options(city, **extra).items():
        flat.update({f"{key}.{k}": v for k, v in value.items()} if isinstance(value, dict) else {key: value})
    argv += [f"{key}={value}" for key, value in flat.items()]
    code, err = run_main("train", argv, capsys)
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert code != 0 and len(lines) == 1, err
    assert all(word in lines[0] for word in words), lines[0]
    assert not work.exists()


@pytest.mark.slow
def test_partial_labels_reach_the_loss_only_where_labelled(city, tmp_path):
    """Training on partial maps gives the same weights whatever the true labels outside the labelled regions."""
    other = tmp_path / "data"
    shutil.copytree(city, other, ignore=shutil.ignore_patterns("regions"))
    regions = dict(type="Grid", size=16)
    original, changed = Cityscapes(str(city), regions=regions), Cityscapes(str(other), regions=regions)
    image = 7
    label_file = changed.label_path(image)
    raw = cv2.imread(str(label_file), cv2.IMREAD_UNCHANGED)
    inside = np.isin(changed.region_map(image), [0, 5, 9])
    cv2.imwrite(str(label_file), np.where(inside, raw, 26).astype(np.uint8))  # cars everywhere else
    weights = []
    for dataset in (original, changed):
        pool = ActivePool(np.where(dataset.is_test, Split.TEST, Split.POOL))
        labels = RegionLabels(pool)
        labels.label(image, [0, 5, 9], step=1)
        labels.label(image + 1, [2, 3], step=1)
        torch.manual_seed(0)
        model = SegmentationModel((3,), 19)
        train_stage(model, WithRegionLabels(dataset, labels, "exact"), [image, image + 1], [1, 2],
                    TrainSettings(batch_size=2, max_epochs=2, patience=2), torch.device("cpu"), seed=0, progress=False)
        weights.append(model.state_dict())
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


@pytest.fixture(scope="module")
def image_run(city, tmp_path_factory):
    """Whole images bought by pixels: 3 images of 64x128 fit in 3 * 8192 + 100 pixels."""
    work = tmp_path_factory.mktemp("images") / "run"
    extra = {"dataset.regions": None, "protocol.budget": dict(unit="pixels", per_step=3 * 8192 + 100)}
    records = run_experiment(load_config(CONFIG, options(city, **extra)), work)
    return work, records


@pytest.mark.slow
def test_an_image_run_fills_a_pixel_budget_with_whole_images(image_run):
    _, records = image_run
    assert [len(r["selected_ids"]) for r in records[:-1]] == [3, 3]
    assert [r["labelled_pixels"] for r in records] == [4 * 8192, 7 * 8192, 10 * 8192]
    assert all(r["labelled_regions"] is None and r["click_model"] == "label_contours" for r in records)
    assert records[1]["labelled_clicks"] > records[0]["labelled_clicks"] > 0


@pytest.mark.slow
def test_report_against_pixels_puts_region_and_image_runs_side_by_side(region_run, image_run, tmp_path, capsys):
    out = tmp_path / "report"
    load_tool("report").main([str(region_run[0]), str(image_run[0]), "--out", str(out), "--x", "pixels", "clicks"])
    summary = json.loads((out / "summary.json").read_text())
    pixels = summary["pixels"]["settings"]
    regions, images = pixels["HoldoutLossChangeApprox (regions)"], pixels["HoldoutLossChangeApprox (images)"]
    assert regions["cost"] == [r["labelled_pixels"] for r in region_run[1]]
    assert images["mean"] == [r["mIoU"] for r in image_run[1]]
    points = summary["pixels"]["equal_cost_points"]
    assert points == images["cost"], "the columns are the steps of the image run, which buys most per step"
    at = summary["pixels"]["at_equal_cost"]["HoldoutLossChangeApprox (regions)"]
    reached = [p for p in points if p <= regions["cost"][-1]]
    assert reached and at["mean"][len(reached):] == [None] * (len(points) - len(reached))
    # one run: its curve is the mean curve, and there is no std
    np.testing.assert_allclose(at["mean"][:len(reached)], np.interp(reached, regions["cost"], regions["mean"]))
    assert at["std"] is None
    share = summary["pixels"]["efficiency"]["HoldoutLossChangeApprox (images)"]["HoldoutLossChangeApprox (regions)"]
    reached = reach_cost(images, regions["mean"][-1])
    assert share == (None if reached is None else pytest.approx(reached / regions["cost"][-1]))
    for unit in ("pixels", "clicks"):
        assert (out / f"curves_{unit}.png").is_file()
    assert "Label efficiency in clicks" in (out / "report.md").read_text()


def test_reach_cost_interpolates_between_steps():
    curve = {"cost": [10.0, 20.0, 40.0], "mean": [0.1, 0.3, 0.5]}
    assert reach_cost(curve, 0.05) == 10.0
    assert reach_cost(curve, 0.4) == pytest.approx(30.0)
    assert reach_cost(curve, 0.6) is None


def test_labelled_class_pixels_count_whole_images_and_the_oracles_region_answers(city):
    from segal.selection.class_balance import labelled_class_pixels

    dataset = Cityscapes(str(city), regions=dict(type="Grid", size=16))
    pool = ActivePool(np.where(dataset.is_test, Split.TEST, Split.POOL))
    pool.label([0], step=0)
    regions = RegionLabels(pool)
    regions.label(3, [2, 7], step=1)
    counts = labelled_class_pixels(dataset, pool, regions, "dominant", cache={})
    whole = dataset.read(0)[1]
    label, region_map = dataset.read(3)[1], dataset.region_map(3)
    expected = np.bincount(whole[whole != 255], minlength=19)
    for r in (2, 7):
        values = label[region_map == r]
        dominant = np.bincount(values, minlength=256).argmax()
        if dominant != 255:
            expected[dominant] += len(values)
    np.testing.assert_array_equal(counts, expected)


@pytest.mark.slow
def test_a_class_balanced_region_run_completes_and_records_weighted_scores(city, tmp_path):
    records = run_experiment(load_config(CONFIG, options(city, **{"loop.region_class_balance": 2.0,
                                                                   "protocol.num_steps": 1})), tmp_path / "run")
    assert len(records[0]["selected_regions"]) == 12 and records[1]["labelled_regions"] == 4 * 32 + 12
