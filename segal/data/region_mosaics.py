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
from typing import List, Optional, Tuple

import numpy as np

from .partial_labels import IGNORE, WithRegionLabels, partial_label
from .region_pool import RegionLabels

#: A tile: ``(image id, region id, top row and left column of its grid cell)``.
Tile = Tuple[int, int, int, int]


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
                        tiles_per_side: Optional[int] = None) -> Tuple[WithRegionLabels, np.ndarray]:
    """``(dataset, train ids)`` of a stage that trains on region labels: the partly labelled images whole, with
    the oracle's ``mode`` answers (``tiles_per_side=None``), or as the canvases of their tiles.

    Args:
        dataset: The run's segmentation dataset.
        region_labels: Which regions of which images are labelled.
        mode: ``'dominant'`` or ``'exact'``.
        labelled: ``[N]`` the ids the stage trains on: whole labelled images and partly labelled ones.
        tiles_per_side: ``loop.region_mosaic``.
    """
    if tiles_per_side is None:
        return WithRegionLabels(dataset, region_labels, mode), labelled
    mosaics = RegionMosaics(dataset, region_labels, mode, tiles_per_side)
    return mosaics, np.concatenate([np.setdiff1d(labelled, mosaics.partly_labelled_ids), mosaics.canvas_ids])


class RegionMosaics(WithRegionLabels):
    """``dataset`` whose partly labelled images train as tiles in mosaics (see the module).

    Args:
        dataset: A segmentation dataset with ``read``, ``region_map`` and ``transformed``.
        region_labels: Which regions of which images are labelled.
        mode: How the oracle answers a region: ``'dominant'`` or ``'exact'``.
        tiles_per_side: ``t``: tiles of ``H/t x W/t``, ``t * t`` to a canvas.
    """

    def __init__(self, dataset, region_labels: RegionLabels, mode: str, tiles_per_side: int):
        super().__init__(dataset, region_labels, mode)
        self.tiles_per_side = tiles_per_side
        tiles: List[Tile] = []
        images = sorted(self.labelled)
        self.canvas_shape = dataset.region_map(images[0]).shape if images else (0, 0)  # every image has one size
        for image in images:
            regions = dataset.region_map(image)
            tiles += [(image, int(region), top, left) for region in self.labelled[image]
                      for top, left in covering_tiles(regions == region, self.tile_shape)]
        per_canvas = tiles_per_side * tiles_per_side
        self.canvases = [tiles[i:i + per_canvas] for i in range(0, len(tiles), per_canvas)]

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
        for slot, (source, region, top, left) in enumerate(self.canvases[k]):
            row, col = divmod(slot, self.tiles_per_side)
            if source not in sources:
                (pixels, truth), regions = self.dataset.read(source), self.dataset.region_map(source)
                sources[source] = pixels, partial_label(truth, regions, self.labelled[source], self.mode), regions
            pixels, answer, regions = sources[source]
            rows, cols, owned = tile_window((top, left), self.tile_shape, answer.shape)
            owned &= regions[rows, cols] == region
            place = (slice(row * tile_h, (row + 1) * tile_h), slice(col * tile_w, (col + 1) * tile_w))
            image[place], label[place] = pixels[rows, cols], np.where(owned, answer[rows, cols], IGNORE)
        return image, label

    def load(self, idx: int, train: bool = False, with_target: bool = True) -> dict:
        if idx < len(self.dataset):
            return super().load(idx, train, with_target)
        image, label = self.canvas(idx - len(self.dataset))
        return self.dataset.transformed(image, label, idx, train)
