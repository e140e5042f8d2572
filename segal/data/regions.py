"""Regions: the unit an annotator labels with one click, as SLIC superpixels or square grid cells.

A region map is ``[H, W]`` int64 at the label's full resolution, with region
ids ``0 .. R-1`` (every id present). Maps are computed once per image and
cached on disk as ``<cache>/<key>/<image path below data_root>.npz``, where
``key`` digests the region settings: a changed setting never reads an old
cache. Each file also records the SHA-256 of the image it was computed from,
so an image replaced by another of the same name and size is not given the
old image's regions. A cache file that fails its checks (unreadable, a header
declaring another shape or type than the image's map, wrong contents, another
image's digest) is discarded with a warning naming it, before its array is
read, and the map is computed again.
"""
import hashlib
import io
import json
import logging
import zipfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from ..errors import InvalidValue
from ..utils.checksums import file_sha256
from ..utils.io import atomic_write_bytes

logger = logging.getLogger("segal")

#: Bumped whenever the computation of a region map changes, so old caches are not read.
REGION_FORMAT = 2
REGION_TYPES = {"SLIC": ("n_segments", "compactness", "sigma"), "Grid": ("size",)}
OPTIONAL_KEYS = ("cache_dir",)


@dataclass(frozen=True)
class RegionSpec:
    """How an image is cut into regions (``dataset.regions``).

    Attributes:
        type: ``'SLIC'`` (scikit-image's SLIC superpixels) or ``'Grid'`` (square cells).
        n_segments: SLIC: about how many superpixels per image.
        compactness: SLIC: colour against space; higher gives squarer superpixels.
        sigma: SLIC: Gaussian smoothing of the image first (pixels).
        size: Grid: the cell side in pixels (cells at the right and bottom edges may be smaller).
        cache_dir: Where maps are cached; ``None``: ``<data_root>/regions``.
    """

    type: str
    n_segments: int = 2000
    compactness: float = 10.0
    sigma: float = 0.0
    size: int = 32
    cache_dir: Optional[str] = None

    @classmethod
    def from_config(cls, cfg: dict) -> "RegionSpec":
        """Checks ``dataset.regions`` and builds the spec; raises :class:`InvalidValue` naming the key at fault."""
        cfg = cfg.to_dict() if hasattr(cfg, "to_dict") else cfg
        if not isinstance(cfg, dict) or cfg.get("type") not in REGION_TYPES:
            raise InvalidValue(f"dataset.regions must be dict(type='SLIC', n_segments=N, compactness=C) or "
                               f"dict(type='Grid', size=S), got {cfg!r}")
        allowed = REGION_TYPES[cfg["type"]] + OPTIONAL_KEYS
        for key in cfg:
            if key != "type" and key not in allowed:
                raise InvalidValue(f"config key 'dataset.regions.{key}': {cfg['type']} regions take "
                                   f"{', '.join(allowed)}")
        spec = cls(**cfg)
        for key in ("n_segments", "size"):
            value = getattr(spec, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidValue(f"dataset.regions.{key} must be an integer >= 1, got {value!r}")
        if not spec.compactness > 0 or not spec.sigma >= 0:
            raise InvalidValue(f"dataset.regions: compactness must be > 0 and sigma >= 0, got "
                               f"{spec.compactness!r} and {spec.sigma!r}")
        return spec

    @property
    def settings(self) -> dict:
        """The settings a map depends on (not where it is cached)."""
        used = ("type",) + REGION_TYPES[self.type]
        return {k: v for k, v in asdict(self).items() if k in used}

    @property
    def key(self) -> str:
        """The cache folder name: the region type and a digest of the settings and :data:`REGION_FORMAT`."""
        text = json.dumps({"format": REGION_FORMAT, **self.settings}, sort_keys=True)
        return f"{self.type.lower()}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

    def compute(self, image: np.ndarray) -> np.ndarray:
        """``[H, W, 3]`` uint8 RGB -> ``[H, W]`` int64 region ids ``0 .. R-1``."""
        height, width = image.shape[:2]
        if self.type == "Grid":
            rows, cols = np.arange(height) // self.size, np.arange(width) // self.size
            return rows[:, None] * (-(-width // self.size)) + cols[None, :]
        from skimage.segmentation import slic

        segments = slic(image, n_segments=self.n_segments, compactness=self.compactness, sigma=self.sigma,
                        start_label=0, channel_axis=-1)
        return np.unique(segments, return_inverse=True)[1].reshape(height, width).astype(np.int64)


def _digest(regions: np.ndarray) -> str:
    return hashlib.sha256(repr(regions.shape).encode() + regions.tobytes()).hexdigest()


def encode(regions: np.ndarray, image_digest: str) -> bytes:
    """A region map as the bytes of a cache file (compressed, with its digest and its image's SHA-256)."""
    dtype = np.uint16 if regions.max(initial=0) < 2 ** 16 else np.uint32
    stored = regions.astype(dtype)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, regions=stored, digest=np.array(_digest(stored)), image=np.array(image_digest))
    return buffer.getvalue()


#: What a cache file's members may declare: the map, and two digest strings.
_MEMBERS = {"regions.npy": (np.dtype(np.uint16), np.dtype(np.uint32)), "digest.npy": None, "image.npy": None}
_DIGEST_BYTES = 64 * 4 + 1024  # a 64-character unicode scalar, with the .npy header


def _check_members(path: Path, shape: tuple) -> Optional[str]:
    """Why the file's declared contents are not a cache of a ``shape`` map (``None``: they are), read from the
    zip directory and the arrays' headers only, so a file declaring a huge array is refused unread."""
    with zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        if set(infos) != set(_MEMBERS):
            return f"it holds {sorted(infos)}"
        for name, dtypes in _MEMBERS.items():
            info = infos[name]
            if dtypes is None:
                if info.file_size > _DIGEST_BYTES:
                    return f"its {name} declares {info.file_size} bytes"
                continue
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                declared, _, dtype = read_header(member)
            if tuple(declared) != tuple(shape) or dtype not in dtypes:
                return f"its map is declared {dtype} {tuple(declared)}, the image's is {tuple(shape)}"
            if info.file_size > np.prod(shape, dtype=np.int64) * dtype.itemsize + 4096:
                return f"its {name} declares {info.file_size} bytes"
    return None


def decode(path: Path, shape: tuple, image_digest: str) -> Optional[np.ndarray]:
    """The map in a cache file if it passes every check, else ``None`` (the file is then removed)."""
    try:
        wrong = _check_members(path, shape)
        if wrong is not None:
            return _discard(path, wrong)
        with np.load(path, allow_pickle=False) as saved:
            stored, digest, image = saved["regions"], str(saved["digest"]), str(saved["image"])
    except (OSError, ValueError, KeyError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error) as err:
        return _discard(path, f"it cannot be read ({type(err).__name__})")
    if image != image_digest:
        return _discard(path, "it was computed from another image of the same name (the image's SHA-256 differs)")
    if stored.dtype not in (np.uint16, np.uint32) or stored.shape != tuple(shape) or digest != _digest(stored):
        return _discard(path, f"its map ({stored.dtype}, {stored.shape}) does not match its digest or the "
                              f"image's size {tuple(shape)}")
    regions = stored.astype(np.int64)
    if not np.bincount(regions.ravel()).all():
        return _discard(path, "its region ids are not 0 .. R-1")
    return regions


def _discard(path: Path, why: str) -> None:
    logger.warning("discarding region cache %s: %s; computing the map again", path, why)
    path.unlink(missing_ok=True)
    return None


class RegionMaps:
    """The region maps of a dataset's images, computed on first use and cached on disk.

    Args:
        spec: The region settings.
        data_root: The dataset folder; image paths below it name the cache files.
        image_path: Global id -> image file.
        read_image: Global id -> ``[H, W, 3]`` uint8 RGB image.
        image_shape: Global id -> ``(H, W)`` from the file header.
    """

    def __init__(self, spec: RegionSpec, data_root: Path, image_path: Callable, read_image: Callable,
                 image_shape: Callable):
        self.spec, self.data_root = spec, Path(data_root)
        self.folder = Path(spec.cache_dir or self.data_root / "regions") / spec.key
        self._image_path, self._read_image, self._image_shape = image_path, read_image, image_shape
        self._digests = {}  # image path -> (mtime_ns, size, SHA-256): a file is hashed once while it is unchanged

    def image_digest(self, idx: int) -> str:
        """The SHA-256 of a global id's image file, hashed again only when its modification time or size moved."""
        path = Path(self._image_path(idx))
        stat = path.stat()
        known = self._digests.get(path)
        if known is None or known[:2] != (stat.st_mtime_ns, stat.st_size):
            known = self._digests[path] = (stat.st_mtime_ns, stat.st_size, file_sha256(path))
        return known[2]

    def cache_path(self, idx: int) -> Path:
        """The cache file of a global id."""
        image = Path(self._image_path(idx))
        try:
            relative = image.resolve().relative_to(self.data_root.resolve())
        except ValueError:
            relative = Path(image.parent.name) / image.name
        return (self.folder / relative).with_suffix(".npz")

    def __call__(self, idx: int) -> np.ndarray:
        """``[H, W]`` int64 region ids of a global id, read from the cache or computed and cached."""
        path, image_digest = self.cache_path(idx), self.image_digest(idx)
        if path.is_file():
            regions = decode(path, self._image_shape(idx), image_digest)
            if regions is not None:
                return regions
        regions = self.spec.compute(self._read_image(idx))
        path.parent.mkdir(parents=True, exist_ok=True)
        settings_file = self.folder / "settings.json"
        if not settings_file.is_file():
            atomic_write_bytes(settings_file, json.dumps(self.spec.settings, indent=2).encode())
        atomic_write_bytes(path, encode(regions, image_digest))
        return regions


def cache_region_map(spec: RegionSpec, data_root: str, image: str) -> int:
    """Computes (or checks) the cached map of one image file; returns the cache file's size in bytes.

    A function of plain arguments, for worker processes (``data_prep/regions.py --workers``).
    """
    import cv2

    from .image_files import image_size, read_image_file

    maps = RegionMaps(spec, Path(data_root), lambda _: Path(image),
                      lambda _: cv2.cvtColor(read_image_file(image), cv2.COLOR_BGR2RGB),
                      lambda _: image_size(image)[::-1])
    maps(0)
    return maps.cache_path(0).stat().st_size
