"""Scoring speed, memory and exactness of every scorer, measured side by side in one run.

    python benchmarks/bench_scorers.py [--device cpu|cuda] [--quick]

Cases:
  classification: a 784-256-10 MLP, pool 20,000, holdout 500 (quick: 2,000 / 100);
  segmentation:   DeepLabV3+ ResNet18 at 256x512, pool 32, holdout 16 (quick: 64x128, 4 / 2);
                  on CUDA 1024x2048 with pool 64.
  joint:          Coreset and BADGE choosing 1,000 of 100,000 x 512 features (quick: 100 of 10,000).

Per scorer: median seconds over repeats after a warm-up, the ratio to one
plain inference pass over the same pool timed in the same run, the speed-up
over the plain reference (deepcopy, SGD steps, full model on the holdout;
timed on a subset of the pool and scaled per sample), agreement with the same
scorer in float64 (Spearman, top-K overlap), and peak memory above the
baseline (process RSS on CPU, allocator peak on CUDA). Writes
benchmarks/results/<device>.json.
"""
import argparse
import copy
import json
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from segal.data import ActivePool, Split
from segal.data.classification import InMemoryClassification
from segal.models import MLPClassifier, SegmentationModel
from segal.scorers import (BALD, Entropy, HoldoutLossChange, HoldoutLossChangeApprox, MCDropout, Random,
                           ScoringContext)
from segal.scorers.diversity import greedy_k_center, kmeans_pp_outer

RESULTS = Path(__file__).resolve().parent / "results"
CASES = ("classification", "segmentation", "joint")


class PeakMemory:
    """Peak memory above the level at entry: CUDA allocator peak, or sampled process RSS on CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base, self.running = self._rss(), True
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self._rss() - self.base)
            time.sleep(0.002)

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.running = False
            self.thread.join()
            self.peak = max(self.peak, self._rss() - self.base)


def timed(fn, device, repeats):
    """Median seconds of ``repeats`` calls after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def top_k_overlap(a, b, k) -> float:
    return len(set(np.argsort(-a, kind="stable")[:k]) & set(np.argsort(-b, kind="stable")[:k])) / k


class TensorDataset(InMemoryClassification):
    """Random inputs in memory; ``double=True`` serves them in float64."""

    def __init__(self, inputs, labels, double=False):
        self.inputs, self.labels, self.double = inputs, labels, double
        self.is_test = np.zeros(len(labels), bool)
        self.classes = [str(c) for c in range(int(labels.max()) + 1)]

    def __len__(self):
        return len(self.labels)

    def __getitems__(self, ids):
        index = torch.as_tensor(ids)
        x = self.inputs[index]
        return {"inputs": x.double() if self.double else x, "target": torch.as_tensor(self.labels[index.numpy()]),
                "id": index}


class SegTensorDataset(TensorDataset):
    task, ignore_index = "segmentation", 255

    def __getitems__(self, ids):
        batch = super().__getitems__(ids)
        batch["target"] = torch.as_tensor(self.targets[batch["id"]])
        return batch


def make_context(model, dataset, n_pool, device, batch_size):
    splits = np.full(len(dataset), Split.POOL, np.int8)
    splits[n_pool:] = Split.HOLDOUT
    pool = ActivePool(splits)
    return ScoringContext(model=model, dataset=dataset, pool=pool, device=device, step=0, seed=0,
                          batch_size=batch_size, progress=False)


def inference_seconds(ctx, repeats):
    def run():
        with torch.no_grad():
            for batch in ctx.batches(ctx.pool.candidate_ids()):
                ctx.model(batch["inputs"]).argmax(1)
    return timed(run, ctx.device, repeats)[0]


def reference_seconds_per_sample(model, dataset, pool_ids, holdout_ids, steps, lr, device):
    """The plain eq. 3 reference: deepcopy, SGD on the head, full model on the holdout; seconds per pool sample."""
    hold = dataset.__getitems__(list(holdout_ids))
    x_hold, y_hold = hold["inputs"].to(device), hold["target"].to(device)
    start = time.perf_counter()
    for i in pool_ids:
        x = dataset.__getitems__([int(i)])["inputs"].to(device)
        probe = copy.deepcopy(model)
        with torch.no_grad():
            pseudo = probe(x).argmax(1)
        optimizer = torch.optim.SGD(probe.head.parameters(), lr=lr)
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(probe(x), pseudo).backward()
            optimizer.step()
        with torch.no_grad():
            F.cross_entropy(probe(x_hold), y_hold, reduction="none", ignore_index=255)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(pool_ids)


def bench_case(name, model, dataset, dataset64, n_pool, scorers, device, repeats, batch_size, reference_subset, k):
    ctx = make_context(model, dataset, n_pool, device, batch_size)
    ctx64 = make_context(copy.deepcopy(model).double(), dataset64, n_pool, device, batch_size)
    infer = inference_seconds(ctx, repeats)
    rows = [{"case": name, "scorer": "inference", "seconds": infer, "ratio_to_inference": 1.0}]
    candidates = ctx.pool.candidate_ids()
    for label, scorer, reference in scorers:
        with PeakMemory(device) as memory:
            seconds, scores = timed(lambda: scorer.score_ids(ctx, candidates), device, repeats)
        exact = copy.deepcopy(scorer).score_ids(ctx64, candidates) if not isinstance(scorer, Random) else scores
        row = {"case": name, "scorer": label, "seconds": seconds, "ratio_to_inference": seconds / infer,
               "spearman_vs_float64": spearman(scores, exact), "top_k_overlap": top_k_overlap(scores, exact, k),
               "peak_memory_mb": memory.peak / 2**20}
        if reference:
            per_sample = reference_seconds_per_sample(model, dataset, candidates[:reference_subset],
                                                      ctx.pool.holdout_ids, scorer.steps, scorer.lr, device)
            row["speedup_vs_reference"] = per_sample * len(candidates) / seconds
        rows.append(row)
    return rows


def classification_case(device, quick, repeats):
    n_pool, n_hold = (400, 40) if quick else (20000, 500)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(n_pool + n_hold, 1, 28, 28, generator=gen)
    labels = torch.randint(0, 10, (n_pool + n_hold,), generator=gen).numpy()
    torch.manual_seed(0)
    model = MLPClassifier((1, 28, 28), 10, hidden=256, dropout=0.5).to(device).eval()
    scorers = [("Random", Random(), False), ("Entropy", Entropy(), False),
               ("HoldoutLossChangeApprox", HoldoutLossChangeApprox(), False),
               ("HoldoutLossChange (closed form)", HoldoutLossChange(lr=1e-3), True),
               ("MCDropout T=20", MCDropout(20), False), ("BALD T=20", BALD(20), False)]
    if quick:  # the general vmap path on the same head, for comparison (minutes at full size on a CPU)
        scorers.insert(4, ("HoldoutLossChange (vmap)", HoldoutLossChange(lr=1e-3, method="vmap", chunk_size=64), True))
    return bench_case("classification", model, TensorDataset(inputs, labels), TensorDataset(inputs, labels, True),
                      n_pool, scorers, device, repeats, 1000, 20 if quick else 200, 20 if quick else 100)


def segmentation_case(device, quick, repeats, n_pool=None):
    if device.type == "cuda":
        (h, w), n_pool, n_hold = (1024, 2048), n_pool or 64, 16
    else:
        (h, w), n_pool, n_hold = ((32, 64), n_pool or 2, 1) if quick else ((256, 512), n_pool or 32, 16)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(n_pool + n_hold, 3, h, w, generator=gen)
    targets = torch.randint(0, 19, (n_pool + n_hold, h, w), generator=gen)
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, dropout=0.1).to(device).eval()
    data, data64 = SegTensorDataset(inputs, np.zeros(len(inputs), np.int64)), SegTensorDataset(inputs, np.zeros(len(inputs), np.int64), True)
    data.targets = data64.targets = targets
    scorers = [("Entropy", Entropy(), False), ("HoldoutLossChangeApprox", HoldoutLossChangeApprox(holdout_batch=4), False),
               ("HoldoutLossChange", HoldoutLossChange(lr=1e-4, chunk_size=1, holdout_batch=4), True),
               ("MCDropout T=20", MCDropout(20), False)]
    return bench_case(f"segmentation {h}x{w} pool {n_pool}", model, data, data64, n_pool, scorers, device, repeats,
                      2, 1, max(1, n_pool // 4))


def joint_case(device, quick):
    n, d, k = (2000, 64, 20) if quick else (100000, 512, 1000)
    gen = torch.Generator().manual_seed(0)
    features = torch.randn(n, d, generator=gen).to(device)
    labelled = torch.randn(200, d, generator=gen).to(device)
    rows = []
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        greedy_k_center(features, labelled, k)
        seconds = time.perf_counter() - start
    rows.append({"case": f"joint {n}x{d}, k={k}", "scorer": "Coreset (greedy k-center)", "seconds": seconds,
                 "peak_memory_mb": memory.peak / 2**20, "features_mb": features.numel() * 4 / 2**20})
    a = torch.randn(n, 10, generator=gen).to(device)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        kmeans_pp_outer(a, features, k, torch.Generator().manual_seed(0))
        seconds = time.perf_counter() - start
    rows.append({"case": f"joint {n}x{d}, k={k}", "scorer": "BADGE (k-means++ on factored embeddings)",
                 "seconds": seconds, "peak_memory_mb": memory.peak / 2**20, "features_mb": features.numel() * 4 / 2**20})
    return rows


def print_table(rows):
    header = f"{'case':<34} {'scorer':<42} {'s':>8} {'x infer':>8} {'x ref':>8} {'spearman':>9} {'top-K':>6} {'peak MB':>8}"
    print(header)
    print("-" * len(header))
    for r in rows:
        def cell(key, fmt):
            return format(r[key], fmt) if key in r else "-"
        print(f"{r['case']:<34} {r['scorer']:<42} {cell('seconds', '8.3f')} {cell('ratio_to_inference', '8.2f')} "
              f"{cell('speedup_vs_reference', '8.1f')} {cell('spearman_vs_float64', '9.5f')} {cell('top_k_overlap', '6.2f')} "
              f"{cell('peak_memory_mb', '8.1f')}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", help="result JSON (default: benchmarks/results/<device>[_quick].json)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":  # the holdout-loss differences are tiny: keep fp32 matmuls exact
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    repeats = 1 if args.quick else 3
    rows, extra = [], {}
    if "classification" in args.cases:
        rows += classification_case(device, args.quick, repeats)
    if "segmentation" in args.cases:
        seg = segmentation_case(device, args.quick, repeats)
        seg_4x = segmentation_case(device, args.quick, 1, n_pool=4 * (2 if args.quick else 32))
        rows += seg + [r for r in seg_4x if r["scorer"] == "HoldoutLossChange"]
        base = next(r for r in seg if r["scorer"] == "HoldoutLossChange")["peak_memory_mb"]
        grown = next(r for r in seg_4x if r["scorer"] == "HoldoutLossChange")["peak_memory_mb"]
        extra["seg_memory_mb_pool_x1_x4"] = [base, grown]
    if "joint" in args.cases:
        rows += joint_case(device, args.quick)
    print_table(rows)
    if extra:
        base, grown = extra["seg_memory_mb_pool_x1_x4"]
        print(f"\nsegmentation HoldoutLossChange peak memory above baseline, pool x1 -> x4: {base:.1f} MB -> {grown:.1f} MB")
    out = Path(args.out) if args.out else RESULTS / f"{args.device}{'_quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": args.device, "quick": args.quick, "torch": torch.__version__,
                               "threads": torch.get_num_threads(), "rows": rows, **extra}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
