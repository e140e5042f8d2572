"""Pictures a person reads on their own: heat maps of a selection and prediction panels with a legend.

Each figure is drawn with matplotlib's Agg backend and written atomically.
"""
from pathlib import Path
from typing import Sequence

import numpy as np

from ..utils.io import atomic_write_bytes

#: Width of a figure in inches; at :data:`DPI` a panel is at least about 500 pixels wide.
FIGURE_WIDTH = 12.0
DPI = 100


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = DPI) -> None:
    """Writes ``fig`` as a PNG atomically and closes it."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    pyplot().close(fig)
    atomic_write_bytes(path, buffer.getvalue())


IMAGE_SUFFIX = "_leftImg8bit"  # dropped from figure names, as Cityscapes label files drop it


def image_stem(path: str) -> str:
    """``frankfurt_000000_000294`` for ``.../frankfurt_000000_000294_leftImg8bit.png``."""
    stem = Path(path).stem
    return stem[: -len(IMAGE_SUFFIX)] if stem.endswith(IMAGE_SUFFIX) else stem


def _panel_height(image: np.ndarray, panels: int) -> float:
    """Figure height in inches for ``panels`` side by side, keeping the image's aspect ratio."""
    height, width = image.shape[:2]
    return max(2.5, FIGURE_WIDTH / panels * height / width + 1.2)


def write_heatmap_figure(path: Path, image: np.ndarray, values: np.ndarray, title: str, quantity: str) -> None:
    """The image beside the per-pixel ``values`` laid over it, with a colour bar naming ``quantity``.

    Args:
        path: The PNG to write.
        image: ``[H, W, 3]`` uint8 RGB.
        values: ``[h, w]`` per-pixel values (shown stretched to the image).
        title: Figure title, e.g. rank, image name and score.
        quantity: What ``values`` are, for the colour bar label.
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, _panel_height(image, 2)), constrained_layout=True)
    extent = (0, image.shape[1], image.shape[0], 0)
    axes[0].imshow(image, extent=extent)
    axes[0].set_title("image")
    axes[1].imshow(image, extent=extent)
    overlay = axes[1].imshow(values, cmap="jet", alpha=0.6, extent=extent, interpolation="nearest")
    axes[1].set_title(f"drawn: {quantity}")
    for ax in axes:
        ax.set_axis_off()
    colour_bar = fig.colorbar(overlay, ax=axes[1], fraction=0.046, pad=0.02, shrink=0.9)
    colour_bar.formatter.set_useOffset(False)
    colour_bar.update_ticks()
    colour_bar.set_label(quantity, fontsize=9)
    fig.suptitle(title)
    save_figure(fig, path)


def write_prediction_figure(path: Path, image: np.ndarray, target: np.ndarray, pred: np.ndarray,
                            palette: np.ndarray, classes: Sequence[str], title: str,
                            ignore_index: int = 255) -> None:
    """Image | ground truth | prediction in the class palette, with a legend of the classes shown.

    Args:
        path: The PNG to write.
        image: ``[H, W, 3]`` uint8 RGB.
        target: ``[H, W]`` class ids, ``ignore_index`` where unlabelled.
        pred: ``[H, W]`` predicted class ids.
        palette: ``[256, 3]`` uint8 RGB colour per class id (``ignore_index`` included).
        classes: Class names, index = class id.
        title: Figure title, e.g. the image's name and its pixel accuracy.
        ignore_index: The label of unlabelled pixels, shown as "ignored".
    """
    from matplotlib.patches import Patch

    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(FIGURE_WIDTH, _panel_height(image, 3) + 0.4), constrained_layout=True)
    panels = (("image", image), ("ground truth", palette[target.astype(np.int64)]),
              ("prediction", palette[pred.astype(np.int64)]))
    for ax, (name, picture) in zip(axes, panels):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(name)
        ax.set_axis_off()
    shown = np.union1d(np.unique(target), np.unique(pred)).astype(np.int64)
    handles = [Patch(color=palette[c] / 255, label=classes[c] if c < len(classes) else "ignored")
               for c in shown if c < len(classes) or c == ignore_index]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), fontsize=9, frameon=False)
    fig.suptitle(title)
    save_figure(fig, path)


def write_region_figure(path: Path, image: np.ndarray, regions: np.ndarray, region_ranks: np.ndarray,
                        chosen: np.ndarray, title: str, scored_by: str) -> None:
    """The regions to label on the image, and every region coloured by its place in the selection's ranking.

    Ranks are the one unit every scorer shares (a tiered scorer such as Ours
    orders its exactly re-scored shortlist before its first-order scores), so
    the colour bar never mixes two quantities. Regions not chosen are drawn
    faded, so none looks as chosen as the chosen ones.

    Args:
        path: The PNG to write.
        image: ``[H, W, 3]`` uint8 RGB.
        regions: ``[H, W]`` region ids ``0 .. R-1``.
        region_ranks: ``[R]`` each region's rank percentile among the candidate regions (100: chosen first).
        chosen: The region ids to label.
        title: Figure title (rank, image name, how many regions).
        scored_by: What the ranking rests on, for the subtitle.
    """
    from skimage.segmentation import find_boundaries

    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, _panel_height(image, 2)), constrained_layout=True)
    extent = (0, image.shape[1], image.shape[0], 0)
    inside = np.isin(regions, chosen)
    to_label = find_boundaries(inside, mode="inner")
    shown = np.where(inside[..., None], image, (image * 0.35).astype(np.uint8))  # the rest dimmed, not covered
    shown[to_label] = (255, 255, 255)
    axes[0].imshow(shown, extent=extent, interpolation="nearest")
    axes[0].set_title(f"{len(chosen)} region{'s' if len(chosen) != 1 else ''} to label (outlined, the rest dimmed)",
                      fontsize=9)
    axes[1].imshow(image, extent=extent)
    alpha = np.where(inside, 0.85, 0.3)
    overlay = axes[1].imshow(region_ranks[regions], cmap="viridis", vmin=0, vmax=100, alpha=alpha, extent=extent,
                             interpolation="nearest")
    outline = np.zeros(regions.shape + (4,), np.float32)
    outline[to_label] = 1.0
    axes[1].imshow(outline, extent=extent, interpolation="nearest")
    axes[1].set_title(f"rank of every region (chosen ones opaque)\nscored by {scored_by}", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    colour_bar = fig.colorbar(overlay, ax=axes[1], fraction=0.046, pad=0.02, shrink=0.9)
    colour_bar.set_label("rank percentile among candidate regions (100 = first)", fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
