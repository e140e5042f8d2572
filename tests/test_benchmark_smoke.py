"""The benchmarks' --quick modes run end to end (no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.subprocess
def test_bench_scorers_quick(tmp_path):
    out = tmp_path / "cpu_quick.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_scorers.py"), "--quick", "--device", "cpu",
                             "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["finished"] == report["cases"] == ["classification", "segmentation", "joint", "regions"]
    rows = report["rows"]
    scorers = {r["scorer"] for r in rows}
    assert {"inference", "HoldoutLossChange (closed form)", "HoldoutLossChangeApprox", "MCDropout T=20",
            "Coreset (greedy k-center)", "BADGE (k-means++ on factored embeddings)"} <= scorers
    for row in rows:
        if "spearman_vs_float64" in row:
            assert row["spearman_vs_float64"] > 0.9, row
    assert "x infer" in result.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_bench_loop_quick_and_its_targets(tmp_path):
    """The loop benchmark runs the real loop, logs worker sets by stage, profiles what it is asked to, and
    gpu_targets.py reads its result."""
    out = tmp_path / "loop_quick.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_loop.py"), "--quick", "--device", "cpu",
                             "--data-root", str(tmp_path / "data"), "--scorers", "Entropy", "HoldoutLossChange",
                             "--profile", "train", "Entropy", "--select", "2", "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report["scoring"]) == {"Entropy", "HoldoutLossChange"}
    workers = report["workers"]
    assert workers["repeated_worker_sets"] == 0
    assert workers["dataloader_workers_started"] == workers["worker_sets_started"] * report["sizes"]["workers"]
    stages = workers["worker_sets_by_stage"]
    assert stages["train stage (holdout evaluation included) #1"]["sets"] == 2, "training and holdout loaders, once"
    assert all(0 not in row["samples"] for row in stages.values()), "no worker set for an empty loader"
    assert report["phases"]["train stage (holdout evaluation included)"]["seconds"] > 0
    for name in ("train", "Entropy"):
        table = Path(report["profiles"][name]["table"]).read_text()
        assert "aten::" in table and "Self CPU" in table, table[:300]
    assert "loop training / plain train fp32" in result.stdout
    select = report["select"]
    assert select["returncode"] == 0 and select["predictions_written"] == 2, Path(select["log"]).read_text()
    tasks = json.loads((tmp_path / "select_cpu" / "selection" / "labelstudio" / "tasks.json").read_text())
    assert len(tasks) == 2

    targets = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_targets.py"), "--loop", str(out)],
                             capture_output=True, text=True, cwd=tmp_path)
    assert targets.returncode == 0, targets.stderr
    entropy = next(line for line in targets.stdout.splitlines() if line.startswith("| Entropy in the loop"))
    ratio = report["ratios"]["Entropy scoring, x plain inference fp32"]
    assert f"| {ratio:.2f} |" in entropy and entropy.endswith("met |" if ratio <= 1.1 else "**missed** |")
    assert "| BALD T=20 in the loop <= 3x inference | - | not measured |" in targets.stdout
    assert "2 predictions for 2 selected | met |" in targets.stdout


def test_gpu_targets_applies_each_bound_and_names_a_missing_file(tmp_path):
    def loop_result(training, mc):
        return {"ratios": {"loop training / plain train bf16+channels_last": training,
                           "MCDropout T=20 scoring, x plain inference bf16+channels_last": mc},
                "workers": {"repeated_worker_sets": 1, "worker_sets_started": 9},
                "profiles": {"MCDropout T=20": {"table": "profiles/profile_cuda_MCDropout_T_20.txt"}}}

    scorers = {"rows": [{"case": "seg", "scorer": "BALD T=20", "spearman_vs_float64": 0.9995, "top_k_overlap": 1.0},
                        {"case": "seg", "scorer": "Entropy", "spearman_vs_float64": 1.0, "top_k_overlap": 0.9375},
                        {"case": "regions", "scorer": "Entropy", "region_to_image": 1.2},
                        {"case": "regions", "scorer": "Random", "region_to_image": 1.9}],
               "cases": ["segmentation", "joint", "regions"], "finished": ["segmentation", "regions"]}
    (tmp_path / "scorers.json").write_text(json.dumps(scorers))
    for training, mc, verdicts in ((0.8, 3.0, ("met", "met")), (0.79, 3.01, ("**missed**", "**missed**"))):
        (tmp_path / "loop.json").write_text(json.dumps(loop_result(training, mc)))
        result = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_targets.py"), "--loop", "loop.json",
                                 "--scorers", "scorers.json", "--out", "targets.md"],
                                capture_output=True, text=True, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        lines = {line.split(" | ")[0][2:]: line for line in result.stdout.splitlines() if line.startswith("| ")}
        assert lines["loop training / plain training step >= 0.8"].endswith(f"| {verdicts[0]} |")
        assert lines["MCDropout T=20 in the loop <= 3x inference"].endswith(f"| {verdicts[1]} |")
        assert lines["worker sets started twice for the same samples in one stage: 0"].endswith("| **missed** |")
        assert "top-K 0.94 | **missed** |" in lines["'fast' vs float64: Spearman >= 0.999 and the same top-K, every scorer"]
        assert lines["region pass <= 1.2x its image pass, every model-based scorer"].endswith("| met |")
        assert ("profile_cuda_MCDropout_T_20.txt" in result.stdout) == (verdicts[1] != "met")
        assert "scorers.json stopped before finishing joint" in result.stdout
        assert (tmp_path / "targets.md").read_text() == result.stdout
    missing = subprocess.run([sys.executable, str(REPO / "benchmarks/gpu_targets.py"), "--loop", "absent.json"],
                             capture_output=True, text=True, cwd=tmp_path)
    assert missing.returncode == 2 and "absent.json: no such file" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.subprocess
def test_bench_dataset_reading_checks_both_readers_agree_and_writes_the_ratio(tmp_path):
    out = tmp_path / "reading.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_dataset_reading.py"), "--images", "3",
                             "--height", "32", "--width", "64", "--rounds", "1", "--out", str(out)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == 5 and report["ratio"] > 0 and set(report["seconds_per_image"]) == {"preset", "generic"}
    assert "ratio generic / preset" in result.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_region_mistakes_quick_measures_every_scorer_s_first_selection(tmp_path):
    out = tmp_path / "mistakes.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/region_mistakes.py"), "--quick", "--seeds", "0",
                             "--data-root", str(tmp_path / "city"), "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    seed = json.loads(out.read_text())["seeds"][0]
    assert set(seed["scorers"]) == {"Random", "Entropy", "Ours-app", "Ours (rise)", "Ours (mean)"}
    for measured in seed["scorers"].values():
        assert 0 <= measured["wrong_share"] <= 1 and measured["regions"] >= 1
    assert 0 < seed["wrong_share_of_every_region"] < 1
    assert "share of the chosen pixels predicted wrongly" in result.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_bench_region_step_quick_trains_each_set_and_writes_the_ratios(tmp_path):
    out = tmp_path / "region_step.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_region_step.py"), "--quick",
                             "--data-root", str(tmp_path / "city"), "--out", str(out)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert list(rows) == ["images", "regions, whole images", "regions, drawn by pixels", "regions, 2x2 mosaics",
                          "regions, 2x2 mosaics drawn", "regions, 3x3 mosaics"]
    assert rows["images"]["ratio_to_images"] == 1.0
    assert rows["regions, 2x2 mosaics"]["samples_per_epoch"] < rows["regions, whole images"]["samples_per_epoch"]
    drawn = rows["regions, drawn by pixels"]["samples_per_epoch"]
    assert drawn < rows["regions, whole images"]["samples_per_epoch"]
    assert drawn <= -(-rows["regions, drawn by pixels"]["labelled_pixels"] // (64 * 128)), "the pixels of whole images"
    assert "per labelled pixel" in result.stdout


@pytest.mark.subprocess
def test_bench_argmax_runs_and_finds_the_maps_identical():
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_argmax.py"), "--height", "64", "--width",
                             "128", "--repeats", "1"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "identical: True" in result.stdout
