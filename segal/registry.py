"""Registries of segal's buildable components.

Every component a config names by ``type`` is built through one of these
mmengine registries. :func:`build` wraps ``Registry.build`` so that an unknown
``type`` names the registry and lists what is registered in it.
"""
import inspect
import logging
from typing import Any

from mmengine.registry import Registry

from .errors import InvalidValue, SegalError

DATASETS = Registry("dataset", scope="segal", locations=["segal.data"])
PROTOCOLS = Registry("protocol", scope="segal", locations=["segal.data"])
MODELS = Registry("model", scope="segal", locations=["segal.models"])
SCORERS = Registry("scorer", scope="segal", locations=["segal.scorers"])
# torch's optimizers, registered by segal itself: mmengine's optimizer registry would import mmengine.optim,
# which imports transformers when it is installed (seconds at every start) to register optimizers segal never uses.
OPTIMIZERS = Registry("optimizer", scope="segal")

logger = logging.getLogger("segal")


class UnknownComponentError(SegalError, KeyError):
    """A config asked for a ``type`` that its registry does not hold."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0])


def registered_names(registry: Registry) -> list:
    """Returns the sorted names registered in ``registry``, importing its modules."""
    registry.import_from_location()
    if registry is OPTIMIZERS and not registry.module_dict:
        _register_torch_optimizers()
    return sorted(registry.module_dict)


def _register_torch_optimizers() -> None:
    import torch

    for name in dir(torch.optim):
        candidate = getattr(torch.optim, name)
        is_optimizer = isinstance(candidate, type) and issubclass(candidate, torch.optim.Optimizer)
        if is_optimizer and candidate is not torch.optim.Optimizer:
            OPTIMIZERS.register_module(name=name, module=candidate)


def _drop_unknown_args(cls: type, cfg: dict, key: str) -> dict:
    """Removes the entries of ``cfg`` that ``cls`` does not accept, with a warning naming them."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return cfg
    unknown = [k for k in cfg if k != "type" and k not in params]
    if unknown:
        logger.warning("%s: %s takes no %s; ignored", key, cfg["type"], ", ".join(f"{key}.{k}" for k in unknown))
    return {k: v for k, v in cfg.items() if k not in unknown}


def effective_settings(registry: Registry, cfg: dict) -> dict:
    """The settings a component is built with from ``cfg``: ``type``, every entry its constructor takes,
    and the defaults of the arguments ``cfg`` leaves out. Entries it does not take are left out.
    """
    cls = registry.get(cfg["type"])
    settings = {"type": cfg["type"]}
    for name, param in inspect.signature(cls).parameters.items():
        if param.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        if name in cfg:
            settings[name] = cfg[name]
        elif param.default is not inspect.Parameter.empty:
            settings[name] = param.default
    return settings


def build(registry: Registry, cfg: dict, key: str = "", lenient: bool = False, **default_args: Any) -> Any:
    """Builds ``cfg`` from ``registry`` with a clear error for an unknown type.

    Args:
        registry: The registry holding the component classes.
        cfg: A dict with a ``type`` entry and the constructor's keyword arguments.
        key: The config key ``cfg`` came from (for error messages), e.g. ``"scorer"``.
        lenient: Drop, with a warning, arguments the chosen type does not take.
            Lets ``--cfg-options scorer.type=Entropy`` switch a config whose
            scorer section carries another scorer's settings.
        **default_args: Arguments filled in where ``cfg`` does not set them.

    Raises:
        UnknownComponentError: ``cfg["type"]`` is not registered.
        ValueError: ``cfg`` has no ``type``.
    """
    where = f"config key '{key}'" if key else f"{registry.name} config"
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise InvalidValue(f"{where} must be a dict with a 'type' entry, got {cfg!r}")
    names = registered_names(registry)
    if cfg["type"] not in names:
        raise UnknownComponentError(
            f"{where}: unknown {registry.name} type {cfg['type']!r}. "
            f"Registered {registry.name} types: {', '.join(names)}"
        )
    cfg = dict(cfg)
    if lenient:
        cfg = _drop_unknown_args(registry.get(cfg["type"]), cfg, key)
    return registry.build(cfg, default_args=default_args or None)
