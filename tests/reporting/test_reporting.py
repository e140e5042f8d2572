"""tools/report.py on small digits runs, and tools/test.py on a trained checkpoint."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segal.apis import run_experiment
from segal.config import load_config
from segal.reporting.compare import IncomparableRuns, compare_runs

REPO = Path(__file__).resolve().parents[2]
SHORT = {"loop.progress": False, "protocol.num_steps": 10, "train.max_epochs": 30}


def run_tool(tool, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / tool), *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """Two seeds each of Random and Entropy on the balanced digits protocol."""
    root = tmp_path_factory.mktemp("runs")
    dirs = {}
    for scorer in ("random", "entropy"):
        for seed in (0, 1):
            cfg = load_config(str(REPO / f"configs/digits/mlp_{scorer}_balanced.py"), SHORT)
            cfg.seed = seed
            run_experiment(cfg, root / f"{scorer}_{seed}")
            dirs.setdefault(scorer, []).append(root / f"{scorer}_{seed}")
    return dirs


def records(work_dir):
    return [json.loads(line) for line in (work_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.subprocess
def test_report_numbers_match_the_runs(digits_runs, tmp_path):
    all_dirs = [str(d) for dirs in digits_runs.values() for d in dirs]
    result = run_tool("report.py", *all_dirs, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in tmp_path.iterdir()} >= {"curves.png", "report.md", "summary.json"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert list(summary["settings"]) == ["Random", "Entropy"] and summary["metric"] == "accuracy"
    for scorer, name in (("random", "Random"), ("entropy", "Entropy")):
        acc = np.array([[r["accuracy"] for r in records(d)] for d in digits_runs[scorer]])
        entry = summary["settings"][name]
        np.testing.assert_allclose(entry["mean"], acc.mean(0), rtol=1e-12)
        np.testing.assert_allclose(entry["std"], acc.std(0), rtol=1e-9, atol=1e-15)
        n = np.array([r["n_labelled"] for r in records(digits_runs[scorer][0])])
        mean = acc.mean(0)
        assert entry["auc"] == pytest.approx(np.sum((mean[1:] + mean[:-1]) / 2 * np.diff(n)) / (n[-1] - n[0]))
        for s in (1, 5, 10):  # annotation step s, as the paper counts: the s-th selection, made by record s - 1
            rates = [records(d)[s - 1]["mistake_rate"] for d in digits_runs[scorer]]
            assert entry["mistake_rate"][str(s)]["mean"] == pytest.approx(np.mean(rates))
        target = summary["target"]
        reached = [n_ for n_, m in zip(n, mean) if m >= target]
        assert entry["labels_to_reach_random"] == (int(reached[0]) if reached else None)
    random_final = np.mean([records(d)[-1]["accuracy"] for d in digits_runs["random"]])
    assert summary["target"] == pytest.approx(random_final)
    report = (tmp_path / "report.md").read_text()
    assert "labels to reach Random's final" in report and f"{summary['settings']['Entropy']['auc']:.4f}" in report
    assert "| annotation step 1 | annotation step 5 | annotation step 10 |" in report

    # paired differences, seed by seed, against a direct computation
    (paired,) = summary["paired"]
    assert (paired["setting"], paired["baseline"]) == ("Entropy", "Random")
    diffs = np.array([records(e)[-1]["accuracy"] - records(r)[-1]["accuracy"]
                      for e, r in zip(digits_runs["entropy"], digits_runs["random"])])
    assert paired["final"]["mean"] == pytest.approx(diffs.mean())
    assert paired["final"]["se"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(2))
    assert paired["final"]["wins"] == int((diffs > 0).sum()) and paired["final"]["n"] == 2
    assert paired["final"]["within_2se"] == bool(abs(diffs.mean()) <= 2 * diffs.std(ddof=1) / np.sqrt(2))
    first = np.array([records(e)[0]["mistake_rate"] - records(r)[0]["mistake_rate"]
                      for e, r in zip(digits_runs["entropy"], digits_runs["random"])])
    assert paired["mistake_rate"]["1"]["mean"] == pytest.approx(first.mean())
    assert "## Paired differences across seeds" in report and "| Entropy | Random |" in report


@pytest.mark.slow
@pytest.mark.subprocess
def test_incomparable_runs_are_refused(digits_runs, tmp_path):
    other = tmp_path / "bigger_steps"
    run_experiment(load_config(str(REPO / "configs/digits/mlp_random_balanced.py"),
                               {**SHORT, "protocol.num_steps": 2, "protocol.step_size": 7}), other)
    with pytest.raises(IncomparableRuns, match="labels"):
        compare_runs([str(digits_runs["random"][0]), str(other)], str(tmp_path / "out"))
    result = run_tool("report.py", str(digits_runs["random"][0]), str(other), "--out", str(tmp_path / "out2"))
    assert result.returncode == 1 and "labels" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.subprocess
def test_test_tool_writes_the_evaluation_report(digits_runs, tmp_path):
    run = digits_runs["entropy"][0]
    result = run_tool("test.py", str(run / "config.json"), str(run / "checkpoints/step_10.pth"), "--work-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(records(run)[-1]["accuracy"])
    assert (tmp_path / "confusion.png").stat().st_size > 0 and (tmp_path / "config.py").is_file()
    report = (tmp_path / "report.md").read_text()
    assert all(f"| {c} |" in report for c in "0123456789")


@pytest.mark.slow
@pytest.mark.subprocess
def test_checkpoint_for_another_model_is_refused(digits_runs, tmp_path):
    run = digits_runs["entropy"][0]
    result = run_tool("test.py", str(run / "config.json"), str(run / "checkpoints/step_0.pth"), "--work-dir", str(tmp_path),
                      "--cfg-options", "model.hidden=32")
    assert result.returncode == 1
    assert "'hidden': 256" in result.stderr and "'hidden': 32" in result.stderr


def test_runs_on_different_datasets_are_refused_naming_the_keys(digits_runs, tmp_path):
    other = tmp_path / "other_split"
    shutil.copytree(digits_runs["random"][0], other)
    config = json.loads((other / "config.json").read_text())
    config["dataset"]["test_fraction"] = 0.5
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(IncomparableRuns) as refused:
        compare_runs([str(digits_runs["random"][0]), str(other)], str(tmp_path / "out"))
    message = str(refused.value)
    assert "dataset.test_fraction: 0.5 against 0.3" in message and "'type'" not in message


def test_mistake_ceiling_counts_the_wrong_candidates_each_selection_could_find(digits_runs, tmp_path):
    """Checked against an independent count: the replayed step's model on the candidates it chose from."""
    from segal.experiments.replay import replay_step

    work = digits_runs["entropy"][0]
    steps = records(work)
    for step in (0, 4, 9):
        replayed = replay_step(work, step)
        candidates = replayed.ctx.pool.candidate_ids()
        wrong = int((replayed.ctx.predicted_classes(candidates) != replayed.ctx.dataset.labels[candidates]).sum())
        assert steps[step]["pool_mistakes"] == wrong
        assert round(steps[step]["mistake_rate"] * len(steps[step]["selected_ids"])) <= wrong
    summary = compare_runs([str(run) for run in digits_runs["entropy"]], str(tmp_path / "out"))
    expected = [min(5, records(run)[9]["pool_mistakes"]) / 5 for run in digits_runs["entropy"]]
    ceiling = summary["settings"]["Entropy"]["available_mistakes"]["10"]
    assert len(steps[9]["selected_ids"]) == 5 and ceiling["ceiling"] == pytest.approx(np.mean(expected))
    assert "How many mistakes there were to find" in (tmp_path / "out" / "report.md").read_text()


def test_many_settings_are_drawn_as_small_multiples_of_at_most_six_series(monkeypatch, tmp_path):
    """16 settings in one panel could not be read; each panel holds six series at most, the baseline in each."""
    import segal.reporting.comparison_report as comparison_report

    drawn = {}
    monkeypatch.setattr(comparison_report, "save_figure", lambda fig, path, dpi: drawn.update(fig=fig))
    names = ["Random"] + [f"Scorer{i // 4} (option={i % 4})" for i in range(15)]
    entry = {"n_labelled": [10, 20], "mean": [0.5, 0.6], "std": [0.01, 0.02], "runs": ["a"], "partial": []}
    summary = {"settings": {name: dict(entry) for name in names}, "metric": "accuracy", "dataset": "Digits",
               "protocol": "ImbalancedProtocol"}
    comparison_report.plot_curves(summary, tmp_path / "curves.png")
    panels = [ax for ax in drawn["fig"].axes if ax.get_visible()]
    assert len(panels) >= 3
    shown = []
    for ax in panels:
        labels = [text.get_text() for text in ax.get_legend().get_texts()]
        assert len(labels) <= 6 and labels[0].startswith("Random")
        assert ax.get_xlabel() == "labelled samples" and ax.get_ylabel() == "accuracy"
        shown += labels[1:]
    assert sorted(label.rsplit(" (n=", 1)[0] for label in shown) == sorted(names[1:])
    first_panel_scorers = {label.split(" (")[0] for label in [t.get_text() for t in panels[0].get_legend().get_texts()][1:]}
    assert len(first_panel_scorers) == 1  # a scorer's four options stay together
