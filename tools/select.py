"""Choose the next images to annotate.

    python tools/select.py CONFIG CHECKPOINT --budget K [--state WORK_DIR/state.json | --pool DIR_OR_LIST]
        [--out selection.json] [--heatmaps DIR] [--cfg-options ...]
"""

import os
import sys

# Run as a script, this folder leads sys.path; drop it so tools/select.py cannot shadow the standard `select` module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import argparse
from pathlib import Path

from mmengine.config import DictAction

from segal.cli import exit_on_error, setup_logging
from segal.config import load_config, save_config
from segal.selection import select_for_annotation

EXPECTED_ERRORS = (ValueError, KeyError, FileNotFoundError, RuntimeError)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Score the unlabelled pool and write a ranked selection.")
    parser.add_argument("config")
    parser.add_argument("checkpoint", help="trained weights, e.g. WORK_DIR/checkpoints/step_0.pth")
    parser.add_argument("--budget", type=int, required=True, help="how many images to select")
    parser.add_argument("--state", help="a run's state.json: select from its pool and record the selection there")
    parser.add_argument("--pool", help="a folder or list file of unlabelled images (segmentation)")
    parser.add_argument("--out", help="selection JSON (a CSV is written beside it)")
    parser.add_argument("--heatmaps", help="folder for per-image PNGs of where the model is likely wrong")
    parser.add_argument("--work-dir", help="output folder: selection files go there, with the merged config.py "
                                               "(not written into a folder that holds a run's state.json)")
    parser.add_argument("--cfg-options", nargs="+", action=DictAction, default={}, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    setup_logging()
    out = args.out or (str(Path(args.work_dir) / "selection.json") if args.work_dir else None)
    try:
        cfg = load_config(args.config, args.cfg_options)
        entries = select_for_annotation(cfg, args.checkpoint, args.budget, state=args.state, pool_source=args.pool,
                                        out=out, heatmaps=args.heatmaps)
        if args.work_dir and not (Path(args.work_dir) / "state.json").exists():
            save_config(cfg, Path(args.work_dir) / "config.py")
    except EXPECTED_ERRORS as err:
        exit_on_error(err)
    for entry in entries[:10]:
        print(f"{entry['rank']:>4}  id {entry['id']:<8} score {entry['score']}  {entry['image']}")
    if len(entries) > 10:
        print(f"... {len(entries) - 10} more")


if __name__ == "__main__":
    main()
