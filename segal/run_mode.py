"""What kind of run a config makes, parsed once: where its labels come from, and what a label covers.

``loop.oracle`` and ``dataset.regions`` decide it. Every part of segal asks a
:class:`RunMode` what it needs to know (does the loop select? are the labels
files that annotators deliver? does a step buy regions, and how does the
simulated oracle answer one?) instead of comparing names; this module is the
only place that knows the names.
"""
from dataclasses import dataclass
from typing import Mapping, Optional, Union

from .errors import InvalidValue

#: Where labels come from: the dataset's own labels (benchmarks) or annotators' files.
ORACLES = ("simulated", "annotators")
#: How the simulated oracle labels a region: its dominant true class everywhere, or its true labels.
REGION_LABELS = ("dominant", "exact")
SIMULATED, ANNOTATORS = ORACLES


@dataclass(frozen=True)
class RunMode:
    """One run's mode.

    Attributes:
        oracle: ``'simulated'`` or ``'annotators'`` (as ``state.json`` records it).
        region_label: How the simulated oracle answers a region (``'dominant'`` or ``'exact'``).
        regions: Whether a step labels regions (``dataset.regions``) instead of whole images.
    """

    oracle: str = SIMULATED
    region_label: str = "dominant"
    regions: bool = False

    def __post_init__(self):
        if self.oracle not in ORACLES:
            raise InvalidValue(f"loop.oracle must be one of {ORACLES}, got {self.oracle!r}")
        if self.region_label not in REGION_LABELS:
            raise InvalidValue(f"loop.oracle.region_label must be one of {REGION_LABELS}, got {self.region_label!r}")

    @classmethod
    def parse(cls, oracle: Union[str, Mapping, None], regions: bool = False) -> "RunMode":
        """The mode of ``loop.oracle`` (a name or ``dict(type=..., region_label=...)``).

        Raises:
            InvalidValue: An unknown name, key or region label.
        """
        if oracle is None:
            return cls(regions=regions)
        if isinstance(oracle, Mapping):
            unknown = set(oracle) - {"type", "region_label"}
            if unknown or "type" not in oracle:
                raise InvalidValue(f"loop.oracle must be a name or dict(type='simulated', "
                                   f"region_label='dominant'|'exact'), got {dict(oracle)!r}")
            return cls(oracle["type"], oracle.get("region_label", "dominant"), regions)
        return cls(oracle, regions=regions)

    @classmethod
    def of_config(cls, config: Mapping) -> "RunMode":
        """The mode of a merged config, as a dict (a run's ``config.json``) or an mmengine ``Config``."""
        loop, dataset = config.get("loop") or {}, config.get("dataset") or {}
        return cls.parse(loop.get("oracle"), regions=dataset.get("regions") is not None)

    @classmethod
    def of_state(cls, state: Mapping) -> "RunMode":
        """The mode a ``state.json`` records (states without ``oracle`` are simulated runs).

        Raises:
            InvalidValue: Its ``oracle`` names no oracle.
        """
        oracle = state.get("oracle", SIMULATED)
        if oracle not in ORACLES:
            raise InvalidValue(f"'oracle' must be one of {ORACLES}, got {oracle!r}")
        return cls(oracle, regions="regions" in state)

    @property
    def selects_in_loop(self) -> bool:
        """The loop selects and reveals labels itself and trains every planned step (a simulated run)."""
        return self.oracle == SIMULATED

    @property
    def labels_from_files(self) -> bool:
        """Annotators deliver label files between calls: each call trains one step, ``tools/select.py`` selects."""
        return self.oracle == ANNOTATORS

    @property
    def labels_known(self) -> bool:
        """Every pool label is on disk from the start, so costs can be measured on the true labels."""
        return self.selects_in_loop

    @property
    def trains_on_region_answers(self) -> Optional[str]:
        """How training sees a labelled region: the simulated oracle's answer (``region_label``), or ``None``
        when a step labels whole images or annotators' files hold the answers."""
        return self.region_label if self.regions and self.selects_in_loop else None
