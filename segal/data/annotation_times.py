"""How long annotators took on each image, as Label Studio measured it (an annotation's ``lead_time``).

``tools/import_labels.py --state`` (and ``tools/labelstudio.py pull`` and the
ML backend, which import the same way) records each imported image's time in
the run folder's ``annotation_times.json``: ``{image path below the data
root: seconds}``, the latest annotation's time replacing an earlier one.
Step records then carry ``labelled_seconds``, which ``tools/report.py --x
seconds`` plots against.
"""
import json
import math
from pathlib import Path
from typing import Dict

from ..errors import InvalidValue
from ..utils.io import atomic_write_text


class AnnotationTimes:
    """The ``annotation_times.json`` record of one run.

    Args:
        path: The record's file (:attr:`~segal.utils.run_paths.RunPaths.annotation_times_path`).
    """

    def __init__(self, path):
        self.path = Path(path)

    def read(self) -> Dict[str, float]:
        """``{image path below the data root: seconds}``; empty when nothing was recorded.

        Raises:
            InvalidValue: The file is not such a record (a record that fails its checks is refused).
        """
        if not self.path.is_file():
            return {}
        try:
            times = json.loads(self.path.read_text())
        except ValueError as err:
            raise InvalidValue(f"{self.path}: not JSON ({err}); restore it or remove it") from None
        if not isinstance(times, dict) or not all(_is_seconds(v) for v in times.values()):
            raise InvalidValue(f"{self.path}: expected {{image path: seconds >= 0}}; restore it or remove it")
        return {str(image): float(seconds) for image, seconds in times.items()}

    def record(self, times: Dict[str, float]) -> None:
        """Adds ``times`` to the record (an image's new time replaces its old one), written atomically."""
        if not times:
            return
        atomic_write_text(self.path, json.dumps({**self.read(), **times}, indent=1, sort_keys=True))


def _is_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
