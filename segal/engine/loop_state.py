"""What a run continues from: the pool, the region labels, the records and the kept checkpoints."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..data.pool import ActivePool
from ..data.region_pool import RegionLabels
from ..run_mode import RunMode
from .run_state import STATE_FORMAT, restored_pool, restored_regions


@dataclass
class LoopState:
    """Everything :meth:`ActiveLoop.run` continues from: what :meth:`ActiveLoop.prepare` built or restored.

    Attributes:
        pool: Which split every id is in and when it was labelled.
        records: One record per committed step.
        protocol_info: What the protocol drew (kept in ``state.json``).
        checkpoint_sums: ``{checkpoint path relative to the run: SHA-256}`` of the kept checkpoints.
        regions: Which regions of partly labelled pool images are labelled (region mode), else ``None``.
    """

    pool: ActivePool
    records: List[dict]
    protocol_info: dict
    checkpoint_sums: Dict[str, str] = field(default_factory=dict)
    regions: Optional[RegionLabels] = None

    def annotated_ids(self, usable) -> np.ndarray:
        """Sorted ids the next stage trains on: labelled pool images (whole or some regions) that ``usable`` keeps."""
        if self.regions is None:
            return usable(self.pool.training_ids())
        return usable(np.union1d(self.pool.training_ids(), self.regions.images()))

    @classmethod
    def restored(cls, saved: dict, path: Path, region_dataset=None) -> "LoopState":
        """The state a checked ``state.json`` (read from ``path``) holds; with ``region_dataset`` (region mode),
        its region labels, each checked against the number of regions of its image in that dataset."""
        pool = restored_pool(saved)
        regions = None if region_dataset is None else restored_regions(
            saved, pool, path, lambda image: int(region_dataset.region_map(image).max()) + 1)
        return cls(pool, saved["records"], saved["protocol"], dict(saved.get("checkpoints", {})), regions)

    def saved(self, step: int, checkpoint: str, identity: dict, mode: RunMode) -> dict:
        """What ``state.json`` holds once step ``step`` is committed with ``checkpoint`` (relative to the run)."""
        return {
            "format": STATE_FORMAT,
            "seed": identity["seed"],
            "config_hash": identity["config_hash"],
            "oracle": mode.oracle,
            "completed_step": step,
            "checkpoint": checkpoint,
            "checkpoints": dict(self.checkpoint_sums),
            "protocol": self.protocol_info,
            "pool": self.pool.state_dict(),
            **({"regions": self.regions.state_dict()} if self.regions is not None else {}),
            "records": self.records,
        }
