"""Selection files: ``selection_step<N>.json`` and ``.csv`` as ``tools/select.py`` writes them, and read back for
export to an annotation tool.

The file is data: it is parsed as JSON and every field the export uses is
checked; a file that fails a check is refused with one line naming the file
and the field.
"""
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from ..errors import InvalidValue
from ..reporting.figures import image_stem
from ..utils.io import atomic_write_text, read_json
from ..utils.run_paths import RunPaths
from .label_scheme import LabelScheme

IMAGE_FOLDER = "leftImg8bit"
#: The CSV columns of a selection of whole images, and of regions.
IMAGE_COLUMNS = ("rank", "id", "image", "score", "predicted")
REGION_COLUMNS = ("rank", "id", "image", "region", "area", "score", "mask")


def write_selection(out: Path, meta: dict, entries: List[dict], columns) -> None:
    """Writes ``out`` (JSON: ``meta`` and the ranked ``entries``) and the CSV beside it (``columns`` of each entry;
    a dict or list as JSON), each atomically."""
    atomic_write_text(out, json.dumps({**meta, "selection": entries}, indent=2))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for entry in entries:
        writer.writerow([json.dumps(entry[c]) if isinstance(entry[c], (dict, list)) else entry[c] for c in columns])
    atomic_write_text(out.with_suffix(".csv"), buffer.getvalue())


@dataclass(frozen=True)
class SelectedImage:
    """One image of a selection, best first.

    Attributes:
        rank: 1 for the image with the best score.
        id: The image's global id in the run.
        image: The image file.
        score: The image's score (region mode: the best score of its regions);
            ``None`` for a joint selector.
        prediction: The predicted train-id map (:mod:`.predictions`).
        mask: Region mode: 255 on the pixels to label; ``None`` for whole images.
        relative: The image's path below its dataset's data root, as the selection recorded it.
    """

    rank: int
    id: int
    image: Path
    score: Optional[float]
    prediction: Path
    mask: Optional[Path]
    relative: Optional[str] = None

    @property
    def stem(self) -> str:
        """``frankfurt_000000_000294`` for ``.../frankfurt_000000_000294_leftImg8bit.png``."""
        return image_stem(str(self.image))

    def relative_path(self) -> str:
        """The image's path below its data root as recorded; for older selections its path from its
        ``leftImg8bit`` folder on (``leftImg8bit/train/<city>/<file>``), else its name."""
        if self.relative is not None:
            return self.relative
        parts = self.image.parts
        if IMAGE_FOLDER in parts:
            return "/".join(parts[len(parts) - 1 - parts[::-1].index(IMAGE_FOLDER):])
        return self.image.name


@dataclass(frozen=True)
class SelectionFile:
    """A selection's images and where it came from."""

    path: Path
    images: List[SelectedImage]
    checkpoint: str
    next_step: Optional[int]
    regions: bool
    scheme: LabelScheme = field(default_factory=LabelScheme.cityscapes)

    @property
    def model_version(self) -> str:
        """``<run>/step_<N>``: the run folder holding the checkpoint and the checkpoint's step (the model that
        predicted the pre-annotations; the selection is for step ``N + 1``)."""
        checkpoint = Path(self.checkpoint)
        run = (RunPaths.root_of_checkpoint(checkpoint) or checkpoint.parent).name
        return f"{run}/{checkpoint.stem}"


def relative_image(dataset, sample_id: int) -> dict:
    """``{"relative": path below the data root}`` for a dataset with a data root, else nothing: what an annotation
    tool serving the data root's files asks for."""
    root = getattr(dataset, "data_root", None)
    if root is None:
        return {}
    try:
        return {"relative": Path(dataset.image_path(sample_id)).resolve().relative_to(Path(root).resolve()).as_posix()}
    except ValueError:
        return {}


def scheme_meta(dataset) -> dict:
    """What an export needs to know of a segmentation dataset's classes (recorded in the selection file)."""
    if dataset.task != "segmentation" or getattr(dataset, "palette", None) is None:
        return {}
    return {"classes": list(dataset.classes), "palette": [list(c) for c in dataset.palette],
            "ignore_index": int(dataset.ignore_index),
            "cityscapes_ids": bool(getattr(dataset, "speaks_cityscapes_ids", False))}


def _field(entry: dict, key: str, kind, where: str):
    if not isinstance(entry, dict) or key not in entry:
        raise InvalidValue(f"{where} has no '{key}'")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidValue(f"{where}: '{key}' is {value!r}")
    return value


def _mode(saved: dict, path: Path) -> str:
    """``'images'`` or ``'regions'``; a file without ``mode`` (written before it was recorded) selects images,
    unless its entries carry region masks."""
    mode = saved.get("mode")
    if mode is None:
        if any(isinstance(entry, dict) and "mask" in entry for entry in saved["selection"]):
            raise InvalidValue(f"{path} has region masks but no 'mode'; expected \"mode\": \"regions\"")
        return "images"
    if mode not in ("images", "regions"):
        raise InvalidValue(f"{path}: 'mode' is {mode!r}; expected 'images' or 'regions'")
    return mode


def _check_split(image: Path, split: Optional[str], where: str) -> None:
    """An image under ``leftImg8bit/<split>/`` must be of the selection's pool split."""
    parts = image.parts
    if split is None or IMAGE_FOLDER not in parts[:-2]:
        return
    found = parts[len(parts) - 1 - parts[::-1].index(IMAGE_FOLDER) + 1]
    if found != split:
        raise InvalidValue(f"{where}: image {image} is in the {found} split; the selection was made from the "
                           f"{split} split, and only its images go to annotators")


def read_selection(path) -> SelectionFile:
    """Reads and checks a selection JSON; entries of one image (region mode) become one :class:`SelectedImage`.

    Raises:
        InvalidValue: The file is not a selection JSON of a segmentation run,
            or was written before ``tools/select.py`` wrote predictions.
        FileNotFoundError: The file is missing.
    """
    path = Path(path)
    saved = read_json(path, "a selection JSON")
    if not isinstance(saved, dict) or not isinstance(saved.get("selection"), list) or not saved["selection"]:
        raise InvalidValue(f"{path} holds no 'selection' list; give a selection_step<N>.json from tools/select.py")
    regions = _mode(saved, path) == "regions"
    split = saved.get("split")
    if split is not None and not isinstance(split, str):
        raise InvalidValue(f"{path}: 'split' is {split!r}")
    images = {}
    for position, entry in enumerate(saved["selection"]):
        where = f"{path}: selection[{position}]"
        image_id = _field(entry, "id", int, where)
        if "prediction" not in entry and "class" in (entry.get("predicted") or {}):
            raise InvalidValue(f"{path} selects images for classification; annotation tools take segmentation "
                               f"selections")
        if "prediction" not in entry:
            raise InvalidValue(f"{where} has no 'prediction': the file predates pre-annotations; select again "
                               f"with tools/select.py to export it")
        score = entry.get("score")
        if score is not None and (not isinstance(score, (int, float)) or isinstance(score, bool)
                                  or not math.isfinite(score)):
            raise InvalidValue(f"{where}: 'score' is {score!r}; expected a finite number or null")
        if image_id in images:
            if regions:  # another region of the same image: keep the first (best) rank and score
                continue
            raise InvalidValue(f"{where}: image id {image_id} appears twice; a selection names each image once")
        image = Path(_field(entry, "image", str, where))
        _check_split(image, split, where)
        relative = entry.get("relative")
        if relative is not None and (not isinstance(relative, str) or Path(relative).is_absolute()
                                     or ".." in Path(relative).parts):
            raise InvalidValue(f"{where}: 'relative' is {relative!r}; expected a path below the data root")
        images[image_id] = SelectedImage(
            rank=len(images) + 1, id=image_id, image=image, score=score,
            prediction=Path(_field(entry, "prediction", str, where)),
            mask=Path(_field(entry, "mask", str, where)) if regions else None, relative=relative)
    next_step = saved.get("next_step")
    if next_step is not None and (not isinstance(next_step, int) or isinstance(next_step, bool)):
        raise InvalidValue(f"{path}: 'next_step' is {next_step!r}")
    return SelectionFile(path, list(images.values()), str(saved.get("checkpoint", path.stem)), next_step, regions,
                         _scheme(saved, path))


def _scheme(saved: dict, path: Path) -> LabelScheme:
    """The classes the selection was made with; selections written before they were recorded are Cityscapes'."""
    if "classes" not in saved or saved.get("cityscapes_ids"):
        return LabelScheme.cityscapes()
    classes, palette, ignore = saved.get("classes"), saved.get("palette"), saved.get("ignore_index", 255)
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise InvalidValue(f"{path}: 'classes' is {str(classes)[:60]}; expected a list of class names")
    if not isinstance(palette, list) or len(palette) != len(classes) or not all(
            isinstance(c, list) and len(c) == 3 and all(isinstance(v, int) and 0 <= v < 256 for v in c)
            for c in palette):
        raise InvalidValue(f"{path}: 'palette' must give one RGB triple per class")
    if not isinstance(ignore, int) or isinstance(ignore, bool) or not 0 <= ignore < 256:
        raise InvalidValue(f"{path}: 'ignore_index' is {ignore!r}")
    return LabelScheme.for_classes(classes, palette, ignore)
