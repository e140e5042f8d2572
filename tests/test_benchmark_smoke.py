"""The scorer benchmark's --quick mode runs end to end (no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


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
