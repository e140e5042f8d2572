"""Reading a ``selection_step<N>.json`` that ``tools/select.py`` wrote, for export to an annotation tool.

The file is data: it is parsed as JSON and every field the export uses is
checked; a file that fails a check is refused with one line naming the file
and the field.
"""
import json
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..errors import InvalidValue
from ..reporting.figures import image_stem

IMAGE_FOLDER = "leftImg8bit"


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
    """

    rank: int
    id: int
    image: Path
    score: Optional[float]
    prediction: Path
    mask: Optional[Path]

    @property
    def stem(self) -> str:
        """``frankfurt_000000_000294`` for ``.../frankfurt_000000_000294_leftImg8bit.png``."""
        return image_stem(str(self.image))

    def relative_path(self) -> str:
        """The image's path from its ``leftImg8bit`` folder on (``leftImg8bit/train/<city>/<file>``), else its name."""
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

    @property
    def model_version(self) -> str:
        """``<run>/step_<N>``: the run folder holding the checkpoint and the step the selection is for."""
        checkpoint = Path(self.checkpoint)
        run = checkpoint.parent.parent.name if checkpoint.parent.name == "checkpoints" else checkpoint.stem
        return f"{run}/step_{self.next_step}" if self.next_step is not None else f"{run}/{checkpoint.stem}"


def _field(entry: dict, key: str, kind, where: str):
    if not isinstance(entry, dict) or key not in entry:
        raise InvalidValue(f"{where} has no '{key}'")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InvalidValue(f"{where}: '{key}' is {value!r}")
    return value


def read_selection(path) -> SelectionFile:
    """Reads and checks a selection JSON; entries of one image (region mode) become one :class:`SelectedImage`.

    Raises:
        InvalidValue: The file is not a selection JSON of a segmentation run,
            or was written before ``tools/select.py`` wrote predictions.
        FileNotFoundError: The file is missing.
    """
    path = Path(path)
    try:
        saved = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InvalidValue(f"{path} is not a selection JSON ({err})") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("selection"), list) or not saved["selection"]:
        raise InvalidValue(f"{path} holds no 'selection' list; give a selection_step<N>.json from tools/select.py")
    regions = saved.get("mode") == "regions"
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
        if score is not None and not isinstance(score, (int, float)):
            raise InvalidValue(f"{where}: 'score' is {score!r}")
        known = images.get(image_id)
        if known is not None:  # another region of the same image: keep the first (best) rank and score
            continue
        images[image_id] = SelectedImage(
            rank=len(images) + 1, id=image_id, image=Path(_field(entry, "image", str, where)), score=score,
            prediction=Path(_field(entry, "prediction", str, where)),
            mask=Path(_field(entry, "mask", str, where)) if regions else None)
    next_step = saved.get("next_step")
    if next_step is not None and (not isinstance(next_step, int) or isinstance(next_step, bool)):
        raise InvalidValue(f"{path}: 'next_step' is {next_step!r}")
    return SelectionFile(path, list(images.values()), str(saved.get("checkpoint", path.stem)), next_step, regions)
