"""Region annotation as a team runs it: train, select regions (masks, overlays, lists), annotate them, train again."""
import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers.tools import load_tool, run_main

from segal.data.label_delivery import deliver_labels, hold_back_labels
from segal.data.synthetic_city import generate

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change_annotation.py")


def options(root):
    return ["--cfg-options", f"dataset.data_root={root}", "dataset.num_train=20", "dataset.num_val=4",
            "dataset.regions.type=Grid", "dataset.regions.size=32", "protocol.holdout_size=2", "train.max_epochs=1",
            "train.batch_size=4", "loop.progress=False", "device=cpu", "scorer.shortlist=4"]


@pytest.mark.slow
def test_select_regions_annotate_them_and_train_on_partial_labels(tmp_path, capsys):
    root = generate(tmp_path / "city", num_train=20, num_val=4, progress=False)
    hold_back_labels(root, keep=6)
    work = tmp_path / "work"
    train, select = load_tool("train"), load_tool("select")
    train.main([CONFIG, "--work-dir", str(work), *options(root)])
    state = json.loads((work / "state.json").read_text())
    assert state["regions"] == []

    select_args = [CONFIG, str(work / "checkpoints/step_0.pth"), "--budget", "5", "--unit", "regions",
                   "--state", str(work / "state.json"), *options(root)]
    select.main(select_args)
    chosen = json.loads((work / "selection_step1.json").read_text())
    assert chosen["mode"] == "regions" and chosen["unit"] == "regions" and len(chosen["selection"]) == 5
    rows = list(csv.DictReader((work / "selection_step1.csv").open()))
    assert [int(r["region"]) for r in rows] == [e["region"] for e in chosen["selection"]]
    assert all(int(r["area"]) == 32 * 32 for r in rows), "Grid cells of 32x32 in 64x128 images"
    images = sorted({e["id"] for e in chosen["selection"]})
    for entry in chosen["selection"]:
        mask = cv2.imread(entry["mask"], cv2.IMREAD_UNCHANGED)
        regions_here = [e["region"] for e in chosen["selection"] if e["id"] == entry["id"]]
        assert mask.shape == (64, 128) and int((mask == 255).sum()) == 32 * 32 * len(regions_here)
        assert Path(entry["mask"].replace("_mask.png", "_regions.png")).is_file()
    state = json.loads((work / "state.json").read_text())
    assert sorted({i for i, _, s in state["regions"] if s == 1}) == images == state["records"][-1]["selected_ids"]
    assert all(step == -1 for step in np.asarray(state["pool"]["labelled_step"])[images]), "images stay unlabelled"

    code, err = run_main("select", select_args, capsys)
    assert code != 0 and "pending annotation" in err

    # the annotators label the masked pixels (the data_prep stand-in writes 0 = unlabelled elsewhere)
    written = deliver_labels(root, str(work / "selection_step1.json"))
    assert len(written) == len(images)
    first = chosen["selection"][0]
    delivered = cv2.imread(str(written[images.index(first["id"])]), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(first["mask"], cv2.IMREAD_UNCHANGED) > 0
    assert (delivered[~mask] == 0).all() and (delivered[mask] > 0).any()

    train.main([CONFIG, "--work-dir", str(work), *options(root)])
    state = json.loads((work / "state.json").read_text())
    assert state["completed_step"] == 1 and state["records"][1]["n_labelled"] == 4 + len(images)

    select.main([CONFIG, str(work / "checkpoints/step_1.pth"), *select_args[2:]])
    second = json.loads((work / "selection_step2.json").read_text())["selection"]
    first_pairs = {(e["id"], e["region"]) for e in chosen["selection"]}
    assert not first_pairs & {(e["id"], e["region"]) for e in second}, "a labelled region is never selected again"


@pytest.mark.slow
def test_annotation_runs_in_their_own_data_roots_compare_against_cost(tmp_path_factory, tmp_path):
    """Image and region annotation runs each keep their labels in their own copy of the images: report.py
    compares them against pixels, and says why their data roots differ."""
    import shutil

    from helpers.annotation_runs import make_pending_selection

    from segal.reporting.compare import IncomparableRuns, compare_runs
    from segal.reporting.cost_report import compare_by_cost

    images = make_pending_selection(tmp_path_factory.mktemp("by_images"))
    regions = make_pending_selection(tmp_path_factory.mktemp("by_regions"), regions=True)
    assert images.root != regions.root
    summaries = compare_by_cost([str(images.state.parent), str(regions.state.parent)], str(tmp_path / "cost"),
                                ["pixels"])
    assert len(summaries["pixels"]["settings"]) == 2
    report = (tmp_path / "cost" / "report.md").read_text()
    assert "**Data roots.** The runs read 2 data roots" in report and "annotation runs" in report
    again = make_pending_selection(tmp_path_factory.mktemp("by_images_again"))
    summary = compare_runs([str(images.state.parent), str(again.state.parent)], str(tmp_path / "steps"))
    assert "Data roots" in summary["notes"][0] and "Data roots" in (tmp_path / "steps" / "report.md").read_text()
    # a root whose images differ is another dataset
    other = images.state.parent.parent / "other_work"
    shutil.copytree(images.state.parent, other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"]["data_root"] = str(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "leftImg8bit" / "train" / "x").mkdir(parents=True)
    (tmp_path / "elsewhere" / "leftImg8bit" / "train" / "x" / "a_leftImg8bit.png").write_bytes(b"")
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(IncomparableRuns, match="use different datasets"):
        compare_runs([str(images.state.parent), str(other)], str(tmp_path / "refused"))
