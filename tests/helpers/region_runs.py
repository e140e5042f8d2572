"""Small synthetic-city region runs: the config and the options the region tests share."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change-approx.py")


def options(data_root, **extra):
    """``--cfg-options`` of a 2-step region run on a generated city of 40 scenes (grid cells of 16 px, 12 regions a
    step, 2 epochs a stage), with ``extra`` on top."""
    base = {"dataset.data_root": str(data_root), "dataset.generate": True, "dataset.num_train": 40, "dataset.num_val": 6,
            "dataset.regions": dict(type="Grid", size=16), "protocol.initial_size": 4, "protocol.holdout_size": 4,
            "protocol.step_size": None, "protocol.budget": dict(unit="regions", per_step=12),
            "protocol.num_steps": 2, "train.max_epochs": 2, "train.patience": 1, "train.checkpoint_interval": 1,
            "loop.progress": False, "loop.score_batch_size": 8, "device": "cpu"}
    return {**base, **extra}


def grid_city(root):
    """A generated synthetic city of 12 pool scenes at 64x128, cut into grid cells of 16 px (4 x 8 regions)."""
    from segal.data import SyntheticCity

    return SyntheticCity(str(root), num_train=12, num_val=2, height=64, width=128, workers=1, generate=True,
                         regions=dict(type="Grid", size=16))


def labelled_regions(dataset, picks):
    """Region labels: ``{image: region ids}`` labelled at step 1."""
    import numpy as np

    from segal.data import ActivePool, Split
    from segal.data.region_pool import RegionLabels

    pool = ActivePool(np.where(dataset.is_test, Split.TEST, Split.POOL).astype(np.int8))
    regions = RegionLabels(pool)
    for image, chosen in picks.items():
        regions.label(image, chosen, 1, num_regions=int(dataset.region_map(image).max()) + 1)
    return regions
