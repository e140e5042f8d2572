"""The real loop, phase by phase, next to a plain-PyTorch probe of the same model and size, in one run.

    python benchmarks/bench_loop.py [--device cpu|cuda] [--height H --width W] [--scorers LABEL ...] [--quick]
                                    [--profile train LABEL ...] [--profile-dir DIR] [--select BUDGET]

Generates the synthetic city at the given size (default 512x1024 on CUDA, 64x128 on CPU), runs one step
of tools/train.py's loop (DeepLabV3+ ResNet18: step 0 trains on the initial set, is evaluated and
selects with HoldoutLossChange; step 1 trains again) and reports per phase: seconds, images/s, time
spent waiting for batches, and the DataLoader worker sets started, by stage and sample count (a set
started twice for the same samples in one stage is counted as repeated). The step-0 model then scores
the same pool with every scorer of --scorers, in the context the loop builds (the training precision
for precision='fast', channels-last on CUDA). The probe times a plain smp training step and inference
on random tensors of the same size on the same device: fp32, and bf16 autocast with channels-last on
CUDA. Ratios compare the two. Writes benchmarks/results/loop_<device>.json.

--profile runs, after everything above is timed, one training epoch ('train') and one scoring pass per
named scorer under torch.profiler, and writes each one's top operators to --profile-dir (default: the
folder of --out); benchmarks/gpu_targets.py says which ratios miss their targets. --select ends with
tools/select.py --pool --export labelstudio on the run's last checkpoint, run as a user runs it.
"""
import argparse
import copy
import json
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F
from torch.utils.data import dataloader

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.pool import ActivePool
from segal.engine import loop as loop_module
from segal.engine import train as train_module
from segal.registry import SCORERS, build
from segal.scorers.base import Scorer, ScoringContext
from segal.settings import LoopSettings, TrainSettings, from_section
from segal.spec import build_dataset, build_model
from segal.utils.io import atomic_write_text, load_torch_file, read_json

from profiling import profile_call

REPO = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change.py"
SCORER_CONFIGS = {
    "Random": dict(type="Random"),
    "Entropy": dict(type="Entropy"),
    "HoldoutLossChangeApprox": dict(type="HoldoutLossChangeApprox"),
    "HoldoutLossChange": dict(type="HoldoutLossChange", lr=1e-4),
    "HoldoutLossChange holdout_pixels=1/32": dict(type="HoldoutLossChange", lr=1e-4, holdout_pixels=1 / 32),
    "MCDropout T=20": dict(type="MCDropout", num_passes=20),
    "BALD T=20": dict(type="BALD", num_passes=20),
}


class PhaseClock:
    """Wall time per phase (CUDA synchronised), time blocked on DataLoader batches, and the worker sets started.

    Each call of a wrapped phase is one instance (``'train stage #2'``); a worker set belongs to the outermost
    instance open when its iterator starts, and is keyed by the sample ids its loader reads.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.seconds = defaultdict(float)
        self.images = defaultdict(int)
        self.data_wait = 0.0
        self.calls = Counter()
        self.open = []  # phase instances running now, outermost first
        self.worker_sets = []

    def sync(self) -> None:
        sync(self.device)

    def timed(self, phase: str, function, count_images=None):
        def wrapper(*args, **kwargs):
            self.calls[phase] += 1
            self.open.append(f"{phase} #{self.calls[phase]}")
            self.sync()
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
                self.sync()
            finally:
                self.open.pop()
            self.seconds[phase] += time.perf_counter() - started
            if count_images is not None:
                self.images[phase] += count_images(args, kwargs, result)
            return result
        return wrapper

    def worker_set_started(self, loader) -> None:
        ids = getattr(loader.dataset, "ids", None)
        self.worker_sets.append({"stage": self.open[0] if self.open else "outside the timed phases",
                                 "samples": len(loader.dataset), "workers": loader.num_workers,
                                 "ids": hash(tuple(ids)) if ids is not None else id(loader)})

    def worker_report(self) -> dict:
        """Worker sets by stage, and how many restarted a set already started for the same samples in that stage."""
        seen, repeated, by_stage = set(), 0, defaultdict(list)
        for started in self.worker_sets:
            key = (started["stage"], started["ids"])
            repeated += key in seen
            seen.add(key)
            by_stage[started["stage"]].append(started["samples"])
        return {"dataloader_workers_started": sum(s["workers"] for s in self.worker_sets),
                "worker_sets_started": len(self.worker_sets), "repeated_worker_sets": repeated,
                "worker_sets_by_stage": {stage: {"sets": len(samples), "samples": samples}
                                         for stage, samples in by_stage.items()}}

    @contextmanager
    def installed(self):
        """Wraps the loop's phases and the DataLoader machinery for the duration of the block."""
        saved = [(loop_module, "train_stage", loop_module.train_stage), (train_module, "evaluate", train_module.evaluate),
                 (loop_module.ActiveLoop, "_test_metrics", loop_module.ActiveLoop._test_metrics),
                 (loop_module.ActiveLoop, "_selection_mistakes", loop_module.ActiveLoop._selection_mistakes),
                 (Scorer, "score_ids", Scorer.score_ids),
                 (dataloader._BaseDataLoaderIter, "__next__", dataloader._BaseDataLoaderIter.__next__),
                 (dataloader._MultiProcessingDataLoaderIter, "__init__", dataloader._MultiProcessingDataLoaderIter.__init__)]
        clock = self
        loop_module.train_stage = self.timed("train stage (holdout evaluation included)", loop_module.train_stage,
                                             lambda a, k, r: len(a[2]) * r.epochs)
        train_module.evaluate = self.timed("holdout evaluation", train_module.evaluate)
        loop_module.ActiveLoop._test_metrics = self.timed("test evaluation", loop_module.ActiveLoop._test_metrics,
                                                          lambda a, k, r: len(a[1]))
        loop_module.ActiveLoop._selection_mistakes = self.timed(
            "selection evaluation (the model's mistakes on what it chose)", loop_module.ActiveLoop._selection_mistakes,
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
            clock.worker_set_started(loader)
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


def step0_model_and_pool(cfg, dataset, work: Path, device: torch.device):
    """The step-0 model as the loop scored with it, and step 0's pool (the ids step 0 selected are candidates again)."""
    model = build_model(cfg.model, dataset).to(device)
    model.load_state_dict(load_torch_file(work / "checkpoints" / "step_0.pth", device)["state_dict"])
    if device.type == "cuda":  # as training left it (train.channels_last auto)
        model = model.to(memory_format=torch.channels_last)
    pool_state = read_json(work / "state.json")["pool"]
    steps = np.asarray(pool_state["labelled_step"])
    steps[steps == 1] = -1
    pool = ActivePool.from_state_dict({"splits": pool_state["splits"], "labelled_step": steps.tolist()})
    return model, pool


def scoring_context(cfg, model, dataset, pool, device) -> ScoringContext:
    """The context the loop builds at step 0 (batch size, workers, the training precision), without progress."""
    loop = from_section(LoopSettings, cfg.loop, "loop", progress=False)
    return ScoringContext.for_step(model, dataset, pool, device, 0, cfg.seed, loop,
                                   from_section(TrainSettings, cfg.train, "train"))


def score_every_scorer(cfg, dataset, model, pool, device: torch.device, labels) -> dict:
    """The step-0 model scores step 0's pool with each scorer, as the loop does; seconds and images/s."""
    rows = {}
    for label in labels:
        scorer = build(SCORERS, dict(SCORER_CONFIGS[label]), "scorer")
        ctx = scoring_context(cfg, model, dataset, pool, device)
        candidates = pool.candidate_ids()
        sync(device)
        started = time.perf_counter()
        scorer.select(ctx, cfg.protocol.step_size)
        sync(device)
        seconds = time.perf_counter() - started
        rows[label] = {"seconds": seconds, "images_per_s": len(candidates) / seconds}
    return rows


def profile_phases(cfg, dataset, model, pool, device: torch.device, names, folder: Path) -> dict:
    """One training epoch on step 0's labelled set ('train', on a copy of the model) and one scoring pass per named
    scorer, under the profiler."""
    profiles = {}
    for name in names:
        if name == "train":
            settings = from_section(TrainSettings, cfg.train, "train", max_epochs=1, min_epochs=0)
            labelled = pool.training_ids()
            run = partial(train_module.train_stage, copy.deepcopy(model), dataset, labelled, pool.holdout_ids,
                          settings, device, seed=0, progress=False)
            title = f"one training epoch, {len(labelled)} images, batch {settings.batch_size}"
        else:
            scorer = build(SCORERS, dict(SCORER_CONFIGS[name]), "scorer")
            ctx = scoring_context(cfg, model, dataset, pool, device)
            run = partial(scorer.select, ctx, cfg.protocol.step_size)
            title = f"scoring {len(pool.candidate_ids())} pool images with {name}"
        slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
        profiles[name] = profile_call(run, device, folder / f"profile_{device.type}_{slug}.txt", title)
        print(f"  profiled {name}: {profiles[name]['table']}")
    return profiles


def select_check(dataset, work: Path, budget: int, scorer: str, folder: Path) -> dict:
    """Runs tools/select.py as a user would on the run's last checkpoint: the pool left after the run, given as a
    list file, scored by ``scorer`` (one that needs no holdout: --pool has none), --export labelstudio; ``budget``
    images, or the whole pool if smaller.
    Wall seconds (start-up included), exit status and predictions written."""
    pool = ActivePool.from_state_dict(read_json(work / "state.json")["pool"])
    candidates = pool.candidate_ids()
    folder.mkdir(parents=True, exist_ok=True)
    pool_list = folder / "pool.txt"
    pool_list.write_text("".join(f"{dataset.image_path(int(i)).resolve()}\n" for i in candidates))
    checkpoint = max((work / "checkpoints").glob("step_*.pth"), key=lambda path: int(path.stem.split("_")[1]))
    selected = min(budget, len(candidates))
    command = [sys.executable, str(REPO / "tools/select.py"), str(work / "config.json"), str(checkpoint),
               "--pool", str(pool_list), "--budget", str(selected), "--export", "labelstudio",
               "--work-dir", str(folder / "selection"), "--cfg-options", f"scorer.type={scorer}"]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    (folder / "select.log").write_text(finished.stdout + finished.stderr)
    predictions = list((folder / "selection").glob("predictions*/*.png"))
    result = {"command": " ".join(command), "returncode": finished.returncode, "seconds": seconds,
              "pool_images": len(candidates), "images_per_s": len(candidates) / seconds, "selected": selected,
              "predictions_written": len(predictions), "log": str(folder / "select.log")}
    print(f"  tools/select.py --pool ({len(candidates)} images, {scorer}) --export labelstudio: exit {finished.returncode}, "
          f"{seconds:.1f}s, {len(predictions)} predictions written")
    return result


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_config(args, device: torch.device):
    """The recipe config at the benchmark's size, and the sizes used."""
    cuda = device.type == "cuda"
    height = args.height or (32 if args.quick else 512 if cuda else 64)
    width = args.width or (64 if args.quick else 1024 if cuda else 128)
    sizes = (dict(num_train=176, num_val=16, initial=64, holdout=16, step=32, batch=8, workers=8, epochs=4) if cuda
             else dict(num_train=40, num_val=4, initial=16, holdout=8, step=8, batch=8, workers=2, epochs=3))
    if args.quick:
        sizes.update(num_train=12, num_val=2, initial=4, holdout=2, step=2, batch=2, epochs=1)
    data_root = Path(args.data_root) / f"{height}x{width}_{sizes['num_train']}"
    cfg = load_config(str(CONFIG), {
        "dataset.data_root": str(data_root), "dataset.generate": True, "dataset.height": height, "dataset.width": width,
        "dataset.num_train": sizes["num_train"], "dataset.num_val": sizes["num_val"], "dataset.train_pipeline": [],
        "dataset.workers": sizes["workers"],  # processes generating the images, once, before the timed run
        "protocol.initial_size": sizes["initial"], "protocol.holdout_size": sizes["holdout"],
        "protocol.step_size": sizes["step"], "protocol.num_steps": 1, "train.batch_size": sizes["batch"],
        "train.max_epochs": sizes["epochs"], "train.patience": sizes["epochs"] + 1, "train.eval_batch_size": sizes["batch"],
        "train.num_workers": sizes["workers"], "loop.num_workers": sizes["workers"], "loop.score_batch_size": sizes["batch"],
        "loop.progress": False, "scorer.lr": 1e-4, "device": args.device,
    })
    return cfg, (height, width), sizes


def print_report(result: dict) -> None:
    height, width = result["size"]
    workers = result["workers"]
    print(f"loop, one step at {height}x{width} on {result['device']}: {result['total_seconds']:.1f}s, waiting for data "
          f"{result['data_wait_seconds']:.1f}s, {workers['worker_sets_started']} DataLoader worker sets started "
          f"({workers['repeated_worker_sets']} repeated within a stage)")
    for stage, row in workers["worker_sets_by_stage"].items():
        print(f"  worker sets in {stage:<45} {row['sets']} (samples {row['samples']})")
    for phase, row in result["phases"].items():
        rate = f"{row['images_per_s']:.1f} img/s" if row["images_per_s"] else ""
        print(f"  {phase:<45} {row['seconds']:8.2f}s  {rate}")
    for name, row in result["scoring"].items():
        print(f"  score {name:<39} {row['seconds']:8.2f}s  {row['images_per_s']:.1f} img/s")
    for name, rate in result["plain_probe_images_per_s"].items():
        print(f"  plain {name:<39} {'':>9}  {rate:.1f} img/s")
    for name, ratio in result["ratios"].items():
        print(f"  {name:<55} {ratio:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--height", type=int)
    parser.add_argument("--width", type=int)
    parser.add_argument("--scorers", nargs="+", default=list(SCORER_CONFIGS), choices=list(SCORER_CONFIGS),
                        metavar="LABEL", help=f"scorers to time after the loop, of: {', '.join(SCORER_CONFIGS)}")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test")
    parser.add_argument("--data-root", default="work_dirs/bench_loop/data")
    parser.add_argument("--out", help="result JSON (default: benchmarks/results/loop_<device>[_quick].json)")
    parser.add_argument("--profile", nargs="+", default=[], choices=["train", *SCORER_CONFIGS], metavar="NAME",
                        help="after timing, profile one training epoch ('train') and these scorers' passes")
    parser.add_argument("--profile-dir", help="where the profile tables go (default: the folder of --out)")
    parser.add_argument("--select", type=int, metavar="BUDGET",
                        help="last, run tools/select.py --pool --export labelstudio on the run's last checkpoint, "
                             "selecting BUDGET images; its files go to --select-dir")
    parser.add_argument("--select-scorer", default="Entropy", help="the scorer of the --select check (default: Entropy)")
    parser.add_argument("--select-dir", help="where select.py writes (default: select_<device> beside --out)")
    args = parser.parse_args()
    device = torch.device(args.device)
    cfg, (height, width), sizes = bench_config(args, device)
    out = Path(args.out) if args.out else RESULTS / f"loop_{args.device}{'_quick' if args.quick else ''}.json"
    dataset = build_dataset(cfg)  # generates the data outside the timed run
    work = Path("work_dirs/bench_loop") / f"run_{args.device}_{height}x{width}_{int(time.time())}"
    clock = PhaseClock(device)
    with clock.installed():
        started = time.perf_counter()
        run_experiment(cfg, work)
        total = time.perf_counter() - started
    model, pool = step0_model_and_pool(cfg, dataset, work, device)
    scoring = score_every_scorer(cfg, dataset, model, pool, device, args.scorers)
    plain = probe(device, (height, width), sizes["batch"], 2 if args.quick else 10)
    phases = {phase: {"seconds": s, "images_per_s": clock.images[phase] / s if clock.images[phase] else None}
              for phase, s in clock.seconds.items()}
    train_rate = phases["train stage (holdout evaluation included)"]["images_per_s"]
    plain_train = max((k for k in plain if k.startswith("train")), key=plain.get)
    plain_inference = max((k for k in plain if k.startswith("inference")), key=plain.get)
    ratios = {f"loop training / plain {plain_train}": train_rate / plain[plain_train]}
    for name, row in scoring.items():
        ratios[f"{name} scoring, x plain {plain_inference}"] = plain[plain_inference] / row["images_per_s"]
    result = {"device": args.device, "size": [height, width], "torch": torch.__version__, "sizes": sizes,
              "total_seconds": total, "phases": phases, "data_wait_seconds": clock.data_wait,
              "workers": clock.worker_report(), "scoring": scoring, "plain_probe_images_per_s": plain,
              "ratios": ratios}
    print_report(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps(result, indent=2))  # before profiling, which a time limit may cut short
    if args.profile:
        result["profiles"] = profile_phases(cfg, dataset, model, pool, device, args.profile,
                                            Path(args.profile_dir) if args.profile_dir else out.parent)
        atomic_write_text(out, json.dumps(result, indent=2))
    if args.select:
        folder = Path(args.select_dir) if args.select_dir else out.parent / f"select_{args.device}"
        result["select"] = select_check(dataset, work, args.select, args.select_scorer, folder)
        atomic_write_text(out, json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
