"""The cost page (tools/report.py --x pixels): labels by the keys that differ, reads runs only where they reached,
no spread for one run, the selections' wrong-pixel shares, one panel per mode with one colour per scorer."""
import json

import numpy as np
import pytest

from segal.reporting.cost_report import _panels, _series_styles, compare_by_cost, equal_cost_points

IMAGE_PIXELS = 32768  # an image step buys 4 images of 64x128
REGION_PIXELS = 8192


def write_run(folder, scorer, regions, seed, mIoUs, wrong):
    """A finished run folder with ``config.json`` and ``metrics.jsonl`` (no state: a report reads only these)."""
    folder.mkdir(parents=True)
    config = {"seed": seed, "scorer": {"type": scorer}, "model": {"type": "SegmentationModel"}, "train": {},
              "dataset": {"type": "SyntheticCity", "data_root": "data/synthetic_city"},
              "protocol": {"type": "RandomSplitProtocol", "num_steps": len(mIoUs) - 1}, "loop": {}}
    if regions:  # as the region variant of a grid sets them; the image runs leave loop.oracle unset
        config["dataset"]["regions"] = {"type": "SLIC", "n_segments": 16}
        config["protocol"]["budget"] = {"unit": "pixels", "per_step": REGION_PIXELS}
        config["loop"]["oracle"] = {"type": "simulated", "region_label": "dominant"}
    step_pixels = REGION_PIXELS if regions else IMAGE_PIXELS
    records = [{"step": s, "n_labelled": 4 + s, "mIoU": m, "mistake_rate": None if s == len(mIoUs) - 1 else wrong[s],
                "selected_ids": [] if s == len(mIoUs) - 1 else [100 + s], "labelled_pixels": 4 * 8192 + s * step_pixels,
                "labelled_clicks": 400 + s * (8 if regions else 400)} for s, m in enumerate(mIoUs)]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(folder)


@pytest.fixture
def runs(tmp_path):
    folders = [write_run(tmp_path / f"images_{scorer}", scorer, False, 0, [0.1, 0.2, 0.3], [0.5, 0.4])
               for scorer in ("Random", "Entropy")]
    folders += [write_run(tmp_path / f"regions_{scorer}_{seed}", scorer, True, seed,
                          [0.1, 0.15 + seed / 100, 0.2, 0.25, 0.3], [0.6, 0.5 + seed / 10, 0.4, 0.3])
                for scorer in ("Random", "Entropy") for seed in (0, 1)]
    return folders


def test_settings_are_named_by_mode_not_by_a_key_only_one_mode_sets(runs, tmp_path):
    summary = compare_by_cost(runs, str(tmp_path / "page"), ["pixels"])["pixels"]
    assert set(summary["settings"]) == {"Random (images)", "Entropy (images)", "Random (regions)",
                                        "Entropy (regions)"}
    assert "<missing>" not in (tmp_path / "page" / "report.md").read_text()


def test_equal_cost_columns_are_the_steps_of_the_coarsest_setting(runs, tmp_path):
    summary = compare_by_cost(runs, str(tmp_path / "page"), ["pixels"])["pixels"]
    assert summary["equal_cost_points"] == [32768.0, 65536.0, 98304.0], "the image runs' steps, never between them"
    regions = summary["at_equal_cost"]["Random (regions)"]
    assert regions["mean"][:2] == pytest.approx([0.1, 0.3]), "4 region steps of 8,192 reach 65,536 exactly"
    assert regions["mean"][2] is None, "the region runs stop at 65,536: no value is made up beyond"
    images = summary["at_equal_cost"]["Random (images)"]
    assert images["mean"] == pytest.approx([0.1, 0.2, 0.3]) and images["std"] is None, "one run has no spread"
    report = (tmp_path / "page" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| Random (images) | 1 |"))
    assert "±" not in row and row.endswith("| 0.3000 |")
    assert "| Random (regions) | 2 | 65,536 | 0.3000 ± 0.0000 |" in report


def test_the_page_shows_each_selection_s_wrong_pixel_share(runs, tmp_path):
    summary = compare_by_cost(runs, str(tmp_path / "page"), ["pixels"])["pixels"]
    regions = summary["settings"]["Entropy (regions)"]["wrong_share"]
    assert regions["mean"] == pytest.approx([0.6, 0.55, 0.4, 0.3]) and regions["std"][1] == pytest.approx(0.05)
    report = (tmp_path / "page" / "report.md").read_text()
    assert "## Wrong-pixel share of each selection" in report
    assert "| Entropy (images) | 0.500 | 0.400 | — | — |" in report
    assert "| Entropy (regions) | 0.600 ± 0.000 | 0.550 ± 0.050 | 0.400 ± 0.000 | 0.300 ± 0.000 |" in report


def settings(*parts):
    """``{name: curve}`` with what names each setting, as summarise_costs writes them."""
    return {f"{scorer} ({', '.join(filter(None, [mode, extra]))})": {"scorer": scorer, "mode": mode, "extra": extra}
            for scorer, mode, extra in parts}


def test_region_settings_share_a_panel_and_image_settings_another():
    named = settings(("Random", "images", ""), ("Entropy", "regions", ""), ("Random", "regions", ""),
                     ("Entropy", "images", ""), ("Random", "regions", "loop.region_class_balance=1.0"))
    assert _panels(named) == {"regions": ["Entropy (regions)", "Random (regions)",
                                          "Random (regions, loop.region_class_balance=1.0)"],
                              "images": ["Random (images)", "Entropy (images)"]}


def test_a_mode_with_more_than_six_settings_is_split_by_its_other_keys():
    named = settings(*[(scorer, "regions", extra) for scorer in ("Random", "Entropy", "MCDropout", "BALD")
                       for extra in ("", "loop.region_class_balance=1.0")])
    panels = _panels(named)
    assert list(panels) == ["regions", "regions, loop.region_class_balance=1.0"]
    assert all(len(members) == 4 for members in panels.values())


def test_a_scorer_keeps_its_colour_and_a_lone_scorer_s_settings_get_one_each():
    palette = ["c0", "c1", "c2", "c3"]
    named = settings(("Random", "images", ""), ("Entropy", "regions", ""), ("Random", "regions", ""),
                     ("Random", "regions", "loop.region_class_balance=1.0"))
    colour, style = _series_styles(named, palette)
    assert {colour[n] for n in named if n.startswith("Random")} == {"c0"} and colour["Entropy (regions)"] == "c1"
    assert style["Random (regions)"] != style["Random (regions, loop.region_class_balance=1.0)"]
    alone = settings(*[("Random", "regions", extra) for extra in ("", "a=1", "b=2", "c=3", "d=4")])
    colour, style = _series_styles(alone, palette)
    assert len(set(colour.values())) == 4 and set(style.values()) == {"-"}, "five settings, a palette of four"


def test_the_summary_says_what_names_each_setting(runs, tmp_path):
    summary = compare_by_cost(runs, str(tmp_path / "page"), ["pixels"])["pixels"]
    assert {k: summary["settings"]["Entropy (regions)"][k] for k in ("scorer", "mode", "extra")} == \
        {"scorer": "Entropy", "mode": "regions", "extra": ""}


def test_the_coarsest_setting_gives_the_columns():
    def curve(*runs):
        return {"cost": list(np.mean(runs, axis=0)), "per_run": {"cost": [list(r) for r in runs]}}
    curves = {"fine": curve([10.0, 12.0, 14.0, 16.0]), "coarse": curve([10.0, 20.0, 30.0], [10.0, 22.0, 29.0]),
              "late": curve([15.0, 16.0])}
    assert equal_cost_points(curves) == [20.0, 29.0], "each step's lowest cost over the coarse runs, from 15 on"


def test_a_scorer_option_that_differs_within_one_scorer_and_mode_names_a_setting(tmp_path):
    folders = []
    for reduction, seed in (("rise", 0), ("mean", 0), ("rise", 1)):
        folder = write_run(tmp_path / f"ours_{reduction}_{seed}", "HoldoutLossChange", True, seed, [0.1, 0.2], [0.5])
        config = json.loads((tmp_path / f"ours_{reduction}_{seed}" / "config.json").read_text())
        config["scorer"]["reduction"] = reduction
        (tmp_path / f"ours_{reduction}_{seed}" / "config.json").write_text(json.dumps(config))
        folders.append(folder)
    folders.append(write_run(tmp_path / "random", "Random", True, 0, [0.1, 0.2], [0.5]))
    summary = compare_by_cost(folders, str(tmp_path / "page"), ["pixels"])["pixels"]
    assert {name: len(s["runs"]) for name, s in summary["settings"].items()} == {
        "Random (regions)": 1, "HoldoutLossChange (regions, scorer.reduction=mean)": 1,
        "HoldoutLossChange (regions, scorer.reduction=rise)": 2}


def test_a_crowded_mode_is_split_by_its_settings_not_by_scorer_options():
    named = settings(*[(scorer, "regions", extra) for scorer in ("Random", "Entropy", "Ours")
                       for extra in ("", "loop.region_class_balance=1.0")],
                     ("Ours", "regions", "scorer.reduction=mean"))
    panels = _panels(named)
    assert list(panels) == ["regions", "regions, loop.region_class_balance=1.0"]
    assert "Ours (regions, scorer.reduction=mean)" in panels["regions"]
