"""Write the finished labels of a Label Studio or CVAT export into the dataset, for the next training step.

    python tools/import_labels.py EXPORT --from labelstudio|cvat [--state WORK_DIR/state.json]
        [--config CONFIG [--cfg-options ...]] [--data-root ROOT] [--split train] [--overwrite]
        [--overlap later|refuse] [--take latest|ground_truth] [--min-agreement IOU] [--debug]

The dataset the labels go into comes from --config, else the run's config.json beside --state, else Cityscapes'
layout at --data-root; labels are written in that dataset's encoding and folders.

Installed as the ``segal-import-labels`` command; ``python tools/import_labels.py`` runs the same ``main``.
"""
from ..cli import add_cfg_options, counted, errors_as_lines, setup_logging, tool_parser

EXAMPLE = """examples:
  # a Label Studio JSON export -> gtFine/train/<city>/<name>_gtFine_labelIds.png, checked against the run
  python tools/import_labels.py export.json --from labelstudio --data-root data/cityscapes --state W/state.json
  # a CVAT export (Cityscapes 1.0 or Segmentation mask 1.1), zip or extracted folder
  python tools/import_labels.py task_1.zip --from cvat --data-root data/cityscapes --state W/state.json
  # then train the next step
  python tools/train.py CONFIG --work-dir W"""


def build_parser():
    parser = tool_parser("Import finished labels from Label Studio or CVAT as the dataset's label files.", EXAMPLE)
    parser.add_argument("export", metavar="EXPORT", help="Label Studio JSON export, or CVAT export (.zip or folder)")
    parser.add_argument("--from", dest="source", required=True, choices=["labelstudio", "cvat"],
                        help="the tool the export comes from")
    parser.add_argument("--data-root", help="the dataset folder (overrides the config's; without a config or a "
                                            "run: a Cityscapes-layout folder holding leftImg8bit/ and gtFine/)")
    parser.add_argument("--split", default="train", help="Cityscapes split of the images without a config "
                                                         "(default: train)")
    parser.add_argument("--config", help="config naming the dataset (default: the run's config.json with --state)")
    add_cfg_options(parser)
    parser.add_argument("--state", help="the annotation run's state.json: refuse images that are not pending "
                                        "annotation; in region mode, merge into existing partial labels")
    parser.add_argument("--overwrite", action="store_true", help="replace label files that exist and differ")
    parser.add_argument("--overlap", choices=["later", "refuse"], default="later",
                        help="where brush layers of different classes overlap: the later layer (drawn on top in "
                             "Label Studio) wins (default), or refuse the task")
    add_review_options(parser)
    return parser


def add_review_options(parser) -> None:
    """``--take`` and ``--min-agreement``: which annotations count, and how far their annotators must agree."""
    parser.add_argument("--take", choices=["latest", "ground_truth"], default="latest",
                        help="which annotation of a Label Studio task counts: the latest finished one (default), "
                             "or the latest marked ground truth (reviewed; tasks without one wait)")
    parser.add_argument("--min-agreement", type=float, metavar="IOU",
                        help="where several annotators labelled a task, leave it out for review when their mean "
                             "pairwise IoU is below IOU (each such task's agreement is reported either way)")


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.annotation.label_import import import_labels

    with errors_as_lines(args.debug):
        report = import_labels(args.export, args.source, args.data_root, args.split, args.state, args.overwrite,
                               args.overlap, args.config, args.cfg_options, args.take, args.min_agreement)
    print_import_report(report, checked_against_run=bool(args.state))


def print_import_report(report, checked_against_run: bool) -> None:
    """What an import wrote, left out and resolved, for the user (an :class:`ImportReport`)."""
    if report.overlaps:
        print(f"{counted(len(report.overlaps), 'task')} had overlapping layers of different classes "
              f"({sum(report.overlaps.values())} pixels in all); the later layer won (--overlap refuse refuses them)")
    if report.clipped:
        print(f"{counted(len(report.clipped), 'task')} painted outside the regions to label "
              f"({sum(report.clipped.values())} pixels in all), left out: {', '.join(list(report.clipped)[:5])}")
    if report.agreement:
        values = sorted(report.agreement.values())
        print(f"{counted(len(values), 'task')} labelled by several annotators: agreement (mean IoU) from "
              f"{values[0]:.3f} to {values[-1]:.3f}, median {values[len(values) // 2]:.3f}")
    if report.flagged:
        print(f"{counted(len(report.flagged), 'task')} below --min-agreement left out for review: "
              + ", ".join(f"{name} ({report.agreement[name]:.3f})" for name in report.flagged[:5])
              + (" ..." if len(report.flagged) > 5 else ""))
    if report.unfinished:
        print(f"{counted(len(report.unfinished), 'task')} without a finished annotation yet, left out: "
              f"{', '.join(report.unfinished[:5])}" + (" ..." if len(report.unfinished) > 5 else ""))
    print(f"wrote {counted(len(report.written), 'label file')}, {len(report.unchanged)} already up to date"
          + (f"; e.g. {report.written[0]}" if report.written else ""))
    if not checked_against_run:
        print("without --state, images were not checked against a run's pending annotation step")
