"""The real loop, phase by phase, next to a plain-PyTorch probe of the same model and size, in one run.

    python benchmarks/bench_loop.py [--device cpu|cuda] [--height H --width W] [--scorers NAME ...] [--quick]

Generates the synthetic city at the given size (default 512x1024 on CUDA, 64x128 on CPU), runs one step
of tools/train.py's loop (DeepLabV3+ ResNet18: step 0 trains on the initial set, is evaluated and
selects with HoldoutLossChange; step 1 trains again) and reports per phase: seconds, images/s, time
spent waiting for batches and DataLoader worker processes started. The step-0 model then scores the
same pool with every scorer of --scorers, as the loop scores. The probe times a plain smp training
step and inference on random tensors of the same size on the same device: fp32, and bf16 autocast
with channels-last on CUDA. Ratios compare the two. Writes benchmarks/results/loop_<device>.json.
"""
import argparse
import json
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch.utils.data import dataloader

from segal.apis import build_dataset, build_model, run_experiment
from segal.config import load_config
from segal.data.pool import ActivePool
from segal.engine import loop as loop_module
from segal.engine import train as train_module
from segal.registry import SCORERS, build
from segal.scorers.base import Scorer, ScoringContext
from segal.utils.io import load_torch_file, read_json

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"
SCORER_SETTINGS = {"HoldoutLossChange": dict(lr=1e-4), "HoldoutLossChangeApprox": {}, "Entropy": {},
                   "MCDropout": dict(num_passes=20), "BALD": dict(num_passes=20), "Random": {}}


class PhaseClock:
    """Wall time per phase (CUDA synchronised), time blocked on DataLoader batches, worker processes started."""

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds = defaultdict(float)
        self.images = defaultdict(int)
        self.data_wait = 0.0
        self.workers_started = 0

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def timed(self, phase: str, function, count_images=None):
        def wrapper(*args, **kwargs):
            self.sync()
            started = time.perf_counter()
            result = function(*args, **kwargs)
            self.sync()
            self.seconds[phase] += time.perf_counter() - started
            if count_images is not None:
                self.images[phase] += count_images(args, kwargs, result)
            return result
        return wrapper

    @contextmanager
    def installed(self):
        """Wraps the loop's phases and the DataLoader machinery for the duration of the block."""
        saved = [(loop_module, "train_stage", loop_module.train_stage), (train_module, "evaluate", train_module.evaluate),
                 (loop_module.ActiveLoop, "_evaluate", loop_module.ActiveLoop._evaluate),
                 (Scorer, "score_ids", Scorer.score_ids),
                 (dataloader._BaseDataLoaderIter, "__next__", dataloader._BaseDataLoaderIter.__next__),
                 (dataloader._MultiProcessingDataLoaderIter, "__init__", dataloader._MultiProcessingDataLoaderIter.__init__)]
        clock = self
        loop_module.train_stage = self.timed("train stage (holdout evaluation included)", loop_module.train_stage,
                                             lambda a, k, r: len(a[2]) * r.epochs)
        train_module.evaluate = self.timed("holdout evaluation", train_module.evaluate)
        loop_module.ActiveLoop._evaluate = self.timed("test and selection evaluation", loop_module.ActiveLoop._evaluate,
                                                      lambda a, k, r: len(a[1]))
        Scorer.score_ids = self.timed("scoring (in the loop)", Scorer.score_ids, lambda a, k, r: len(a[2]))
        next_batch = dataloader._BaseDataLoaderIter.__next__
        start_workers = dataloader._MultiProcessingDataLoaderIter.__init__

        def waiting_next(iterator):
            started = time.perf_counter()
            try:
                return next_batch(iterator)
            finally:
                clock.data_wait += time.perf_counter() - started

        def counting_init(iterator, loader):
            clock.workers_started += loader.num_workers
            start_workers(iterator, loader)

        dataloader._BaseDataLoaderIter.__next__ = waiting_next
        dataloader._MultiProcessingDataLoaderIter.__init__ = counting_init
        try:
            yield self
        finally:
            for owner, name, original in saved:
                setattr(owner, name, original)


def probe(device: torch.device, size, batch: int, iterations: int) -> dict:
    """Plain smp DeepLabV3+ ResNet18 on random tensors: training step and inference images/s."""
    results = {}
    variants = [("fp32", None, False)] + ([("bf16+channels_last", torch.bfloat16, True)] if device.type == "cuda" else [])
    for name, dtype, channels_last in variants:
        torch.manual_seed(0)
        net = smp.DeepLabV3Plus("resnet18", encoder_weights=None, classes=19).to(device)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        net = net.to(memory_format=memory_format)
        x = torch.randn(batch, 3, *size, device=device).contiguous(memory_format=memory_format)
        y = torch.randint(0, 19, (batch, *size), device=device)
        optimizer = torch.optim.Adam(net.parameters(), 1e-3)

        def train_step():
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = F.cross_entropy(net(x).float(), y)
            loss.backward()
            optimizer.step()

        def infer():
            with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                net.eval()(x)
            net.train()

        for label, step in (("train", train_step), ("inference", infer)):
            step()  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            for _ in range(iterations):
                step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            results[f"{label} {name}"] = batch * iterations / (time.perf_counter() - started)
    return results


def score_every_scorer(cfg, work: Path, device: torch.device, names, clock: PhaseClock) -> dict:
    """The step-0 model scores step 0's pool with each scorer, as the loop does; seconds and images/s."""
    dataset = build_dataset(cfg)
    model = build_model(cfg.model, dataset).to(device)
    model.load_state_dict(load_torch_file(work / "checkpoints" / "step_0.pth", device)["state_dict"])
    pool_state = read_json(work / "state.json")["pool"]
    steps = np.asarray(pool_state["labelled_step"])
    steps[steps == 1] = -1  # back to step 0's pool: the ids step 0 selected are candidates again
    pool = ActivePool.from_state_dict({"splits": pool_state["splits"], "labelled_step": steps.tolist()})
    rows = {}
    for name in names:
        scorer = build(SCORERS, dict(type=name, **SCORER_SETTINGS.get(name, {})), "scorer")
        ctx = ScoringContext(model=model, dataset=dataset, pool=pool, device=device, step=0, seed=0,
                             batch_size=cfg.loop.score_batch_size, num_workers=cfg.loop.num_workers, progress=False)
        candidates = pool.candidate_ids()
        clock.sync()
        started = time.perf_counter()
        scorer.select(ctx, cfg.protocol.step_size)
        clock.sync()
        seconds = time.perf_counter() - started
        rows[name] = {"seconds": seconds, "images_per_s": len(candidates) / seconds}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--scorers", nargs="+", default=list(SCORER_SETTINGS))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--data-root", default="work_dirs/bench_loop/data")
    parser.add_argument("--out", help="result JSON (default: benchmarks/results/loop_<device>[_quick].json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    height = args.height or (32 if args.quick else 512 if cuda else 64)
    width = args.width or (64 if args.quick else 1024 if cuda else 128)
    sizes = (dict(num_train=176, num_val=16, initial=64, holdout=16, step=32, batch=8, workers=8, epochs=4) if cuda
             else dict(num_train=40, num_val=4, initial=16, holdout=8, step=8, batch=8, workers=2, epochs=3))
    if args.quick:
        sizes.update(num_train=12, num_val=2, initial=4, holdout=2, step=2, batch=2, epochs=1)
    data_root = Path(args.data_root) / f"{height}x{width}_{sizes['num_train']}"
    cfg = load_config(str(CONFIG), {
        "dataset.data_root": str(data_root), "dataset.height": height, "dataset.width": width,
        "dataset.num_train": sizes["num_train"], "dataset.num_val": sizes["num_val"], "dataset.train_pipeline": [],
        "protocol.initial_size": sizes["initial"], "protocol.holdout_size": sizes["holdout"],
        "protocol.step_size": sizes["step"], "protocol.num_steps": 1, "train.batch_size": sizes["batch"],
        "train.max_epochs": sizes["epochs"], "train.patience": sizes["epochs"] + 1, "train.eval_batch_size": sizes["batch"],
        "train.num_workers": sizes["workers"], "loop.num_workers": sizes["workers"], "loop.score_batch_size": sizes["batch"],
        "loop.progress": False, "scorer.lr": 1e-4, "device": args.device,
    })
    build_dataset(cfg)  # generates the data outside the timed run
    work = Path("work_dirs/bench_loop") / f"run_{args.device}_{height}x{width}_{int(time.time())}"
    clock = PhaseClock(device)
    with clock.installed():
        started = time.perf_counter()
        run_experiment(cfg, work)
        total = time.perf_counter() - started
    scoring = score_every_scorer(cfg, work, device, args.scorers, clock)
    plain = probe(device, (height, width), sizes["batch"], 2 if args.quick else 10)
    phases = {phase: {"seconds": s, "images_per_s": clock.images[phase] / s if clock.images[phase] else None}
              for phase, s in clock.seconds.items()}
    train_rate = phases["train stage (holdout evaluation included)"]["images_per_s"]
    best_plain_train = max(v for k, v in plain.items() if k.startswith("train"))
    best_plain_inference = max(v for k, v in plain.items() if k.startswith("inference"))
    ratios = {"loop training / best plain training step": train_rate / best_plain_train}
    for name, row in scoring.items():
        ratios[f"{name} scoring, x inference"] = best_plain_inference / row["images_per_s"]
    result = {"device": args.device, "size": [height, width], "torch": torch.__version__, "sizes": sizes,
              "total_seconds": total, "phases": phases, "data_wait_seconds": clock.data_wait,
              "dataloader_workers_started": clock.workers_started,
              "worker_sets_started": clock.workers_started // max(sizes["workers"], 1),
              "scoring": scoring, "plain_probe_images_per_s": plain, "ratios": ratios}
    print(f"loop, one step at {height}x{width} on {args.device}: {total:.1f}s, waiting for data {clock.data_wait:.1f}s, "
          f"{clock.workers_started} DataLoader workers started ({result['worker_sets_started']} sets)")
    for phase, row in phases.items():
        rate = f"{row['images_per_s']:.1f} img/s" if row["images_per_s"] else ""
        print(f"  {phase:<45} {row['seconds']:8.2f}s  {rate}")
    for name, row in scoring.items():
        print(f"  score {name:<39} {row['seconds']:8.2f}s  {row['images_per_s']:.1f} img/s")
    for name, rate in plain.items():
        print(f"  plain {name:<39} {'':>9}  {rate:.1f} img/s")
    for name, ratio in ratios.items():
        print(f"  {name:<45} {ratio:8.2f}")
    out = Path(args.out) if args.out else RESULTS / f"loop_{args.device}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
