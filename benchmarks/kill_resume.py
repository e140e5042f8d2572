"""Kill a real run at random moments with SIGKILL, resume it, and check it ends as an uninterrupted run.

    python benchmarks/kill_resume.py [--kills 10] [--seed 0] [--config CONFIG] [--out work_dirs/kill_resume]

One uninterrupted run gives the reference and its duration. Each trial then starts the same run and
kills it at a moment drawn uniformly from that duration; every third trial also kills the first
resume (twice in a row). It resumes until the run completes and compares metrics.jsonl and state.json
byte for byte with the reference, and reports where each kill landed (which files of the step in
progress existed) and whether temporary files were left behind. Results go to OUT/results.json.
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from segal.utils.run_paths import RunPaths

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = "configs/digits/mlp_holdout-loss-change_balanced.py"
OPTIONS = ["loop.progress=False", "protocol.num_steps=4", "train.checkpoint_interval=2", "loop.score_batch_size=64",
           "device=cpu"]


def train(config: str, work: Path, resume: bool = False, kill_after: float = None) -> float:
    """Runs tools/train.py; with ``kill_after``, sends SIGKILL after that many seconds. Returns the seconds it ran."""
    args = [sys.executable, str(REPO / "tools/train.py"), config, "--work-dir", str(work), "--cfg-options", *OPTIONS]
    started = time.perf_counter()
    process = subprocess.Popen(args + (["--resume"] if resume else []), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        process.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    if process.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"tools/train.py failed: {process.stderr.read()}")
    return time.perf_counter() - started


def started(work: Path) -> bool:
    """Whether a killed start left anything to resume; a kill during the imports leaves no run folder at all."""
    paths = RunPaths(work)
    return any(path.is_file() for path in (paths.state_path, paths.config_path, paths.lock_path))


def phase_files(work: Path) -> list:
    partial = RunPaths(work).partial_dir
    return sorted(p.name for p in partial.iterdir()) if partial.is_dir() else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--out", default="work_dirs/kill_resume")
    args = parser.parse_args()
    out = Path(args.out)
    reference = out / "reference"
    if not (reference / "state.json").is_file():
        duration = train(args.config, reference)
    else:
        duration = float(json.loads((out / "results.json").read_text())["reference_seconds"])
    expected = {name: (reference / name).read_bytes() for name in ("metrics.jsonl", "state.json")}
    rng = random.Random(args.seed)
    trials = []
    for trial in range(args.kills):
        work = out / f"trial_{trial}"
        if work.exists():
            subprocess.run(["rm", "-rf", str(work)], check=True)
        at = rng.uniform(0.05, 0.95) * duration
        train(args.config, work, kill_after=at)
        landed = phase_files(work)
        kills = 1
        if trial % 3 == 2:  # kill the resume too
            train(args.config, work, resume=started(work), kill_after=rng.uniform(0.05, 0.5) * duration)
            kills += 1
        while not (work / "state.json").is_file() or json.loads((work / "metrics.jsonl").read_text().splitlines()[-1])["step"] < 4:
            train(args.config, work, resume=started(work))
        same = all((work / name).read_bytes() == content for name, content in expected.items())
        leftovers = [str(p) for p in work.rglob(".*.tmp")]
        trials.append({"trial": trial, "killed_at_s": round(at, 2), "kills": kills, "partial_files_at_kill": landed,
                       "identical": same, "temp_files_left": leftovers})
        print(f"trial {trial}: killed at {at:5.1f}s ({kills}x), in-step files {landed or '-'}: "
              f"{'identical' if same else 'DIFFERENT'}")
    identical = sum(t["identical"] for t in trials)
    print(f"{identical}/{len(trials)} killed runs resumed to an identical metrics.jsonl and state.json "
          f"(reference run {duration:.1f}s)")
    (out / "results.json").write_text(json.dumps({"reference_seconds": duration, "config": args.config,
                                                  "options": OPTIONS, "trials": trials}, indent=2))


if __name__ == "__main__":
    main()
