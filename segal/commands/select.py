"""Choose the next images to annotate.

    python tools/select.py CONFIG CHECKPOINT --budget K [--unit images|regions|clicks|pixels]
        (--state WORK_DIR/state.json | --pool DIR_OR_LIST)
        [--work-dir DIR] [--heatmaps DIR] [--export labelstudio|cvat [--image-root PREFIX]]
        [--launcher {none,pytorch}] [--cfg-options KEY=VALUE ...] [--import MODULE] [--debug]

Installed as the ``segal-select`` command; ``python tools/select.py`` runs the same ``main``.
"""
from pathlib import Path

from ..cli import add_launcher, base_parser, beside_checkpoint, errors_as_lines, setup_logging
from .export import add_export_arguments

EXAMPLE = """examples:
  # an annotation run: record the next 100 images as its next step, pending annotation
  python tools/select.py CONFIG W/checkpoints/step_0.pth --budget 100 --state W/state.json --heatmaps W/heatmaps_step1
  -> W/selection_step1.json and .csv, W/predictions_step1/ (the model's label maps)
  # the same, handed to Label Studio with pre-annotations: W/labelstudio_step1/label_config.xml and tasks.json
  python tools/select.py CONFIG W/checkpoints/step_0.pth --budget 100 --state W/state.json --export labelstudio
  # an annotation run with dataset.regions: 40 superpixels, as masks and overlays in W/regions_step1/
  python tools/select.py CONFIG W/checkpoints/step_0.pth --budget 40 --unit regions --state W/state.json
  # images outside any run (segmentation configs)
  python tools/select.py CONFIG W/checkpoints/step_0.pth --budget 20 --pool incoming/
  -> W/selection_step_0/selection.json and .csv"""


def build_parser():
    parser = base_parser("Score the unlabelled pool with a trained checkpoint and write a ranked selection "
                         "(JSON and CSV: rank, id, image, score, predicted classes).", EXAMPLE)
    parser.add_argument("checkpoint", help="trained weights, e.g. WORK_DIR/checkpoints/step_0.pth")
    parser.add_argument("--budget", type=int, required=True, help="how many images (or --unit) to select")
    parser.add_argument("--unit", choices=["images", "regions", "clicks", "pixels"],
                        help="what --budget counts: images (default), or with dataset.regions in the config "
                             "regions (default), clicks (one per region) or pixels; regions are written as masks")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--state", help="an annotation run's state.json (loop.oracle='annotators'): select from "
                                        "its unlabelled pool and record the selection there as the next step")
    source.add_argument("--pool", help="segmentation: a folder (searched recursively) or a list file of "
                                       "unlabelled images outside any run")
    parser.add_argument("--work-dir", help="output folder for the selection files (default: with --state, the "
                                           "run folder; with --pool, selection_<checkpoint name> in the run folder "
                                           "that holds checkpoints/, else beside the checkpoint)")
    parser.add_argument("--heatmaps", metavar="DIR", help="segmentation: one PNG per selected image, named after "
                                                          "it, showing where the model is likely wrong")
    add_export_arguments(parser, required=False)
    add_launcher(parser)
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.config import load_config, save_config
    from segal.errors import InvalidValue
    from segal.plugins import check_run_plugins, load_plugins
    from segal.registry import DATASETS

    if args.work_dir:
        out_dir = Path(args.work_dir)
    elif args.state:
        out_dir = Path(args.state).parent
    else:
        out_dir = Path(beside_checkpoint(args.checkpoint, f"selection_{Path(args.checkpoint).stem}"))
    with errors_as_lines(args.debug):
        load_plugins(args.imports)
        if args.state:
            check_run_plugins(Path(args.state).parent)
        cfg = load_config(args.config, args.cfg_options)  # a typo is reported before the heavy imports below
        from segal.annotation import select_for_annotation
        from segal.annotation.export import export_selection
        from segal.utils.distributed import is_main, launched
        from segal.utils.run_paths import beside_selection

        if args.to and getattr(DATASETS.get(cfg.dataset.get("type")), "task", None) != "segmentation":
            raise InvalidValue(f"--export needs a segmentation config; {args.config} has dataset.type="
                               f"{cfg.dataset.get('type')!r}")
        with launched(args.launcher, cfg):
            entries, out = select_for_annotation(cfg, args.checkpoint, args.budget, str(out_dir), state=args.state,
                                                 pool_source=args.pool, heatmaps=args.heatmaps, unit=args.unit)
            if not is_main():
                return
        if not args.state:
            save_config(cfg, out_dir)
    for entry in entries[:10]:
        region = f"region {entry['region']:<5} " if "region" in entry else ""
        print(f"{entry['rank']:>4}  id {entry['id']:<8} {region}score {entry['score']}  {entry['image']}")
    if len(entries) > 10:
        print(f"... {len(entries) - 10} more")
    print(f"wrote {out} and {out.with_suffix('.csv')}" + (f"; heat maps in {args.heatmaps}" if args.heatmaps else ""))
    if args.to:
        with errors_as_lines(args.debug):
            written = export_selection(out, args.to, beside_selection(out, args.to),
                                       args.image_root)
        print(f"exported for {args.to}: " + ", ".join(str(path) for path in written))
