"""``--cfg-options KEY=VALUE``: parsing the values and checking the keys; plain Python, no imports.

Values are read as mmengine's ``DictAction`` reads them (ints, floats,
``true``/``false``, ``None``, ``a,b`` and ``[a,b]`` lists, ``(a,b)`` tuples),
plus ``dict(key=value, ...)`` as the configs write it (parsed as data, never
evaluated), except that a value keeps its spaces: ``dataset.data_root=/x/city with spaces``
is that path. A quoted value (``'1'``) stays a string.

Keys are data, not instructions: a key must be a dotted path of plain names
(or list positions). Names that mmengine interprets when it reads a config
(``_base_``, ``_delete_``, ``custom_imports``, ...) and helper names starting
with ``_`` are refused, in ``--cfg-options`` and in a run's ``config.json``.
"""
import re
from typing import Any, Iterable, List, Optional

from .errors import SegalError

#: Keys that mmengine acts on when it reads or merges a config: importing modules, reading other files,
#: deleting what a base set. A run folder's ``config.json`` and ``--cfg-options`` never hold them.
INTERPRETED_KEYS = ("_base_", "_delete_", "_deprecation_", "_scope_", "custom_imports", "default_scope",
                    "filename", "text", "pretty_text", "env_variables")

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*|[0-9]+")


class OptionError(SegalError, ValueError):
    """A ``--cfg-options`` entry or a saved config key that segal does not accept."""


def interpreted_key(key: str) -> Optional[str]:
    """Why a config key is refused, or ``None`` when it is a plain name."""
    if key in INTERPRETED_KEYS:
        return f"'{key}' makes mmengine read files or import code"
    if key.startswith("_"):
        return f"'{key}' starts with '_' (mmengine's reserved and helper names)"
    return None


def check_option_key(key: str, where: str = "--cfg-options") -> None:
    """Checks a dotted ``--cfg-options`` key such as ``train.optimizer.lr``.

    Raises:
        OptionError: A part is empty, not a plain name, or an interpreted key; the message names it.
    """
    if not isinstance(key, str):
        raise OptionError(f"{where}: key {key!r} is not a string")
    for part in key.split("."):
        reason = interpreted_key(part)
        if reason is not None:
            raise OptionError(f"{where}: key '{key}' is not accepted: {reason}")
        if not _NAME.fullmatch(part):
            raise OptionError(f"{where}: key '{key}' is not a dotted name of letters, digits and '_' "
                              f"(e.g. train.optimizer.lr)")


def check_plain_keys(data: Any, where: str, path: str = "") -> None:
    """Refuses interpreted keys anywhere in a nested dict/list (a ``config.json``, a dict option value).

    Raises:
        OptionError: Naming ``where`` and the dotted key.
    """
    if isinstance(data, dict):
        for key, value in data.items():
            dotted = f"{path}{key}"
            reason = interpreted_key(key) if isinstance(key, str) else f"{key!r} is not a string"
            if reason is not None:
                raise OptionError(f"{where}: key '{dotted}' is not accepted: {reason}")
            check_plain_keys(value, where, dotted + ".")
    elif isinstance(data, (list, tuple)):
        for position, value in enumerate(data):
            check_plain_keys(value, where, f"{path}{position}.")


def _scalar(text: str) -> Any:
    """An unquoted, unbracketed value: int, float, bool, ``None``, else the text as given."""
    stripped = text.strip()
    for cast in (int, float):
        try:
            return cast(stripped)
        except ValueError:
            pass
    if stripped.lower() in ("true", "false"):
        return stripped.lower() == "true"
    if stripped == "None":
        return None
    return text


def _split_top_level(text: str) -> List[str]:
    """Splits at the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if depth < 0:
            raise OptionError(f"unbalanced brackets in {text!r}")
        if char == "," and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    if depth != 0:
        raise OptionError(f"unbalanced brackets in {text!r}")
    tail = text[start:]
    return parts + ([tail] if tail.strip() else [])


def parse_option_value(text: str) -> Any:
    """A ``--cfg-options`` value: a number, bool, ``None``, list, tuple or string (spaces kept).

    Examples:
        >>> parse_option_value('3'), parse_option_value('[a, b]'), parse_option_value('/x/city with spaces')
        (3, ['a', 'b'], '/x/city with spaces')
    """
    stripped = text.strip()
    if stripped.startswith("dict(") and stripped.endswith(")"):
        return _dict_value(stripped)
    if stripped and stripped[0] in "([" and stripped[-1] == ")]"["([".index(stripped[0])]:
        items = [parse_option_value(item.strip()) for item in _split_top_level(stripped[1:-1])]
        return tuple(items) if stripped[0] == "(" else items
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    parts = _split_top_level(stripped) if "," in stripped else [stripped]
    if len(parts) > 1:
        return [parse_option_value(item.strip()) for item in parts]
    return _scalar(text)  # no top-level comma, e.g. f(a, b): a string


def _dict_value(text: str) -> dict:
    """``dict(type='SLIC', n_segments=60)`` -> ``{'type': 'SLIC', 'n_segments': 60}``: each item a plain
    ``name=value``, each value read by :func:`parse_option_value`.

    Raises:
        OptionError: An item is not ``name=value`` with a plain name.
    """
    entries = {}
    for item in _split_top_level(text[len("dict("):-1]):
        name, equals, value = item.strip().partition("=")
        name = name.strip()
        if not equals or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or interpreted_key(name):
            raise OptionError(f"cannot read {item.strip()!r} in {text!r}: dict(...) takes name=value items, "
                              f"e.g. dict(type='SLIC', n_segments=60)")
        entries[name] = parse_option_value(value)
    return entries


def parse_cfg_options(items: Iterable[str]) -> dict:
    """``['a.b=1', 'c=x y']`` -> ``{'a.b': 1, 'c': 'x y'}``; keys are checked, later entries win.

    Raises:
        OptionError: An entry has no ``=``, or its key is refused (see :func:`check_option_key`).
    """
    options = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals:
            raise OptionError(f"--cfg-options takes KEY=VALUE pairs, e.g. scorer.type=Entropy; got {item!r}")
        check_option_key(key)
        options[key] = parse_option_value(value)
    return options
