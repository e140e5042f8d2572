"""Shared command-line plumbing for the scripts in ``tools/``."""
import argparse
import logging
import sys
from pathlib import Path

from mmengine.config import DictAction


def base_parser(description: str) -> argparse.ArgumentParser:
    """A parser with the arguments every tool takes: CONFIG, --work-dir, --cfg-options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("config", help="config file, e.g. configs/digits/mlp_entropy_balanced.py")
    parser.add_argument("--work-dir", help="output folder (default: work_dirs/<config name>)")
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=DictAction,
        default={},
        metavar="KEY=VALUE",
        help="override config entries, e.g. scorer.type=Entropy protocol.num_steps=5",
    )
    return parser


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config file stem>``."""
    return str(Path("work_dirs") / Path(config_path).stem)


def setup_logging(verbose: bool = False) -> None:
    """Prints segal's progress messages to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("segal")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    logger.propagate = False


def exit_on_error(err: Exception) -> None:
    """Prints a user-facing error without a traceback and exits with status 1."""
    print(f"error: {err}", file=sys.stderr)
    raise SystemExit(1)
