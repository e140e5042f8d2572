"""Loading, checking and saving experiment configs (mmengine ``Config``)."""
from pathlib import Path
from typing import List, Optional

from mmengine.config import Config

from .utils.io import atomic_write_text

REQUIRED_KEYS = ("dataset", "protocol", "model", "scorer", "train", "loop")
# Keys a resumed run may change: extending a finished run by more steps.
RESUMABLE_CHANGES = ("protocol.num_steps", "work_dir")


class ConfigError(ValueError):
    """A config is missing a key or cannot be used as asked."""


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Reads a config file, applies ``--cfg-options`` overrides and checks the top-level keys.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: A required top-level key is missing.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{path}: missing top-level keys {missing}; every config needs {list(REQUIRED_KEYS)}")
    return cfg


def save_config(cfg: Config, path: Path) -> None:
    """Writes the merged config as a Python config file, atomically."""
    atomic_write_text(path, cfg.pretty_text)


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


def check_resumable(saved_path: Path, cfg: Config) -> None:
    """Refuses to resume a run with a config that differs in anything but :data:`RESUMABLE_CHANGES`."""
    if not saved_path.is_file():
        return
    saved = Config.fromfile(str(saved_path)).to_dict()
    diffs = [d for d in config_differences(saved, cfg.to_dict()) if d not in RESUMABLE_CHANGES]
    if diffs:
        raise ConfigError(
            f"cannot resume: the config differs from {saved_path} in {', '.join(diffs)}; "
            f"only {', '.join(RESUMABLE_CHANGES)} may change on --resume"
        )
