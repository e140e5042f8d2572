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
    rows = json.loads(out.read_text())["rows"]
    scorers = {r["scorer"] for r in rows}
    assert {"inference", "HoldoutLossChange (closed form)", "HoldoutLossChangeApprox", "MCDropout T=20",
            "Coreset (greedy k-center)", "BADGE (k-means++ on factored embeddings)"} <= scorers
    for row in rows:
        if "spearman_vs_float64" in row:
            assert row["spearman_vs_float64"] > 0.9, row
    assert "x infer" in result.stdout


@pytest.mark.slow
@pytest.mark.subprocess
def test_bench_loop_quick(tmp_path):
    """The loop benchmark runs the real loop, counts worker processes and prints its ratios."""
    out = tmp_path / "loop_quick.json"
    result = subprocess.run([sys.executable, str(REPO / "benchmarks/bench_loop.py"), "--quick", "--device", "cpu",
                             "--data-root", str(tmp_path / "data"), "--scorers", "Entropy", "HoldoutLossChange",
                             "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report["scoring"]) == {"Entropy", "HoldoutLossChange"}
    assert report["dataloader_workers_started"] % report["sizes"]["workers"] == 0
    assert report["phases"]["train stage (holdout evaluation included)"]["seconds"] > 0
    assert "loop training / best plain training step" in result.stdout
