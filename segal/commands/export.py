"""Hand a selection to Label Studio or CVAT, with the model's predictions as pre-annotations.

    python tools/export.py SELECTION_JSON --to labelstudio|cvat --out DIR [--image-root PREFIX] [--debug]

Installed as the ``segal-export`` command; ``python tools/export.py`` runs the same ``main``.
"""
from ..cli import errors_as_lines, setup_logging, tool_parser

EXAMPLE = """examples:
  # Label Studio: DIR/label_config.xml and DIR/tasks.json (images served as local files from the data root)
  python tools/export.py W/selection_step1.json --to labelstudio --out W/labelstudio_step1
  # CVAT: DIR/cityscapes_1.0.zip, DIR/segmentation_mask_1.1.zip, DIR/labels.json and DIR/images.txt
  python tools/export.py W/selection_step1.json --to cvat --out W/cvat_step1
  # images served elsewhere: each task's image is PREFIX + leftImg8bit/<split>/<city>/<file>
  python tools/export.py W/selection_step1.json --to labelstudio --out DIR --image-root https://bucket/cityscapes/"""


def add_export_arguments(parser, required: bool) -> None:
    """``--to``/``--export`` and ``--image-root``, shared with ``tools/select.py``."""
    flag = "--to" if required else "--export"
    parser.add_argument(flag, dest="to", required=required, choices=["labelstudio", "cvat"],
                        help="write the selection for this annotation tool, with the model's predictions as "
                             "pre-annotations")
    parser.add_argument("--image-root", metavar="PREFIX",
                        help="prefix of the image paths the tool loads, joined with leftImg8bit/<split>/<city>/"
                             "<file> (Label Studio default: /data/local-files/?d= , files served from the data "
                             "root; CVAT default: none, paths relative to the data root)")


def build_parser():
    parser = tool_parser("Write a selection as a Label Studio project or CVAT archives with pre-annotations.",
                         EXAMPLE)
    parser.add_argument("selection", metavar="SELECTION_JSON", help="a selection_step<N>.json of tools/select.py")
    add_export_arguments(parser, required=True)
    parser.add_argument("--out", required=True, help="output folder")
    return parser


def main(argv=None) -> None:
    args = build_parser().parse_args(argv)
    setup_logging()
    from segal.annotation.export import export_selection

    with errors_as_lines(args.debug):
        written = export_selection(args.selection, args.to, args.out, args.image_root)
    print("wrote " + ", ".join(str(path) for path in written))
