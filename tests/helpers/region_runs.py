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
