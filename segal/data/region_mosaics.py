"""Region mosaics: partly labelled images trained as tiles packed into full-size canvases.

A region step labels a few regions of many images. Trained whole, every such
image costs a full forward and backward pass for a few hundred labelled
pixels. With ``loop.region_mosaic=t`` each labelled region is cut out in
tiles of ``1/t`` of its image's height and width, on a grid anchored at the
region's bounding box (one tile for a region that fits in one); ``t * t``
tiles, region after region, fill one canvas of the full image size, which
trains as one sample through the same pipeline. A tile carries the image's
pixels around its region as context, but labels only its region's pixels
within its grid cell: every labelled pixel is in exactly one tile, with the
answer the oracle gave for it; the rest of a canvas is 255 (ignored).
Canvases have ids after the dataset's own (``len(dataset) + k``), so the
training loader, its shuffling and its augmentation seeds treat them as samples.

Shapes: images ``[H, W, 3]`` uint8, labels ``[H, W]`` uint8, every image of the same size.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .partial_labels import IGNORE, WithRegionLabels
from .region_pool import RegionLabels


def covering_tiles(labelled_mask: np.ndarray, tile_shape: Tuple[int, int]) -> List[Tuple[int, int]]:
    """``(top, left)`` of the cells, on a grid of ``tile_shape`` anchored at the labelled pixels' bounding box, that
    hold at least one labelled pixel of ``[H, W]`` bool ``labelled_mask``. A cell may reach past the image's edge:
    its tile is then cut shifted back inside (:func:`tile_window`), and owns only the cell's pixels."""
    rows, cols = np.nonzero(labelled_mask)
    if not len(rows):
        return []
    tile_h, tile_w = tile_shape
    tiles = []
    for top in range(int(rows.min()), int(rows.max()) + 1, tile_h):
        for left in range(int(cols.min()), int(cols.max()) + 1, tile_w):
            inside = (rows >= top) & (rows < top + tile_h) & (cols >= left) & (cols < left + tile_w)
            if inside.any():
                tiles.append((top, left))
    return tiles


def tile_window(cell: Tuple[int, int], tile_shape: Tuple[int, int], image_shape: Tuple[int, int]):
    """``(rows, cols, owned)``: the slices a tile cuts for ``cell`` (shifted inside the image) and the ``[h, w]`` bool
    mask of its pixels that belong to the cell, so that no pixel is trained twice."""
    (top, left), (tile_h, tile_w), (height, width) = cell, tile_shape, image_shape
    row0, col0 = min(top, height - tile_h), min(left, width - tile_w)
    rows, cols = np.arange(row0, row0 + tile_h), np.arange(col0, col0 + tile_w)
    owned = ((rows >= top) & (rows < top + tile_h))[:, None] & ((cols >= left) & (cols < left + tile_w))[None, :]
    return slice(row0, row0 + tile_h), slice(col0, col0 + tile_w), owned


def region_training_set(dataset, region_labels: RegionLabels, mode: str, labelled: np.ndarray,
                        tiles_per_side: Optional[int] = None, sampling: Optional[str] = None):
    """``(dataset, train ids, labelled shares)`` of a stage that trains on region labels: the partly labelled images
    whole, with the oracle's ``mode`` answers (``tiles_per_side=None``), or as the canvases of their tiles.

    Args:
        dataset: The run's segmentation dataset.
        region_labels: Which regions of which images are labelled.
        mode: ``'dominant'`` or ``'exact'``.
        labelled: ``[N]`` the ids the stage trains on: whole labelled images and partly labelled ones.
        tiles_per_side: ``loop.region_mosaic``.
        sampling: ``loop.region_sampling``: with ``'pixels'``, the shares are ``[M]`` each train id's labelled
            share of its pixels (:class:`~segal.data.loading.LabelledPixelShuffle`); else ``None``.
    """
    if tiles_per_side is None:
        view, ids = WithRegionLabels(dataset, region_labels, mode), labelled
    else:
        view = RegionMosaics(dataset, region_labels, mode, tiles_per_side)
        ids = np.concatenate([np.setdiff1d(labelled, view.partly_labelled_ids), view.canvas_ids])
    return view, ids, view.labelled_share(ids) if sampling == "pixels" else None


class Tile(NamedTuple):
    """One tile of a mosaic: where it is cut from, and the labelled pixels it owns.

    Attributes:
        image: The global id it is cut from.
        top, left: The tile's window in that image (its top row and left column).
        positions: ``[L]`` flat positions, within the tile, of the labelled pixels it owns.
        values: ``[L]`` uint8 the oracle's answers at those positions.
    """

    image: int
    top: int
    left: int
    positions: np.ndarray
    values: np.ndarray


class RegionMosaics(WithRegionLabels):
    """``dataset`` whose partly labelled images train as tiles in mosaics (see the module).

    Args:
        dataset: A segmentation dataset with ``read``, ``read_image``, ``region_map`` and ``transformed``.
        region_labels: Which regions of which images are labelled.
        mode: How the oracle answers a region: ``'dominant'`` or ``'exact'``.
        tiles_per_side: ``t``: tiles of ``H/t x W/t``, ``t * t`` to a canvas.
    """

    def __init__(self, dataset, region_labels: RegionLabels, mode: str, tiles_per_side: int):
        super().__init__(dataset, region_labels, mode)
        self.tiles_per_side = tiles_per_side
        tiles: List[Tile] = []
        images = sorted(self.labelled)
        self.canvas_shape = self.answers[images[0]][0] if images else (0, 0)  # every image has one size
        for image in images:
            tiles += self._tiles(image)
        per_canvas = tiles_per_side * tiles_per_side
        self.canvases = [tiles[i:i + per_canvas] for i in range(0, len(tiles), per_canvas)]

    def _tiles(self, image: int) -> List[Tile]:
        """The tiles of ``image``'s labelled regions, region after region."""
        answer, regions, tiles = self.cached_answer(image), self.dataset.region_map(image), []
        for region in self.labelled[image]:
            for cell in covering_tiles(regions == region, self.tile_shape):
                rows, cols, owned = tile_window(cell, self.tile_shape, answer.shape)
                patch = np.where(owned & (regions[rows, cols] == region), answer[rows, cols], IGNORE).ravel()
                positions = np.flatnonzero(patch != IGNORE)
                tiles.append(Tile(image, rows.start, cols.start, positions, patch[positions]))
        return tiles

    @property
    def tile_shape(self) -> Tuple[int, int]:
        return self.canvas_shape[0] // self.tiles_per_side, self.canvas_shape[1] // self.tiles_per_side

    @property
    def partly_labelled_ids(self) -> np.ndarray:
        """The images trained as tiles: those with labelled regions."""
        return np.array(sorted(self.labelled), dtype=np.int64)

    @property
    def canvas_ids(self) -> np.ndarray:
        """The ids of the canvases: ``len(dataset) + k``."""
        return np.arange(len(self.dataset), len(self.dataset) + len(self.canvases), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.dataset) + len(self.canvases)

    def canvas(self, k: int) -> Tuple[np.ndarray, np.ndarray]:
        """Canvas ``k`` before the pipeline: ``([H, W, 3] uint8 image, [H, W] uint8 label)``."""
        (height, width), (tile_h, tile_w) = self.canvas_shape, self.tile_shape
        image = np.zeros((height, width, 3), dtype=np.uint8)
        label = np.full((height, width), IGNORE, dtype=np.uint8)
        sources = {}
        for slot, tile in enumerate(self.canvases[k]):
            if tile.image not in sources:
                sources[tile.image] = self.dataset.read_image(tile.image)
            row, col = divmod(slot, self.tiles_per_side)
            place = (slice(row * tile_h, (row + 1) * tile_h), slice(col * tile_w, (col + 1) * tile_w))
            image[place] = sources[tile.image][tile.top:tile.top + tile_h, tile.left:tile.left + tile_w]
            patch = np.full(tile_h * tile_w, IGNORE, dtype=np.uint8)
            patch[tile.positions] = tile.values
            label[place] = patch.reshape(tile_h, tile_w)
        return image, label

    def labelled_share(self, ids: Sequence[int]) -> np.ndarray:
        """``[N]`` the share of each id's pixels that trains; a canvas's labelled pixels over its pixels."""
        first, area = len(self.dataset), self.canvas_shape[0] * self.canvas_shape[1]
        return np.array([sum(len(tile.positions) for tile in self.canvases[i - first]) / area if i >= first
                         else super(RegionMosaics, self).labelled_share([i])[0] for i in map(int, ids)])

    def load(self, idx: int, train: bool = False, with_target: bool = True) -> dict:
        if idx < len(self.dataset):
            return super().load(idx, train, with_target)
        image, label = self.canvas(idx - len(self.dataset))
        return self.dataset.transformed(image, label, idx, train)
