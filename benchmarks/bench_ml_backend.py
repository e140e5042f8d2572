"""The ML backend's /predict against tools/select.py scoring the same images, side by side in one run.

    python benchmarks/bench_ml_backend.py [--tasks 100] [--height 1024] [--width 2048]
                                          [--scorer HoldoutLossChangeApprox] [--quick]
                                          [--work-root work_dirs/bench_ml_backend]
                                          [--out benchmarks/results/ml_backend_cpu.json]

On a synthetic city of --tasks pool images at --height x --width (generated once under --work-root), an
annotation run trains step 0 (one epoch on random crops). Then, each in a fresh process on the CPU:

* ``select``: tools/select.py's selection of all --tasks pool images with --scorer (score, rank, write the
  selection and each image's predicted label map);
* ``backend``: RunPredictor.predict on the same images as Label Studio tasks (scores and predictions from one
  forward pass a batch, brush layers encoded); then the batch again (scores and predictions cached); then one
  task whose score is cached but not its prediction (its prediction fell out of the cache).

Reports seconds, the backend's cold batch over select.py's, the single task's latency, and each process's peak
resident memory. Targets (issue 35): the backend adds at most 10% over select.py; one task with a cached score in
at most 2 s at 1024x2048.
"""
import argparse
import json
import multiprocessing
import queue
import resource
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change_annotation.py")
LABELLED = 6  # step 0's images: 4 to train on, 2 for the holdout


def options(args) -> dict:
    root = Path(args.work_root) / f"city_{args.height}x{args.width}_{args.tasks}"
    return {"dataset.data_root": str(root), "dataset.num_train": args.tasks + LABELLED, "dataset.num_val": 2,
            "dataset.height": args.height, "dataset.width": args.width, "protocol.holdout_size": 2,
            "train.max_epochs": 1, "train.batch_size": 4, "loop.score_batch_size": 2, "loop.progress": False,
            "device": "cpu"}  # 2 images a batch at full size, as the Cityscapes annotation config scores


def load(args):
    from segal.config import load_config

    cfg = load_config(CONFIG, options(args))
    cfg.scorer = dict(type=args.scorer)
    return cfg


def prepare(args) -> Path:
    """The dataset (generated once) and a fresh annotation run trained to step 0; returns the run folder."""
    import shutil

    from segal.apis import run_experiment
    from segal.data.label_delivery import hold_back_labels
    from segal.data.synthetic_city import generate

    root = Path(options(args)["dataset.data_root"])
    if not (root / "synthetic_city.json").is_file():
        generate(root, num_train=args.tasks + LABELLED, num_val=2, height=args.height, width=args.width,
                 progress=False)
        hold_back_labels(root, keep=LABELLED)
    work = Path(args.work_root) / f"run_{args.height}x{args.width}_{args.tasks}"
    shutil.rmtree(work, ignore_errors=True)
    run_experiment(load(args), str(work))
    return work


def select_phase(args, work: Path, out) -> None:
    from segal.annotation.select import select_for_annotation

    started = time.perf_counter()
    entries, path = select_for_annotation(load(args), str(work / "checkpoints/step_0.pth"), args.tasks, str(work),
                                          str(work / "state.json"))
    out.put({"seconds": time.perf_counter() - started, "selected": len(entries), "peak_rss_mb": peak_rss_mb()})


def backend_phase(args, work: Path, out) -> None:
    from segal.annotation.ml_backend import RunPredictor
    from segal.spec import ExperimentSpec

    selection = json.loads((work / "selection_step1.json").read_text())["selection"]
    tasks = [{"id": n, "data": {"segal_image": entry["relative"]}} for n, entry in enumerate(selection)]
    started = time.perf_counter()
    predictor = RunPredictor(ExperimentSpec(load(args)), work, score_scale=1.0)  # raw scores, to compare
    loaded = time.perf_counter()
    results = predictor.predict(tasks)
    cold = time.perf_counter()
    predictor.predict(tasks)
    warm = time.perf_counter()
    predictor.layers.clear()  # the score stays cached, the prediction must be made again
    predictor.predict(tasks[:1])
    single = time.perf_counter()
    scores = {entry["relative"]: entry["score"] for entry in selection}
    agree = all(abs(r["score"] - scores[t["data"]["segal_image"]]) <= 1e-6 * max(1.0, abs(r["score"]))
                for t, r in zip(tasks, results))
    out.put({"seconds": cold - started, "load_seconds": loaded - started, "predict_seconds": cold - loaded,
             "batch_again_seconds": warm - cold, "single_task_seconds": single - warm,
             "scores_equal_select": agree, "peak_rss_mb": peak_rss_mb()})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_fresh_process(target, *args) -> dict:
    """Runs ``target(*args, queue)`` in a new process; returns what it put, or stops if it died without."""
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    process = context.Process(target=target, args=(*args, out))
    process.start()
    while True:
        try:
            result = out.get(timeout=5)
            break
        except queue.Empty:
            if not process.is_alive():
                raise SystemExit(f"{target.__name__} failed (exit {process.exitcode}); its error is above") from None
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--scorer", default="HoldoutLossChangeApprox")
    parser.add_argument("--quick", action="store_true", help="8 tasks at 128x256: a smoke test")
    parser.add_argument("--work-root", default=str(REPO / "work_dirs/bench_ml_backend"))
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/ml_backend_cpu.json"))
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.height, args.width = 8, 128, 256
    work = in_fresh_process(_prepare_into, args)["work"]
    select = in_fresh_process(select_phase, args, Path(work))
    backend = in_fresh_process(backend_phase, args, Path(work))
    result = {"args": vars(args), "select": select, "backend": backend,
              "backend_over_select": backend["seconds"] / select["seconds"]}
    print(f"{args.tasks} tasks at {args.width}x{args.height}, {args.scorer}, CPU:")
    print(f"  select.py        {select['seconds']:8.1f} s   peak {select['peak_rss_mb']:7.0f} MB")
    print(f"  backend /predict {backend['seconds']:8.1f} s   peak {backend['peak_rss_mb']:7.0f} MB   "
          f"x{result['backend_over_select']:.2f} select.py's (target <= 1.10)")
    print(f"  one task with a cached score {backend['single_task_seconds']:.2f} s (target <= 2 s); the batch again "
          f"{backend['batch_again_seconds']:.2f} s; scores equal select.py's: {backend['scores_equal_select']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


def _prepare_into(args, out) -> None:
    out.put({"work": str(prepare(args))})


if __name__ == "__main__":
    main()
