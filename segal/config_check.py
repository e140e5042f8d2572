"""Checking every key of a config against what it builds, before anything is built or written.

A misspelt key is an error that names the key, its section and the closest
valid name; a value of the wrong type or a non-finite number is an error that
names the key and the value. Ranges that depend on one component (a negative
``step_fraction``, a ``minority_fraction`` that leaves no majority class) are
checked by that component's constructor.
"""
import dataclasses
import difflib
import inspect
import math
import numbers
import re
import typing
from typing import Any, Iterable

from mmengine.config import Config

from .errors import SegalError
from .registry import DATASETS, MODELS, OPTIMIZERS, PROTOCOLS, SCORERS, registered_names
from .settings import DistSettings, LoopSettings, TrainSettings

#: Top-level keys every config holds.
REQUIRED_KEYS = ("dataset", "protocol", "model", "scorer", "train", "loop")


class ConfigError(SegalError, ValueError):
    """A config is missing a key or cannot be used as asked."""


#: Devices a config may name (``torch.device`` strings segal runs on).
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|(cuda|xpu)(:\d+)?")
#: Top-level keys a config may hold besides :data:`REQUIRED_KEYS`; names starting with ``_`` are helpers.
OPTIONAL_KEYS = ("seed", "device", "work_dir", "dist")
#: Arguments a builder fills in itself, never taken from the config.
FILLED_BY_BUILDER = {"model": ("num_classes", "input_shape")}
#: Keys segal reads beside the constructor's arguments.
EXTRA_KEYS = {"model": ("load_from",)}


def _closest(name: str, valid: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _unknown_key(key: str, owner: str, valid: Iterable[str]) -> ConfigError:
    valid = sorted(valid)
    name = key.rsplit(".", 1)[-1]
    return ConfigError(
        f"config key '{key}': {owner} has no setting '{name}'{_closest(name, valid)} "
        f"(valid: {', '.join(valid)})"
    )


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether ``value`` fits a parameter annotation; unknown or container annotations accept anything."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Union:
        return any(_accepts(arg, value) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Union:
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    return "None" if annotation is type(None) else getattr(annotation, "__name__", str(annotation))


def _check_value(key: str, annotation: Any, value: Any) -> None:
    if not _accepts(annotation, value):
        raise ConfigError(
            f"config key '{key}': expected {_type_name(annotation)}, got {value!r} ({type(value).__name__})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key '{key}': must be a finite number, got {value!r}")


def _parameters(cls) -> dict:
    """Constructor parameters by name, with annotations resolved; ``None`` when it takes ``**kwargs``."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):
        hints = {}
    return {name: hints.get(name, p.annotation) for name, p in params.items()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def _check_section(section: str, entries: dict, cls, owner: str, tolerated: Iterable[str] = ()) -> None:
    """Checks ``entries`` (without ``type``) against the constructor of ``cls``.

    A class whose constructor takes ``**kwargs`` names the keys it accepts with
    a ``accepted_settings(cfg)`` classmethod; without one, its keys are not checked.
    """
    params = _parameters(cls)
    if params is None:
        if not hasattr(cls, "accepted_settings"):
            return
        params = dict.fromkeys(cls.accepted_settings(entries), inspect.Parameter.empty)
    filled, extra = FILLED_BY_BUILDER.get(section, ()), EXTRA_KEYS.get(section, ())
    for name, value in entries.items():
        key = f"{section}.{name}"
        if name == "type" or name in filled or name in extra:
            continue
        if name not in params:
            if name in tolerated:
                continue
            raise _unknown_key(key, owner, ["type"] + [p for p in params if p not in filled] + list(extra))
        _check_value(key, params[name], value)


def _check_registered(section: str, cfg: dict, registry) -> type:
    if not isinstance(cfg, dict) or "type" not in cfg:
        raise ConfigError(f"config key '{section}' must be a dict with a 'type' entry, got {cfg!r}")
    names = registered_names(registry)
    if cfg["type"] not in names:
        raise ConfigError(f"config key '{section}.type': unknown {registry.name} type {cfg['type']!r}"
                          f"{_closest(str(cfg['type']), names)} (registered: {', '.join(names)})")
    return registry.get(cfg["type"])


def _scorer_settings_of_any_scorer() -> set:
    """Settings that some registered scorer takes: switching ``scorer.type`` may leave them behind."""
    names = set()
    for name in registered_names(SCORERS):
        names |= set(_parameters(SCORERS.get(name)) or ())
    return names


def _check_settings(section: str, entries: dict, settings_cls) -> None:
    fields = {f.name: f.type for f in dataclasses.fields(settings_cls)}
    hints = typing.get_type_hints(settings_cls)
    for name, value in entries.items():
        if name not in fields:
            raise _unknown_key(f"{section}.{name}", f"the '{section}' section", fields)
        _check_value(f"{section}.{name}", hints.get(name, fields[name]), value)


def validate_config(cfg: Config) -> None:
    """Checks every section of ``cfg``; raises :class:`ConfigError` naming the first key at fault.

    Checked: unknown top-level keys and unknown keys in every section (with
    the closest valid name), registered ``type`` names, value types against
    the annotations of what each section builds, finite numbers, and the
    optimizer's settings.
    """

    valid_top = REQUIRED_KEYS + OPTIONAL_KEYS
    for key in cfg.keys():
        if key not in valid_top and not key.startswith("_"):
            raise ConfigError(f"unknown top-level config key '{key}'{_closest(key, valid_top)} "
                              f"(valid: {', '.join(valid_top)})")
    if not isinstance(cfg.get("seed", 0), int) or isinstance(cfg.get("seed", 0), bool):
        raise ConfigError(f"config key 'seed': expected int, got {cfg.get('seed')!r}")
    device = cfg.get("device", "auto")
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise ConfigError(f"config key 'device': expected 'auto', 'cpu', 'cuda', 'cuda:N', 'mps' or 'xpu:N', "
                          f"got {device!r}")
    # the plain settings first: they need no component module, so a typo there is reported before the heavy
    # imports that checking the components takes
    for section, settings_cls in (("train", TrainSettings), ("loop", LoopSettings), ("dist", DistSettings)):
        if section not in cfg:
            continue
        entries = {k: v.to_dict() if hasattr(v, "to_dict") else v for k, v in dict(cfg[section]).items() if k != "type"}
        _check_settings(section, entries, settings_cls)
        try:  # the ranges and choices each settings class checks
            settings_cls(**entries)
        except ValueError as err:
            raise ConfigError(str(err)) from None
    for section, registry in (("dataset", DATASETS), ("protocol", PROTOCOLS), ("model", MODELS), ("scorer", SCORERS)):
        entries = dict(cfg[section])
        cls = _check_registered(section, entries, registry)
        tolerated = _scorer_settings_of_any_scorer() if section == "scorer" else ()
        _check_section(section, entries, cls, cls.__name__, tolerated)
    optimizer = dict(cfg.train.get("optimizer", {"type": "Adam"}))
    optimizer_cls = _check_registered("train.optimizer", optimizer, OPTIMIZERS)
    _check_section("train.optimizer", {k: v for k, v in optimizer.items() if k != "params"}, optimizer_cls,
                   optimizer_cls.__name__)
    lr = optimizer.get("lr")
    if isinstance(lr, numbers.Real) and not lr > 0:
        raise ConfigError(f"config key 'train.optimizer.lr': must be > 0, got {lr!r}")
