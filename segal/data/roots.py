"""Where a config's relative ``dataset.data_root`` points."""
import logging
from pathlib import Path
from typing import Optional

logger = logging.getLogger("segal")


def resolve_data_root(data_root: str, config_file: Optional[str] = None) -> str:
    """The folder a relative data root names: in the current folder, else beside the config.

    A relative root is looked up in the current folder first (as in
    mmsegmentation), then in each folder above the config file, so that the
    shipped configs (``data/...``) find the checkout's ``data/`` from any
    current folder, and a run folder's ``config.json`` finds the data of the
    checkout it lies in. When neither holds it, the current folder's path is
    kept: the dataset then says which files must go there, or generates the
    synthetic city there.

    Args:
        data_root: ``dataset.data_root`` as configured.
        config_file: The config the root came from (``Config.filename``), if any.

    Returns:
        ``data_root`` itself, or the absolute path of the folder found beside the config.
    """
    if Path(data_root).is_absolute() or Path(data_root).exists() or not config_file:
        return data_root
    for folder in Path(config_file).resolve().parents:
        candidate = folder / data_root
        if candidate.is_dir():
            logger.info("dataset.data_root '%s' is not in the current folder; using %s, found above the config",
                        data_root, candidate)
            return str(candidate)
    return data_root
