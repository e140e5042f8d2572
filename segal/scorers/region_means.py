"""A region's score as the mean of a scorer's per-pixel quantity over the region's pixels.

Computed in the pass that also gives the image score (the mean over all
pixels), an image's score is the area-weighted mean of its regions' scores.
Region maps are at the label's full resolution; where the scorer's map has
another size (a resizing test pipeline) they are sampled at its pixel centres
(nearest neighbour), and a region too small to own a pixel there gets its
image's mean.
"""
from typing import List, Sequence

import numpy as np
import torch


def sample_regions(regions: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """``[H, W]`` region ids sampled at the pixel centres of a ``shape = (h, w)`` grid (nearest neighbour)."""
    (height, width), (h, w) = regions.shape, tuple(shape)
    if (height, width) == (h, w):
        return regions
    rows = np.minimum(((np.arange(h) + 0.5) * height / h).astype(np.int64), height - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * width / w).astype(np.int64), width - 1)
    return regions[rows[:, None], cols[None, :]]


def segment_means(pixel_map: torch.Tensor, region_maps: Sequence[np.ndarray]) -> List[torch.Tensor]:
    """Each image's per-region mean of ``[B, h, w]`` ``pixel_map``: ``B`` float64 tensors of ``[R_i]``."""
    means = []
    for values, regions in zip(pixel_map, region_maps):
        count = int(regions.max()) + 1
        index = torch.from_numpy(sample_regions(regions, values.shape)).to(values.device).reshape(-1)
        flat = values.reshape(-1).double()
        sums = torch.zeros(count, dtype=torch.float64, device=values.device).index_add_(0, index, flat)
        areas = torch.bincount(index, minlength=count).double()
        means.append(torch.where(areas > 0, sums / areas.clamp(min=1), flat.mean()))
    return means
