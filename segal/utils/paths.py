"""Relative paths in configs and experiment files: where they are looked up."""
from pathlib import Path
from typing import Optional


def find_relative(path: str, anchor_file: Optional[str] = None) -> Optional[Path]:
    """Where a relative path exists: in the current folder, else in the nearest folder above ``anchor_file``.

    The shipped configs and experiments name paths from the checkout's root
    (``data/synthetic_city``, ``configs/digits/...``); looking above the file
    that names them lets the tools run from any current folder.

    Args:
        path: A path as a config or experiment file names it.
        anchor_file: The file that names it.

    Returns:
        ``path`` itself if it is absolute or exists from the current folder, the
        path found above ``anchor_file``, or ``None`` if it exists nowhere.
    """
    if Path(path).is_absolute() or Path(path).exists():
        return Path(path)
    if anchor_file:
        for folder in Path(anchor_file).resolve().parents:
            if (folder / path).exists():
                return folder / path
    return None
