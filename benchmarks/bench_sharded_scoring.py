"""Sharded scoring: seconds per annotation step's scoring with 1, 2, ... processes on the same pool, in one run.

    python benchmarks/bench_sharded_scoring.py [--device cpu|cuda] [--nprocs 1 2] [--scorers NAME ...] [--quick]

Generates the synthetic city (64x128, 48 pool images on CPU; 512x1024, 256 on CUDA), saves one
DeepLabV3+ ResNet18, and for each process count starts torchrun with this script as the worker.
Every rank scores its shard of the same pool with the same weights, as the loop does at one step
(``scorer.select``: preparation on the holdout, the pool pass, the gather and the selection); a
warm-up selection runs first, then the timed one, between barriers. On CPU the cores are divided
between the processes (``OMP_NUM_THREADS``), so the comparison uses the same hardware; on CUDA each
process has its own GPU. Prints seconds and the speed-up over one process per scorer, checks that
every process count selects the same ids, and writes benchmarks/results/sharded_scoring_<device>.json.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"
SCORER_SETTINGS = {"Entropy": {}, "HoldoutLossChangeApprox": {}, "HoldoutLossChange": dict(lr=1e-4),
                   "MCDropout": dict(num_passes=20)}


def config_options(device: str, quick: bool, data_root: str) -> dict:
    cuda = device == "cuda"
    height, width = (32, 64) if quick else (512, 1024) if cuda else (64, 128)
    num_train = 24 if quick else 288 if cuda else 64
    return {"dataset.data_root": f"{data_root}/{height}x{width}_{num_train}", "dataset.generate": True, "dataset.height": height,
            "dataset.width": width, "dataset.num_train": num_train, "dataset.num_val": 4, "dataset.train_pipeline": [],
            "protocol.initial_size": 8, "protocol.holdout_size": 8 if not cuda else 16, "protocol.step_size": 4,
            "loop.score_batch_size": 4 if not cuda else 8, "loop.progress": False, "device": device,
            "model.dropout": 0.1}


def worker(args) -> None:
    """One rank: score the pool with each scorer, twice; rank 0 writes the timings."""
    from segal.config import load_config
    from segal.registry import PROTOCOLS, SCORERS, build
    from segal.scorers.base import ScoringContext
    from segal.spec import build_dataset, build_model
    from segal.utils.device import resolve_device
    from segal.utils.distributed import barrier, is_main, launched, rank_and_world, rank_device

    cfg = load_config(str(CONFIG), config_options(args.device, args.quick, args.data_root))
    with launched("pytorch", cfg):
        device = rank_device(resolve_device(args.device))
        dataset = build_dataset(cfg)
        model = build_model(cfg.model, dataset).to(device)
        model.load_state_dict(torch.load(args.weights, map_location=device))
        pool, _ = build(PROTOCOLS, cfg.protocol, "protocol").build(dataset, np.random.default_rng(0))
        rows = {}
        for name in args.scorers:
            scorer = build(SCORERS, dict(type=name, **SCORER_SETTINGS.get(name, {})), "scorer")
            ctx = ScoringContext(model=model, dataset=dataset, pool=pool, device=device, step=0, seed=0,
                                 batch_size=cfg.loop.score_batch_size, progress=False)
            timings = []
            for _ in range(2):  # a warm-up, then the timed selection
                barrier()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                selection = scorer.select(ctx, cfg.protocol.step_size)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                barrier()
                timings.append(time.perf_counter() - started)
            rows[name] = {"seconds": timings[-1], "selected": selection.ids.tolist(),
                          "pool": int(len(pool.candidate_ids()))}
        if is_main():
            Path(args.out).write_text(json.dumps({"processes": rank_and_world()[1], "rows": rows}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scorers", nargs="+", default=list(SCORER_SETTINGS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--data-root", default="work_dirs/bench_sharded/data")
    parser.add_argument("--out", help="result JSON (default: benchmarks/results/sharded_scoring_<device>[_quick].json)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from segal.config import load_config
    from segal.spec import build_dataset, build_model

    cfg = load_config(str(CONFIG), config_options(args.device, args.quick, args.data_root))
    dataset = build_dataset(cfg)  # generates the data outside the timed runs
    torch.manual_seed(0)
    model = build_model(cfg.model, dataset)
    cores = os.cpu_count() or 1
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "model.pth"
        torch.save(model.state_dict(), weights)
        for nproc in args.nprocs:
            out = Path(tmp) / f"{nproc}.json"
            command = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                       "--master_addr=127.0.0.1", f"--master_port={free_port()}", __file__, "--worker",
                       "--device", args.device, "--data-root", args.data_root, "--weights", str(weights),
                       "--out", str(out), "--scorers", *args.scorers] + (["--quick"] if args.quick else [])
            env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // nproc)), "PYTHONPATH": str(REPO)}
            finished = subprocess.run(command, env=env, capture_output=True, text=True)
            if finished.returncode != 0:
                raise SystemExit(f"{nproc} processes failed:\n{finished.stderr[-3000:]}")
            results[nproc] = json.loads(out.read_text())["rows"]
    base = args.nprocs[0]
    rows = []
    for name in args.scorers:
        for nproc in args.nprocs:
            row = results[nproc][name]
            rows.append({"scorer": name, "processes": nproc, "seconds": row["seconds"], "pool": row["pool"],
                         "speedup_vs_" + str(base): results[base][name]["seconds"] / row["seconds"],
                         "same_selection_as_" + str(base): row["selected"] == results[base][name]["selected"]})
    size = [cfg.dataset.height, cfg.dataset.width]
    print(f"sharded scoring on {args.device}, {size[0]}x{size[1]}, pool {rows[0]['pool']}, "
          f"{cores} cores" + (" divided between the processes" if args.device == "cpu" else ""))
    for row in rows:
        print(f"  {row['scorer']:<26} {row['processes']} proc  {row['seconds']:8.2f}s  "
              f"x{row['speedup_vs_' + str(base)]:.2f}  same selection: {row['same_selection_as_' + str(base)]}")
    result = {"device": args.device, "size": size, "torch": torch.__version__, "cores": cores, "rows": rows}
    out = Path(args.out) if args.out else RESULTS / f"sharded_scoring_{args.device}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
