"""Scoring speed, memory and exactness of every scorer, measured side by side in one run.

    python benchmarks/bench_scorers.py [--device cpu|cuda] [--quick]

Cases:
  classification: a 784-256-10 MLP, pool 20,000, holdout 500 (quick: 2,000 / 100);
  segmentation:   DeepLabV3+ ResNet18 at 256x512, pool 32, holdout 16 (quick: 64x128, 4 / 2);
                  on CUDA 1024x2048 with pool 64.
  joint:          Coreset and BADGE choosing 1,000 of 100,000 x 512 features (quick: 100 of 10,000).
  regions:        the segmentation model at 256x512 (quick: 64x128), pool 16, SLIC regions (about 500 per
                  image): each scorer's region pass against its image pass, timed alternately in the same run
                  (target: at most 1.2x), and exact Ours' cost per shortlisted region against its cost per image.

Per scorer: median seconds over repeats after a warm-up, of which the
per-step preparation (holdout features and gradients, masks), the ratio to one
plain inference pass over the same pool timed in the same run, the speed-up
over the plain reference (deepcopy, SGD steps, full model on the holdout;
timed on a subset of the pool and scaled per sample), agreement with the same
scorer in float64 (Spearman, top-K overlap) and, for approximate modes, with
the exact mode; and peak memory above the level before scoring (the kernel's
peak-RSS counter, reset before scoring, on CPU; the allocator peak on CUDA).
The holdout scorers of the segmentation case are scored once more with the same
pool and with a 4x pool, each after a warm-up batch, to show how peak memory
grows with the pool. Writes benchmarks/results/<device>.json, rewritten after every case (its
"finished" lists them), so a run stopped at a time limit keeps the cases it finished.
"""
import argparse
import copy
import ctypes
import gc
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from segal.data import ActivePool, Split
from segal.data.classification import InMemoryClassification
from segal.data.regions import RegionSpec
from segal.models import MLPClassifier, SegmentationModel
from segal.scorers import BALD, Entropy, HoldoutLossChange, HoldoutLossChangeApprox, MCDropout, Random, ScoringContext
from segal.scorers.diversity import greedy_k_center, kmeans_pp_outer
from segal.scorers.regions import score_regions
from segal.utils.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"
CASES = ("classification", "segmentation", "joint", "regions")


class PeakMemory:
    """Peak memory above the level at entry: CUDA allocator peak, or the peak RSS (VmHWM, reset at entry) on CPU."""

    def __init__(self, device: torch.device):
        self.device, self.peak = device, 0

    @staticmethod
    def _status(field: str) -> int:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith(field + ":"))
        return int(line.split()[1]) * 1024

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            gc.collect()
            ctypes.CDLL("libc.so.6").malloc_trim(0)  # hand freed heap back, so reuse cannot hide a peak
            with open("/proc/self/clear_refs", "w") as f:  # resets VmHWM to the current RSS
                f.write("5")
            self.base = self._status("VmRSS")
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() - self.base
        else:
            self.peak = self._status("VmHWM") - self.base


def timed(fn, device, repeats, warmup=None):
    """Median seconds of ``repeats`` calls after one warm-up call (``warmup`` or ``fn``), and the last result."""
    (warmup or fn)()
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


def inference_seconds(ctx, repeats, warmup_ids):
    def run(ids):
        with torch.no_grad():
            for batch in ctx.batches(ids):
                ctx.model(batch["inputs"]).argmax(1)
    return timed(lambda: run(ctx.pool.candidate_ids()), ctx.device, repeats, lambda: run(warmup_ids))[0]


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


class Case:
    """One scorer row: ``label``, the scorer, whether it has a plain reference, and the label of its exact mode."""

    def __init__(self, label, scorer, reference=False, exact_of=None):
        self.label, self.scorer, self.reference, self.exact_of = label, scorer, reference, exact_of


def bench_case(name, model, dataset, dataset64, n_pool, cases, device, repeats, batch_size, reference_subset, k,
               on_row=lambda rows: None):
    """Times each case's scorer against inference; ``on_row(rows)`` after every row, to save what is measured."""
    ctx = make_context(model, dataset, n_pool, device, batch_size)
    ctx64 = make_context(copy.deepcopy(model).double(), dataset64, n_pool, device, batch_size)
    candidates = ctx.pool.candidate_ids()
    warmup_ids = candidates[:batch_size]
    infer = inference_seconds(ctx, repeats, warmup_ids)
    rows = [{"case": name, "scorer": "inference", "seconds": infer, "ratio_to_inference": 1.0}]
    scores_of = {}
    for case in cases:
        scorer = case.scorer
        with PeakMemory(device) as memory:
            seconds, scores = timed(lambda: scorer.score_ids(ctx, candidates), device, repeats,
                                    lambda: scorer.score_ids(ctx, warmup_ids))
        prepare = timed(lambda: scorer.prepare(ctx), device, 1, warmup=lambda: None)[0]  # already warm
        exact = copy.deepcopy(scorer).score_ids(ctx64, candidates) if not isinstance(scorer, Random) else scores
        scores_of[case.label] = scores
        row = {"case": name, "scorer": case.label, "seconds": seconds, "prepare_seconds": prepare,
               "ratio_to_inference": seconds / infer, "spearman_vs_float64": spearman(scores, exact),
               "top_k_overlap": top_k_overlap(scores, exact, k), "peak_memory_mb": memory.peak / 2**20}
        if case.exact_of:
            row["spearman_vs_exact"] = spearman(scores, scores_of[case.exact_of])
            row["top_k_overlap_vs_exact"] = top_k_overlap(scores, scores_of[case.exact_of], k)
        if case.reference:
            per_sample = reference_seconds_per_sample(model, dataset, candidates[:reference_subset],
                                                      ctx.pool.holdout_ids, scorer.steps, scorer.lr, device)
            row["speedup_vs_reference"] = per_sample * len(candidates) / seconds
        rows.append(row)
        on_row(rows)
    return rows


def peak_memory_rows(name, model, dataset, n_pool, cases, device, batch_size):
    """Peak memory of one scoring pass per scorer, after a warm-up batch (no timing, no float64 run)."""
    ctx = make_context(model, dataset, n_pool, device, batch_size)
    candidates = ctx.pool.candidate_ids()
    rows = []
    for case in cases:
        case.scorer.score_ids(ctx, candidates[:batch_size])
        with PeakMemory(device) as memory:
            case.scorer.score_ids(ctx, candidates)
        rows.append({"case": name, "scorer": case.label, "peak_memory_mb": memory.peak / 2**20})
    return rows


def classification_case(device, quick, repeats, on_row):
    n_pool, n_hold = (400, 40) if quick else (20000, 500)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(n_pool + n_hold, 1, 28, 28, generator=gen)
    labels = torch.randint(0, 10, (n_pool + n_hold,), generator=gen).numpy()
    torch.manual_seed(0)
    model = MLPClassifier((1, 28, 28), 10, hidden=256, dropout=0.5).to(device).eval()
    cases = [Case("Random", Random()), Case("Entropy", Entropy()),
             Case("HoldoutLossChangeApprox", HoldoutLossChangeApprox()),
             Case("HoldoutLossChange (closed form)", HoldoutLossChange(lr=1e-3), reference=True),
             Case("MCDropout T=20", MCDropout(20)), Case("BALD T=20", BALD(20))]
    if quick:  # the general vmap path on the same head, for comparison (minutes at full size on a CPU)
        cases.insert(4, Case("HoldoutLossChange (vmap)", HoldoutLossChange(lr=1e-3, method="vmap", chunk_size=64),
                             reference=True, exact_of="HoldoutLossChange (closed form)"))
    return bench_case("classification", model, TensorDataset(inputs, labels), TensorDataset(inputs, labels, True),
                      n_pool, cases, device, repeats, 1000, 20 if quick else 200, 20 if quick else 100, on_row)


def segmentation_setup(device, quick, n_pool=None):
    """DeepLabV3+ ResNet18 on random images and labels; the pool first, then the holdout."""
    if device.type == "cuda":
        (h, w), n_pool, n_hold = (1024, 2048), n_pool or 64, 16
    else:
        (h, w), n_pool, n_hold = ((32, 64), n_pool or 2, 1) if quick else ((256, 512), n_pool or 32, 16)
    gen = torch.Generator().manual_seed(0)
    inputs = torch.randn(n_pool + n_hold, 3, h, w, generator=gen)
    targets = torch.randint(0, 19, (n_pool + n_hold, h, w), generator=gen)
    torch.manual_seed(0)
    model = SegmentationModel((3,), 19, dropout=0.1).to(device).eval()
    data, data64 = (SegTensorDataset(inputs, np.zeros(len(inputs), np.int64), double) for double in (False, True))
    data.targets = data64.targets = targets
    return f"segmentation {h}x{w} pool {n_pool}", model, data, data64, n_pool


def segmentation_scorers(quick):
    pixels = 0.25 if quick else 1 / 32
    return [Case("Entropy", Entropy()),
            Case("HoldoutLossChangeApprox", HoldoutLossChangeApprox(holdout_batch=4)),
            Case("HoldoutLossChange", HoldoutLossChange(lr=1e-4, chunk_size=1, holdout_batch=4), reference=True),
            Case(f"HoldoutLossChange holdout_pixels={pixels:g}",
                 HoldoutLossChange(lr=1e-4, chunk_size=1, holdout_batch=16, holdout_pixels=pixels), reference=True,
                 exact_of="HoldoutLossChange"),
            Case("MCDropout T=20", MCDropout(20)), Case("BALD T=20", BALD(20))]


def segmentation_case(device, quick, repeats, on_row):
    name, model, data, data64, n_pool = segmentation_setup(device, quick)
    return bench_case(name, model, data, data64, n_pool, segmentation_scorers(quick), device, repeats, 2, 1,
                      max(1, n_pool // 4), on_row)


def segmentation_memory_growth(device, quick):
    """Peak memory of the holdout scorers with the pool as in the timed case and 4x as large, measured alike."""
    growth = {}
    for n_pool in (2, 8) if quick else (32, 128):
        name, model, data, _, n_pool = segmentation_setup(device, quick, n_pool=n_pool)
        cases = [c for c in segmentation_scorers(quick) if c.label.startswith("HoldoutLossChange")]
        for row in peak_memory_rows(name, model, data, n_pool, cases, device, 2):
            growth.setdefault(row["scorer"], []).append(row["peak_memory_mb"])
    return growth


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


class SegRegionDataset(SegTensorDataset):
    """Random images with SLIC region maps of a smoothed copy, computed once and kept in memory."""

    def region_map(self, idx):
        if idx not in self.maps:
            smooth = torch.nn.functional.avg_pool2d(self.inputs[idx][None], 9, 1, 4)[0]
            rgb = ((smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255).byte().permute(1, 2, 0).numpy()
            self.maps[idx] = RegionSpec("SLIC", n_segments=500, compactness=10).compute(rgb)
        return self.maps[idx]


def region_case(device, quick):
    """Each scorer's region pass against its image pass, alternated (image, region, image, region), medians."""
    name, model, data, _, _ = segmentation_setup(device, quick, n_pool=4 if quick else 16)
    data.__class__, data.maps = SegRegionDataset, {}
    ctx = make_context(model, data, 4 if quick else 16, device, 2)
    candidates = ctx.pool.candidate_ids()
    for i in candidates:
        data.region_map(int(i))
    scorers = [("Random", Random()), ("Entropy", Entropy()), ("MCDropout T=20", MCDropout(20)),
               ("BALD T=20", BALD(20)), ("HoldoutLossChangeApprox", HoldoutLossChangeApprox(holdout_batch=4))]
    rows = []
    for label, scorer in scorers:
        scorer.score_ids(ctx, candidates[:2])  # warm-up
        image, region = [], []
        for _ in range(1 if quick else 2):
            image.append(timed(lambda: scorer.score_ids(ctx, candidates), device, 1, warmup=lambda: None)[0])
            region.append(timed(lambda: score_regions(scorer, ctx, candidates), device, 1, warmup=lambda: None)[0])
        rows.append({"case": f"regions, {name}", "scorer": label, "image_seconds": statistics.median(image),
                     "seconds": statistics.median(region),
                     "region_to_image": statistics.median(region) / statistics.median(image)})
    exact = HoldoutLossChange(lr=1e-4, chunk_size=1, holdout_batch=4, shortlist=4 if quick else 16)
    per_image = timed(lambda: exact.score_ids(ctx, candidates[:4]), device, 1)[0] / 4
    scores = score_regions(exact.region_pass(), ctx, candidates)
    available = np.ones(len(scores.scores), bool)
    rerank = timed(lambda: exact.rerank_regions(ctx, scores, available), device, 1)[0]
    rows.append({"case": f"regions, {name}", "scorer": f"HoldoutLossChange shortlist={exact.shortlist}",
                 "seconds": rerank, "seconds_per_shortlisted_region": rerank / exact.shortlist,
                 "image_seconds_per_image": per_image})
    return rows


def print_region_table(rows):
    print(f"{'case':<46} {'scorer':<32} {'image s':>8} {'region s':>9} {'region/image':>13}")
    for r in rows:
        if "region_to_image" in r:
            print(f"{r['case']:<46} {r['scorer']:<32} {r['image_seconds']:8.2f} {r['seconds']:9.2f} "
                  f"{r['region_to_image']:13.2f}")
        else:
            print(f"{r['case']:<46} {r['scorer']:<32} {r['image_seconds_per_image']:8.2f} "
                  f"{r['seconds_per_shortlisted_region']:9.2f}   (seconds per image / per shortlisted region)")


def print_table(rows):
    header = (f"{'case':<34} {'scorer':<40} {'s':>8} {'prep s':>7} {'x infer':>8} {'x ref':>7} {'spearman':>9} "
              f"{'top-K':>6} {'vs exact':>9} {'peak MB':>8}")
    print(header)
    print("-" * len(header))
    for r in rows:
        def cell(key, fmt):
            return format(r[key], fmt) if key in r else format("-", ">" + fmt.split(".")[0])
        print(f"{r['case']:<34} {r['scorer']:<40} {cell('seconds', '8.3f')} {cell('prepare_seconds', '7.2f')} "
              f"{cell('ratio_to_inference', '8.2f')} {cell('speedup_vs_reference', '7.1f')} "
              f"{cell('spearman_vs_float64', '9.5f')} {cell('top_k_overlap', '6.2f')} {cell('spearman_vs_exact', '9.4f')} "
              f"{cell('peak_memory_mb', '8.1f')}")


def save(out: Path, args, rows, extra, finished) -> None:
    """Writes what is measured so far (``finished``: the cases done), so a run stopped at a time limit keeps them."""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"device": args.device, "quick": args.quick, "torch": torch.__version__,
                                       "threads": torch.get_num_threads(), "cases": args.cases, "finished": finished,
                                       "rows": rows, **extra}, indent=2))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke test")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--out", help="result JSON, rewritten after every case (default: "
                                      "benchmarks/results/<device>[_quick].json)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats per scorer (median), after a warm-up")
    parser.add_argument("--seg-repeats", type=int,
                        help="timed repeats in the segmentation case (default: 1 on CPU, where one pass takes "
                             "minutes; --repeats on CUDA)")
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 1 if args.quick else args.repeats
    seg_repeats = args.seg_repeats or (repeats if device.type == "cuda" or args.quick else 1)
    out = Path(args.out) if args.out else RESULTS / f"{args.device}{'_quick' if args.quick else ''}.json"
    rows, extra, finished = [], {}, []

    def on_row(case_rows):
        save(out, args, rows + case_rows, extra, finished)

    cases = {"classification": lambda: classification_case(device, args.quick, repeats, on_row),
             "segmentation": lambda: segmentation_case(device, args.quick, seg_repeats, on_row),
             "joint": lambda: joint_case(device, args.quick),
             "regions": lambda: region_case(device, args.quick)}
    for name in [c for c in CASES if c in args.cases]:
        case_rows = cases[name]()
        (print_region_table if name == "regions" else print_table)(case_rows)
        rows += case_rows
        finished.append(name)
        save(out, args, rows, extra, finished)
        if name == "segmentation":  # after the timed rows are safe: it builds two more pools
            extra["seg_peak_memory_mb_pool_x1_x4"] = growth = segmentation_memory_growth(device, args.quick)
            for label, (base, grown) in growth.items():
                print(f"segmentation {label}: peak memory above the pre-scoring level, pool x1 -> x4: "
                      f"{base:.1f} MB -> {grown:.1f} MB")
            save(out, args, rows, extra, finished)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
