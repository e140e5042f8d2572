"""Label Studio: a project (labelling config and tasks with brush pre-annotations) out, its JSON export in.

Out, in ``<out>/``:

* ``label_config.xml``: an ``Image`` with a ``BrushLabels`` control named
  ``label`` holding the classes in their colours; in region mode a second
  ``BrushLabels`` control, ``segal_regions``, for the outlines of the regions
  to label;
* ``tasks.json``: one task per image, ``data.image`` being the image's URL,
  ``data.segal_score`` segal's score and ``data.segal_sha256`` the image
  file's digest (the import checks it), with one prediction
  (``model_version`` naming the run and the checkpoint that predicted it,
  ``score`` the rank's share of the selection) holding one brush result per
  predicted class.

In: a project's JSON export; each task's most recently updated annotation
that was not cancelled gives one layer per brush result, by class name.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlparse
from xml.sax.saxutils import quoteattr

import cv2
import numpy as np

from ..errors import InvalidValue
from ..utils.checksums import file_sha256
from ..utils.io import atomic_write_text, read_json
from .brush_rle import BrushRLEError, decode_mask, encode_mask
from .label_scheme import LabelScheme, hex_colour
from .pre_annotation import NO_CLASS, pre_annotations
from .selection_file import SelectionFile

#: URL prefix of files that Label Studio serves from ``LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT``.
LOCAL_FILES = "/data/local-files/?d="
LABEL_CONTROL = "label"
POLYGON_CONTROL = "polygon"
REGIONS_CONTROL = "segal_regions"
REGIONS_LABEL = "to label"
#: The result types a label layer may have, and the key of each one's geometry.
LAYER_KEYS = {"brushlabels": "rle", "polygonlabels": "points"}
#: Colour of the region outlines: cyan, which no Cityscapes class uses.
REGIONS_COLOUR = (0, 255, 255)
IMAGE_OBJECT = "image"
OUTLINE_WIDTH = 3


def label_config(scheme: LabelScheme, regions: bool) -> str:
    """The labelling config: the classes as brush labels and as polygon labels, and in region mode a layer for
    the region outlines."""
    labels = "\n".join(f"    <Label value={quoteattr(name)} background={quoteattr(hex_colour(colour))}/>"
                       for name, colour in zip(scheme.names, scheme.colours))
    outline = ""
    if regions:
        outline = (f'  <BrushLabels name="{REGIONS_CONTROL}" toName="{IMAGE_OBJECT}">\n'
                   f'    <Label value="{REGIONS_LABEL}" background="{hex_colour(REGIONS_COLOUR)}"/>\n'
                   f'  </BrushLabels>\n')
    return (f'<View>\n  <Image name="{IMAGE_OBJECT}" value="$image" zoom="true" zoomControl="true"/>\n'
            f'  <BrushLabels name="{LABEL_CONTROL}" toName="{IMAGE_OBJECT}">\n{labels}\n  </BrushLabels>\n'
            f'  <PolygonLabels name="{POLYGON_CONTROL}" toName="{IMAGE_OBJECT}" strokeWidth="2">\n{labels}\n'
            f'  </PolygonLabels>\n{outline}</View>\n')


def brush_result(control: str, label: str, mask: np.ndarray, result_id: str) -> dict:
    height, width = mask.shape
    return {"id": result_id, "from_name": control, "to_name": IMAGE_OBJECT, "type": "brushlabels",
            "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"format": "rle", "rle": encode_mask(mask.astype(np.uint8) * 255), "brushlabels": [label]}}


def region_outlines(mask: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: a band of about :data:`OUTLINE_WIDTH` pixels along the edges of ``mask``."""
    kernel = np.ones((OUTLINE_WIDTH, OUTLINE_WIDTH), np.uint8)
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0


def rank_score(rank: int, count: int) -> float:
    """A prediction score in (0, 1] from a rank among ``count``: 1.0 for rank 1, ``1 / count`` for the last."""
    return round((count - rank + 1) / count, 6)


def write_labelstudio_project(selection: SelectionFile, scheme: LabelScheme, out: Path, image_root: str,
                              progress: bool = True) -> List[Path]:
    """Writes ``label_config.xml`` and ``tasks.json`` for ``selection`` into ``out``; returns both paths."""
    tasks = []
    for image, predicted, mask in pre_annotations(selection, scheme, progress):
        present = np.flatnonzero(np.bincount(predicted.ravel(), minlength=256)[:NO_CLASS])
        results = [brush_result(LABEL_CONTROL, scheme.names[c], predicted == c, f"s{image.rank}c{c}") for c in present]
        if mask is not None:
            results.append(brush_result(REGIONS_CONTROL, REGIONS_LABEL, region_outlines(mask), f"s{image.rank}r"))
        # Label Studio shows a prediction's score as a percentage: the rank's share of the selection reads
        # right there (100% for the best image) and sorts as segal ranked; segal's own score is data.segal_score
        prediction = {"model_version": selection.model_version, "result": results,
                      "score": rank_score(image.rank, len(selection.images))}
        data = {IMAGE_OBJECT: image_root + image.relative_path(), "segal_id": image.id,
                "segal_image": image.relative_path(), "segal_sha256": file_sha256(image.image),
                "segal_rank": image.rank, "segal_step": selection.next_step}
        if image.score is not None:
            data["segal_score"] = image.score
        tasks.append({"data": data, "predictions": [prediction]})
    config, tasks_file = out / "label_config.xml", out / "tasks.json"
    atomic_write_text(config, label_config(scheme, selection.regions))
    atomic_write_text(tasks_file, json.dumps(tasks))
    return [config, tasks_file]


@dataclass
class AnnotatedImage:
    """One task of an export: which image, and the results of its chosen annotation.

    Attributes:
        task: How messages name the task, e.g. ``'export.json: task 12'``.
        image_path: ``data.segal_image`` if the task has it, else the image URL's path.
        results: The annotation's results as exported (empty for a task without a finished annotation).
        image_digest: ``data.segal_sha256``: the SHA-256 of the image file the task was exported for.
        lead_time: The annotation's ``lead_time``: seconds the annotator spent on it, as Label Studio measured.
        others: The results of the task's other finished annotations (other annotators'), for their agreement.
    """

    task: str
    image_path: str
    results: List[dict]
    image_digest: Optional[str] = None
    lead_time: Optional[float] = None
    others: List[List[dict]] = field(default_factory=list)

    def layers(self, size: Optional[Tuple[int, int]] = None) -> List[tuple]:
        """``(class name, [H, W] bool)`` per brush layer, in the order the annotation lists them; the region
        outlines are left out.

        Args:
            size: The image's ``(height, width)``; a layer declaring another size is refused before its RLE
                is decoded.

        Raises:
            InvalidValue: A result is not a brush layer of one class, declares another size than the image,
                or its RLE does not decode; the message names the task.
        """
        return _layers(self.results, self.task, size)


def _chosen_annotations(task: dict, name: str, take: str) -> Tuple[Optional[dict], List[dict]]:
    """``(the annotation to import, the task's other finished annotations)``: the most recently updated one that
    was not cancelled (``take='latest'``), or that was also marked ground truth (``take='ground_truth'``)."""
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise InvalidValue(f"{name}: 'annotations' is not a list")
    finished = []
    for position, annotation in enumerate(annotations):
        if not isinstance(annotation, dict):
            raise InvalidValue(f"{name}: annotation {position} is not an object")
        cancelled, number = annotation.get("was_cancelled", False), annotation.get("id")
        if not isinstance(cancelled, bool):
            raise InvalidValue(f"{name}: annotation {position} has was_cancelled {cancelled!r}; expected true or "
                               f"false")
        if number is not None and (not isinstance(number, int) or isinstance(number, bool)):
            raise InvalidValue(f"{name}: annotation {position} has id {number!r}; expected a number")
        if not cancelled:
            finished.append(annotation)
    candidates = [a for a in finished if take == "latest" or a.get("ground_truth") is True]
    if not candidates:
        return None, finished
    chosen = max(candidates, key=lambda a: (str(a.get("updated_at", "")), a.get("id") or 0))
    return chosen, [a for a in finished if a is not chosen]


def _results(annotation: dict, name: str) -> List[dict]:
    results = annotation.get("result") or []
    if not isinstance(results, list):
        raise InvalidValue(f"{name}: its annotation's 'result' is not a list")
    return results


def _lead_time(annotation: dict, name: str) -> Optional[float]:
    seconds = annotation.get("lead_time")
    if seconds is None:
        return None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds < float("inf"):
        raise InvalidValue(f"{name}: its annotation's lead_time is {seconds!r}; expected seconds >= 0")
    return float(seconds)


def task_image(task: dict, name: str) -> str:
    data = task.get("data")
    if not isinstance(data, dict):
        raise InvalidValue(f"{name} has no 'data'")
    if isinstance(data.get("segal_image"), str):
        return data["segal_image"]
    url = data.get(IMAGE_OBJECT)
    if not isinstance(url, str) or not url:
        raise InvalidValue(f"{name} has no image: expected data.{IMAGE_OBJECT}")
    parsed = urlparse(url)
    query = dict(part.split("=", 1) for part in parsed.query.split("&") if "=" in part)
    return unquote(query.get("d", parsed.path))


def _dimension(result: dict, key: str, where: str) -> int:
    value = result.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidValue(f"{where}: {key} is {value!r}; expected a whole number of pixels")
    return value


def _layers(results: Sequence, name: str, size: Optional[Tuple[int, int]] = None) -> List[tuple]:
    layers = []
    for position, result in enumerate(results):
        if not isinstance(result, dict):
            raise InvalidValue(f"{name}: result {position} is {type(result).__name__} {repr(result)[:40]}, not a "
                               f"result object")
        if result.get("from_name") == REGIONS_CONTROL:
            continue
        kind = result.get("type")
        if kind not in LAYER_KEYS:
            raise InvalidValue(f"{name}: result {position} is a {kind!r}; segal reads brushlabels and polygonlabels "
                               f"results")
        value = result.get("value")
        if not isinstance(value, dict):
            raise InvalidValue(f"{name}: result {position} has value {repr(value)[:40]}; expected an object with "
                               f"{LAYER_KEYS[kind]!r}")
        labels = value.get(kind)
        if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
            raise InvalidValue(f"{name}: result {position} has {kind} {labels!r}; expected one class name")
        where = f"{name}: result {position} ({labels[0]})"
        height, width = _dimension(result, "original_height", where), _dimension(result, "original_width", where)
        if size is not None and (height, width) != tuple(size):
            raise InvalidValue(f"{where} is {width}x{height}; the image is {size[1]}x{size[0]}")
        if kind == "polygonlabels":
            layers.append((labels[0], polygon_mask(value.get("points"), height, width, where)))
            continue
        try:
            layers.append((labels[0], decode_mask(value.get("rle"), height, width)))
        except BrushRLEError as err:
            raise InvalidValue(f"{where}: {err}") from None
    return layers


def polygon_mask(points, height: int, width: int, where: str = "polygon") -> np.ndarray:
    """``[H, W]`` bool: the pixels whose centres lie inside a Label Studio polygon.

    Args:
        points: ``[[x, y], ...]`` in percent of the image's width and height, as Label Studio stores them.
        height, width: The image's size.
        where: How messages name the result.
    """
    try:
        corners = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        corners = np.empty((0,))
    if corners.ndim != 2 or corners.shape[1] != 2 or len(corners) < 3 or not np.isfinite(corners).all():
        raise InvalidValue(f"{where}: points must be three or more [x, y] pairs in percent, got {repr(points)[:60]}")
    from skimage.draw import polygon2mask

    pixels = corners * [width / 100.0, height / 100.0] - 0.5  # percent -> coordinates of pixel centres
    return polygon2mask((height, width), pixels[:, ::-1])


def read_labelstudio_export(path, take: str = "latest") -> Dict[str, List[AnnotatedImage]]:
    """Reads a Label Studio JSON export.

    Args:
        path: The export.
        take: Which annotation of a task counts: the most recently updated finished one (``'latest'``), or the
            most recently updated one marked ground truth (``'ground_truth'``; a task without one is unfinished).

    Returns:
        ``{'annotated': [...], 'unfinished': [...]}``: tasks with a finished
        annotation, and tasks without one (their ``results`` empty). Brush
        layers are decoded when :meth:`AnnotatedImage.layers` is called.

    Raises:
        InvalidValue: The file is not a Label Studio JSON export, or a task or
            result in it cannot be read; the message names the task.
    """
    path = Path(path)
    tasks = read_json(path, "a Label Studio JSON export")
    if not isinstance(tasks, list) or not tasks:
        raise InvalidValue(f"{path} holds no tasks; export the project as JSON (a list of tasks)")
    found = {"annotated": [], "unfinished": []}
    for position, task in enumerate(tasks):
        if not isinstance(task, dict):
            raise InvalidValue(f"{path}: entry {position} is not a task")
        name = f"{path.name}: task {task.get('id', position)}"
        image = task_image(task, name)
        digest = task["data"].get("segal_sha256")
        if digest is not None and not isinstance(digest, str):
            raise InvalidValue(f"{name}: data.segal_sha256 is {digest!r}")
        annotation, others = _chosen_annotations(task, name, take)
        if annotation is None:
            found["unfinished"].append(AnnotatedImage(name, image, [], digest))
            continue
        results, others = _results(annotation, name), [_results(other, name) for other in others]
        found["annotated"].append(AnnotatedImage(name, image, results, digest, _lead_time(annotation, name), others))
    return found
