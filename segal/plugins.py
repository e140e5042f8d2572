"""A user's own datasets, models and scorers: code enters from installed packages or a module the user names,
never from a config file or a run folder.

Two ways register a class (with ``@DATASETS.register_module()`` and the other
registries of :mod:`segal.registry`) before a config names its ``type``:

* an installed package declares an entry point in the ``segal.plugins`` group,
  e.g. in its ``pyproject.toml``::

      [project.entry-points."segal.plugins"]
      my_datasets = "my_project.segal_plugin"

  and every tool imports it at start;
* ``--import MODULE`` on a tool imports that module (found on ``sys.path``,
  the current folder included).

A run records the plugin modules it was made with in ``plugins.json``. A tool
that reads the run again imports nothing from it: a recorded module must be
installed as an entry point or named again with ``--import``, or the tool
stops with one line naming it.
"""
import importlib
import json
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Dict, Iterable, List

from .errors import SegalError
from .utils.io import atomic_write_text, read_json
from .utils.run_paths import RunPaths

GROUP = "segal.plugins"

#: Plugin modules imported in this process: module name -> how (``entry point <name>`` or ``--import``).
_loaded: Dict[str, str] = {}


class PluginError(SegalError, ImportError):
    """A plugin module cannot be imported, or a run needs one that is not available."""


def _group_entry_points():
    found = entry_points()
    return found.select(group=GROUP) if hasattr(found, "select") else found.get(GROUP, [])


def load_plugins(modules: Iterable[str] = ()) -> Dict[str, str]:
    """Imports every installed ``segal.plugins`` entry point, then each module of ``modules``.

    Args:
        modules: Module names the user gave with ``--import``.

    Returns:
        Every plugin module imported so far in this process, with how it was found.

    Raises:
        PluginError: A module cannot be imported; the message names it and the error.
    """
    for point in _group_entry_points():
        module = point.value.split(":")[0].strip()
        _import(module, f"entry point {point.name}")
    if modules and "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))  # a module the user names may sit in the folder they work in
    for module in modules:
        _import(module, "--import")
    return dict(_loaded)


def _import(module: str, how: str) -> None:
    if module in _loaded:
        return
    try:
        importlib.import_module(module)
    except Exception as err:  # noqa: BLE001  any failure of the user's module is reported as one line
        raise PluginError(f"plugin module {module!r} ({how}) cannot be imported: {type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else 'no detail'}") from None
    _loaded[module] = how


def given_imports() -> tuple:
    """The modules imported with ``--import`` in this process (for worker processes to import too)."""
    return tuple(module for module, how in _loaded.items() if how == "--import")


def loaded_plugins() -> List[str]:
    """The plugin modules imported in this process, sorted."""
    return sorted(_loaded)


def record_plugins(work_dir: Path) -> None:
    """Writes the plugin modules of this process to the run's ``plugins.json`` (none: no file)."""
    if _loaded:
        atomic_write_text(RunPaths(work_dir).plugins_path, json.dumps({"modules": loaded_plugins()}, indent=2))


def check_run_plugins(work_dir: Path) -> None:
    """Refuses a run whose recorded plugin modules are not imported here; imports nothing itself.

    Raises:
        PluginError: A module the run was made with is neither an installed entry point nor given with
            ``--import``; the message names it.
    """
    path = RunPaths(work_dir).plugins_path
    if not path.is_file():
        return
    recorded = read_json(path, "a plugin record")
    modules = recorded.get("modules") if isinstance(recorded, dict) else None
    if not isinstance(modules, list) or not all(isinstance(m, str) for m in modules):
        raise PluginError(f"{path} is not a plugin record: expected {{\"modules\": [names]}}")
    missing = [module for module in modules if module not in _loaded]
    if missing:
        raise PluginError(f"{work_dir} was made with plugin module {missing[0]!r}, which is not loaded here; install "
                          f"its package (entry point group {GROUP}) or pass --import {missing[0]}")
