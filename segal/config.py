"""Loading, checking and saving experiment configs (mmengine ``Config``).

A run folder keeps its merged config twice: ``config.py`` to read and rerun,
and ``config.json`` as data. segal's tools read a run folder's ``config.json``
and never execute its ``config.py``: run folders are shared between people.
"""
import hashlib
import json
from pathlib import Path
from typing import List, Optional

from mmengine.config import Config

from .utils.io import atomic_write_text, read_json

REQUIRED_KEYS = ("dataset", "protocol", "model", "scorer", "train", "loop")
# Keys a resumed run may change: extending a finished run by more steps.
RESUMABLE_CHANGES = ("protocol.num_steps", "work_dir")
# Keys that change how a run is executed or shown, not what it computes.
RUNTIME_KEYS = ("work_dir", "device", "dist", "loop.progress", "loop.tensorboard", "loop.num_workers", "train.num_workers",
                "loop.keep_checkpoints", "train.checkpoint_interval")
RUN_CONFIG = "config.json"


class ConfigError(ValueError):
    """A config is missing a key or cannot be used as asked."""


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Reads a config file (``.py``, or a run's ``config.json``), applies ``--cfg-options`` and checks every key.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: The file has a syntax error, a required top-level key is
            missing, or a key or value is not valid (see :func:`~segal.config_check.validate_config`).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        cfg = Config.fromfile(path)
    except SyntaxError as err:
        raise ConfigError(f"{err.filename if err.filename not in (None, '<unknown>') else path}:{err.lineno}: "
                          f"syntax error: {err.msg}") from None
    except (NameError, ImportError, TypeError, KeyError, AttributeError, ValueError, OSError) as err:
        raise ConfigError(f"{path}: cannot be read as a config: {type(err).__name__}: {err}") from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{path}: missing top-level keys {missing}; every config needs {list(REQUIRED_KEYS)}")
    from .config_check import validate_config  # it builds on this module

    validate_config(cfg)
    return cfg


def save_config(cfg: Config, path: Path) -> None:
    """Writes the merged config as a Python config file and, beside it, as ``config.json``; each atomically."""
    path = Path(path)
    atomic_write_text(path.with_name(RUN_CONFIG), json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
    atomic_write_text(path, cfg.pretty_text)


def read_run_config(work_dir) -> dict:
    """The merged config a run folder saved, read as data from its ``config.json`` (no code runs).

    Raises:
        FileNotFoundError: The folder has no ``config.json``.
        ValueError: It is not valid JSON or not a config.
    """
    path = Path(work_dir) / RUN_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{work_dir} is not a segal run folder: {RUN_CONFIG} is missing")
    saved = read_json(path)
    if not isinstance(saved, dict) or "scorer" not in saved:
        raise ConfigError(f"{path} is not a segal config")
    return saved


def _without(config: dict, dotted_keys) -> dict:
    config = json.loads(json.dumps(config))
    for key in dotted_keys:
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(leaf, None)
    return config


def config_hash(config: dict) -> str:
    """A short hash of what a config computes: every key except :data:`RUNTIME_KEYS` and ``protocol.num_steps``.

    Checkpoints and run states carry it, so a tool can tell a checkpoint of
    another run from one of this run.
    """
    kept = _without(config, RUNTIME_KEYS + ("protocol.num_steps", "seed"))
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def config_differences(old: dict, new: dict, prefix: str = "") -> List[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    diffs = []
    for key in sorted(set(old) | set(new), key=str):
        name = f"{prefix}{key}"
        a, b = old.get(key, "<missing>"), new.get(key, "<missing>")
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += config_differences(a, b, f"{name}.")
        elif a != b:
            diffs.append(name)
    return diffs


def resume_conflicts(work_dir: Path, cfg: Config) -> List[str]:
    """Dotted keys in which ``cfg`` differs from the run in ``work_dir`` beyond what a resume may change.

    Empty when the folder holds no run yet, or only :data:`RESUMABLE_CHANGES`
    and :data:`RUNTIME_KEYS` differ; reads the run's ``config.json``.
    """
    if not (Path(work_dir) / RUN_CONFIG).is_file():
        return []
    saved = read_run_config(work_dir)
    allowed = set(RESUMABLE_CHANGES) | set(RUNTIME_KEYS)
    return [d for d in config_differences(saved, json.loads(json.dumps(cfg.to_dict())))
            if not any(d == key or d.startswith(key + ".") for key in allowed)]


def check_resumable(work_dir: Path, cfg: Config) -> None:
    """Refuses to resume a run with a config that differs in anything but :data:`RESUMABLE_CHANGES`
    and :data:`RUNTIME_KEYS`; reads the run's ``config.json``."""
    diffs = resume_conflicts(work_dir, cfg)
    if diffs:
        raise ConfigError(
            f"cannot resume: the config differs from {Path(work_dir) / RUN_CONFIG} in {', '.join(diffs)}; "
            f"only {', '.join(RESUMABLE_CHANGES)} may change on --resume"
        )
