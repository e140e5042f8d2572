"""Loading, checking and saving experiment configs (mmengine ``Config``).

A run folder keeps its merged config twice: ``config.py`` to read and rerun,
and ``config.json`` as data. segal's tools read a run folder's ``config.json``
as JSON and never execute its ``config.py``: run folders are shared between
people. A leaf ``.py`` config that a user writes is Python and runs as such.
"""
import hashlib
import json
from pathlib import Path
from typing import List, Optional, Tuple

from mmengine.config import Config

from .config_check import REQUIRED_KEYS, ConfigError, validate_config
from .config_options import OptionError, check_option_key, check_plain_keys
from .utils.io import atomic_write_text, read_json
from .utils.run_paths import RunPaths

# Keys a resumed run may change: extending a finished run by more steps.
RESUMABLE_CHANGES = ("protocol.num_steps", "work_dir")
# Keys that change how a run is executed or shown, not what it computes.
RUNTIME_KEYS = ("work_dir", "device", "dist", "loop.progress", "loop.tensorboard", "loop.num_workers",
                "train.num_workers", "loop.keep_checkpoints", "train.checkpoint_interval", "dataset.generate")
#: Keys left out of a run's identity (its config hash): runs that differ only in them are the same experiment
#: (``protocol.num_steps``: a run extended by more steps; ``seed``: recorded beside the hash).
IDENTITY_EXCLUDED = RUNTIME_KEYS + ("protocol.num_steps", "seed")
#: Sections that name what they build with a ``type``.
TYPED_SECTIONS = ("dataset", "protocol", "model", "scorer")


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """Reads a config file, applies ``--cfg-options`` and checks every key.

    A ``.py`` config is Python that the user wrote: it runs, as any mmengine
    config does. A run's ``config.json`` is data: it is parsed as JSON, never
    passed to a loader that acts on keys such as ``_base_`` or
    ``custom_imports``, and such keys are refused (:func:`read_config_data`).
    Other file kinds are refused.

    Args:
        path: A ``.py`` config, or a run folder's ``config.json``.
        cfg_options: ``{dotted key: value}`` overrides; keys are checked
            (:func:`~segal.config_options.check_option_key`) before they are applied.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: The file has a syntax error, a required top-level key is
            missing, a key or value is not valid (see :func:`~segal.config_check.validate_config`),
            or the merged config cannot be saved (:func:`render_config`).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}{closest_file(path)}")
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        cfg = Config(read_config_data(path), filename=str(path))
    elif suffix == ".py":
        cfg = _load_python_config(path)
    else:
        raise ConfigError(f"{path}: a config is a .py file (Python, run as code) or a run's config.json (data); "
                          f"not a {suffix or 'file without a suffix'}")
    if cfg_options:
        _apply_options(cfg, cfg_options)
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        raise ConfigError(f"{path}: missing top-level keys {missing}; every config needs {list(REQUIRED_KEYS)}")
    validate_config(cfg)
    render_config(cfg)  # what cannot be saved is refused before any tool writes anything
    return cfg


def closest_file(path) -> str:
    """``"; did you mean 'configs/digits/x.py'?"`` for the closest existing file of that suffix, or ``""``.

    Looks in the file's folder, or, when the folder is missing too, in the nearest existing folder above it and below.
    """
    import difflib

    path = Path(path)
    folder = next((p for p in path.parents if p.is_dir()), Path("."))
    candidates = [str(p) for p in (folder.glob(f"*{path.suffix}") if folder == path.parent
                                   else folder.rglob(f"*{path.suffix}")) if p.is_file()][:5000]
    match = difflib.get_close_matches(str(path), candidates, n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _load_python_config(path: str) -> Config:
    try:
        return Config.fromfile(path)
    except SyntaxError as err:
        raise ConfigError(f"{err.filename if err.filename not in (None, '<unknown>') else path}:{err.lineno}: "
                          f"syntax error: {err.msg}") from None
    except (NameError, ImportError, TypeError, KeyError, AttributeError, ValueError, OSError) as err:
        raise ConfigError(f"{path}: cannot be read as a config: {type(err).__name__}: {err}") from None


def _apply_options(cfg: Config, cfg_options: dict) -> None:
    """Merges checked ``--cfg-options`` into ``cfg``; an interpreted key, even inside a value, is refused."""
    try:
        for key, value in cfg_options.items():
            check_option_key(key)
            check_plain_keys(value, "--cfg-options", f"{key}.")
    except OptionError as err:
        raise ConfigError(str(err)) from None
    try:
        cfg.merge_from_dict(dict(cfg_options))
    except (KeyError, TypeError, IndexError, AttributeError) as err:
        raise ConfigError(f"--cfg-options {', '.join(cfg_options)}: cannot be applied to the config "
                          f"({type(err).__name__}: {err})") from None


def read_config_data(path) -> dict:
    """A saved config (``config.json``) as plain data, checked for what the tools read before they validate.

    Raises:
        UnreadableFileError: It is not JSON.
        ConfigError: It is not an object, holds an interpreted key (``_base_``,
            ``custom_imports``, ...), or a section that must be a dict with a
            string ``type`` is not; the message names the file and the key.
    """
    saved = read_json(path)
    if not isinstance(saved, dict):
        raise ConfigError(f"{path} is not a segal config: it holds a {type(saved).__name__}, not an object")
    try:
        check_plain_keys(saved, str(path))
    except OptionError as err:
        raise ConfigError(str(err)) from None
    for section in REQUIRED_KEYS:
        if section not in saved:
            raise ConfigError(f"{path} is not a segal config: '{section}' is missing")
        if not isinstance(saved[section], dict):
            raise ConfigError(f"{path}: '{section}' must be an object, got {type(saved[section]).__name__}")
    for section in TYPED_SECTIONS:
        if not isinstance(saved[section].get("type"), str):
            raise ConfigError(f"{path}: '{section}.type' must be a string, got {saved[section].get('type')!r}")
    return saved


def render_config(cfg: Config) -> Tuple[str, str]:
    """The two saved forms of ``cfg``: ``(config.py text, config.json text)``.

    Call it before anything is written: a config that cannot be rendered is refused up front.

    Raises:
        ConfigError: The config cannot be written as Python or as JSON.
    """
    try:
        as_json = json.dumps(cfg.to_dict(), indent=2, sort_keys=True, allow_nan=False)
        as_python = cfg.pretty_text
    except (SyntaxError, ValueError, TypeError) as err:
        raise ConfigError(f"the merged config cannot be saved ({type(err).__name__}: {err}); "
                          f"check the --cfg-options keys and values") from None
    return as_python, as_json


def save_config(cfg: Config, folder: Path) -> None:
    """Writes the merged config into ``folder`` as data (``config.json``) and for people to read (``config.py``),
    each atomically, where a run folder keeps them (:class:`~segal.utils.run_paths.RunPaths`)."""
    paths = RunPaths(folder)
    as_python, as_json = render_config(cfg)
    atomic_write_text(paths.config_path, as_json)
    atomic_write_text(paths.config_py_path, as_python)


def read_run_config(work_dir) -> dict:
    """The merged config a run folder saved, read as data from its ``config.json`` (no code runs).

    Raises:
        FileNotFoundError: The folder has no ``config.json``.
        UnreadableFileError, ConfigError: It is not valid JSON or not a config (see :func:`read_config_data`).
    """
    path = RunPaths(work_dir).config_path
    if not path.is_file():
        raise FileNotFoundError(f"{work_dir} is not a segal run folder: {path.name} is missing")
    return read_config_data(path)


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
    kept = _without(config, IDENTITY_EXCLUDED)
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
    if not RunPaths(work_dir).config_path.is_file():
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
            f"cannot resume: the config differs from {RunPaths(work_dir).config_path} in {', '.join(diffs)}; "
            f"only {', '.join(RESUMABLE_CHANGES)} and the runtime settings ({', '.join(RUNTIME_KEYS[1:])}) "
            f"may change on --resume"
        )
