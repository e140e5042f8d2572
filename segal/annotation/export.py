"""Handing a selection to an annotation tool: ``tools/export.py`` and ``tools/select.py --export``.

Each selected image goes out with the model's prediction as pre-annotation
(in region mode, cut to the regions to label). The Label Studio and CVAT
formats are written by :mod:`.labelstudio` and :mod:`.cvat`, from the images
that :mod:`.pre_annotation` reads.
"""
from pathlib import Path
from typing import List, Optional

from ..errors import InvalidValue
from .cvat import write_cvat_archives
from .labelstudio import LOCAL_FILES, write_labelstudio_project
from .selection_file import read_selection

#: The annotation tools segal exports to and imports from.
TOOLS = ("labelstudio", "cvat")


def export_selection(selection_json, to: str, out, image_root: Optional[str] = None,
                     progress: bool = True) -> List[Path]:
    """Writes a selection in an annotation tool's format.

    Args:
        selection_json: A ``selection_step<N>.json`` of ``tools/select.py``.
        to: ``'labelstudio'`` or ``'cvat'``.
        out: Output folder (created).
        image_root: Prefix of the image paths the tool loads, joined with each
            image's path from ``leftImg8bit/`` on. Label Studio default:
            ``/data/local-files/?d=`` (local files served from the data root);
            CVAT default: none (paths relative to the data root).
        progress: Show a progress bar or log lines.

    Returns:
        The files written.
    """
    if to not in TOOLS:
        raise InvalidValue(f"--to must be one of {TOOLS}, got {to!r}")
    selection = read_selection(selection_json)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scheme = selection.scheme  # the classes the selection was made with
    if to == "labelstudio":
        written = write_labelstudio_project(selection, scheme, out, LOCAL_FILES if image_root is None else image_root,
                                            progress)
    else:
        written = write_cvat_archives(selection, scheme, out, image_root or "", progress)
    return written
