"""What a run continues from: the pool, the region labels, the records and the kept checkpoints."""
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..data.pool import ActivePool
from ..data.region_pool import RegionLabels


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
