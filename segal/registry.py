"""Registries of segal's buildable components.

Every component a config names by ``type`` is built through one of these
mmengine registries. :func:`build` wraps ``Registry.build`` so that an unknown
``type`` names the registry and lists what is registered in it.
"""
from typing import Any

from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import Registry

DATASETS = Registry("dataset", scope="segal", locations=["segal.data"])
PROTOCOLS = Registry("protocol", scope="segal", locations=["segal.data"])
MODELS = Registry("model", scope="segal", locations=["segal.models"])
SCORERS = Registry("scorer", scope="segal", locations=["segal.scorers"])
OPTIMIZERS = MMENGINE_OPTIMIZERS


class UnknownComponentError(KeyError):
    """A config asked for a ``type`` that its registry does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def registered_names(registry: Registry) -> list:
    """Returns the sorted names registered in ``registry``, importing its modules."""
    registry.import_from_location()
    if registry is OPTIMIZERS:
        import mmengine.optim  # noqa: F401  registers torch's optimizers
    return sorted(registry.module_dict)


def build(registry: Registry, cfg: dict, key: str = "", **default_args: Any) -> Any:
    """Builds ``cfg`` from ``registry`` with a clear error for an unknown type.

    Args:
        registry: The registry holding the component classes.
        cfg: A dict with a ``type`` entry and the constructor's keyword arguments.
        key: The config key ``cfg`` came from (for error messages), e.g. ``"scorer"``.
        **default_args: Arguments filled in where ``cfg`` does not set them.

    Raises:
        UnknownComponentError: ``cfg["type"]`` is not registered.
        ValueError: ``cfg`` has no ``type``.
    """
    where = f"config key '{key}'" if key else f"{registry.name} config"
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ValueError(f"{where} must be a dict with a 'type' entry, got {cfg!r}")
    names = registered_names(registry)
    if cfg["type"] not in names:
        raise UnknownComponentError(
            f"{where}: unknown {registry.name} type {cfg['type']!r}. "
            f"Registered {registry.name} types: {', '.join(names)}"
        )
    return registry.build(dict(cfg), default_args=default_args or None)
