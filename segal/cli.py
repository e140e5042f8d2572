"""Shared command-line plumbing for the scripts in ``tools/``.

This module imports nothing heavy, so that ``--help`` answers at once: the
tools parse their arguments first and import torch and the rest of segal after.
"""
import argparse
import contextlib
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Iterator

from .config_options import OptionError, parse_cfg_options
from .errors import SegalError, one_line
from .utils.logs import setup_console_logging as setup_logging  # noqa: F401  the tools' name for it

#: Errors that mean the user asked for something segal cannot do (or the machine refused it: a read-only
#: folder, a full disk, memory); tools print them as one line, and the traceback only with --debug. Any other
#: exception is a bug in segal: its traceback is shown, with a line asking to report it.
USER_ERRORS = (SegalError, OSError, MemoryError)


class CfgOptionsAction(argparse.Action):
    """``--cfg-options KEY=VALUE ...`` (see :mod:`segal.config_options`): values keep their spaces, and
    interpreted keys such as ``_base_`` are refused with one line."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if "=" not in item:
                parser.error(f"{option_string} takes KEY=VALUE pairs, e.g. scorer.type=Entropy; got {item!r}")
        try:
            options = parse_cfg_options(values)
        except OptionError as err:
            exit_on_error(err)
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest, None) or {}), **options})


def add_cfg_options(parser: argparse.ArgumentParser) -> None:
    """Adds ``--cfg-options``."""
    parser.add_argument(
        "--cfg-options",
        nargs="+",
        action=CfgOptionsAction,
        default={},
        metavar="KEY=VALUE",
        help="override config entries, e.g. scorer.type=Entropy protocol.num_steps=5 device=cpu "
             "(lists as KEY=[a,b] or KEY=a,b)",
    )


def tool_parser(description: str, usage_example: str = "") -> argparse.ArgumentParser:
    """A parser with ``--debug``; ``usage_example`` is shown under ``--help``."""
    parser = argparse.ArgumentParser(
        description=description, epilog=usage_example or None, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debug", action="store_true", help="on an error, show the full traceback")
    return parser


def base_parser(description: str, usage_example: str = "") -> argparse.ArgumentParser:
    """A :func:`tool_parser` with the CONFIG argument, ``--cfg-options`` and ``--import``."""
    parser = tool_parser(description, usage_example)
    parser.add_argument("config", help="config file, e.g. configs/digits/mlp_entropy_balanced.py, or a run's "
                                       "config.json")
    add_cfg_options(parser)
    add_plugin_imports(parser)
    return parser


def add_plugin_imports(parser: argparse.ArgumentParser) -> None:
    """Adds ``--import MODULE`` (repeatable): a module of the user's that registers datasets, models or scorers."""
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                        help="import MODULE first, so the config can name the datasets, models or scorers it "
                             "registers (installed packages' segal.plugins entry points are imported anyway)")


def add_launcher(parser: argparse.ArgumentParser) -> None:
    """Adds ``--launcher {none,pytorch}``."""
    parser.add_argument("--launcher", choices=["none", "pytorch"], default="none",
                        help="'pytorch': one of several processes started by torchrun (tools/dist_train.sh); "
                             "'none' (default): a single process")


def counted(n: int, noun: str) -> str:
    """``'1 task'``, ``'3 tasks'``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def default_work_dir(config_path: str) -> str:
    """``work_dirs/<config file stem>``."""
    return str(Path("work_dirs") / Path(config_path).stem)


def beside_checkpoint(checkpoint: str, name: str) -> str:
    """``<run dir>/<name>`` for ``<run dir>/checkpoints/step_1.pth``, else ``<checkpoint's folder>/<name>``."""
    from .utils.run_paths import RunPaths

    checkpoint = Path(checkpoint).resolve()
    return str((RunPaths.root_of_checkpoint(checkpoint) or checkpoint.parent) / name)


#: Errors that depend only on the command line and the files it names, so every rank on rank 0's node meets the
#: same one: rank 0 alone prints them (ranks on other nodes, whose files may differ, print theirs). Named, so that
#: this module imports nothing heavy.
INPUT_ERRORS = ("ConfigError", "OptionError", "FileNotFoundError", "DatasetFilesNotFound", "RunStateError",
                "ChecksumMismatch", "UnreadableFileError")

#: Seconds a silent rank waits for rank 0 to print an input error and exit (torchrun then stops the others).
SILENT_RANK_GRACE_S = 30


def _rank() -> int:
    """This process's rank under torchrun (from its environment), 0 otherwise."""
    rank = os.environ.get("RANK", "0")
    return int(rank) if rank.isdigit() else 0


def _rank_suffix() -> str:
    """`` (rank R)`` in a process torchrun started with several ranks, else nothing."""
    world = os.environ.get("WORLD_SIZE", "1")
    return f" (rank {os.environ.get('RANK', '?')})" if world.isdigit() and int(world) > 1 else ""


@contextlib.contextmanager
def errors_as_lines(debug: bool = False) -> Iterator[None]:
    """Runs a tool's body: user errors become one line (:func:`exit_on_error`), bugs keep their traceback.

    Out of memory counts as a user error (a batch size to lower), and so does a
    failed collective under torchrun (another rank failed or hung first, and
    says why). Anything else not in :data:`USER_ERRORS` is printed with its
    traceback and a line asking for a report, and the tool exits with status 1.
    """
    try:
        yield
    except USER_ERRORS as err:
        exit_on_error(err, debug)
    except RuntimeError as err:
        if debug:
            raise
        if "torchvision::" in str(err) and "does not exist" in str(err):
            exit_on_error(RuntimeError(torch_pair_mismatch()))
        if _in_collective(err):  # another rank failed or hung; its own message says why
            exit_on_error(RuntimeError(f"a collective operation failed ({one_line(err)[:200]}); another process "
                                       f"probably failed first: see its message"))
        if type(err).__name__ != "OutOfMemoryError":  # torch.OutOfMemoryError, named so torch is not imported
            _report_bug()
        what = one_line(err).split(" Tried to allocate")[0].rstrip(". ")
        exit_on_error(RuntimeError(f"{what}; lower train.batch_size, train.eval_batch_size or loop.score_batch_size"))
    except Exception:  # noqa: BLE001  anything else is a bug: show it whole
        _report_bug()


def torch_pair_mismatch() -> str:
    """One line naming the installed torch and torchvision and the pair to install (torchvision 0.N goes with
    torch 2.(N - 15): 0.29 with 2.14, 0.28 with 2.13)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        torch_version, vision_version = version("torch"), version("torchvision")
    except PackageNotFoundError as err:
        return f"{err.name} is not installed; pip install torch torchvision"
    minor = int(torch_version.split(".")[1])
    base = torch_version.split("+")[0]
    return (f"torch {torch_version} and torchvision {vision_version} do not work together (their compiled operators "
            f"differ); install a matching pair from one index, e.g. pip install torch=={base} "
            f"torchvision==0.{minor + 15}.*")


def _in_collective(err: BaseException) -> bool:
    """Whether ``err`` was raised inside torch.distributed (a collective whose peer failed, or timed out)."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "torch/distributed/" in Path(frames[-1].filename).as_posix()


def _report_bug() -> None:
    traceback.print_exc()
    sys.stderr.write(f"error{_rank_suffix()}: this is a bug in segal, not in your input; please report it to the "
                     f"maintainers with the traceback above and the command you ran\n")
    raise SystemExit(1)


def exit_on_error(err: Exception, debug: bool = False) -> None:
    """Prints a user-facing error as one line and exits with status 1; with ``debug``, re-raises it."""
    if debug:
        raise err
    if _rank() > 0 and os.environ.get("GROUP_RANK", "0") == "0" and type(err).__name__ in INPUT_ERRORS:
        # The ranks on rank 0's node meet the same input error and rank 0 says it. Exiting at once would make
        # torchrun stop rank 0, perhaps before it has printed, and report this rank as the first failure.
        time.sleep(SILENT_RANK_GRACE_S)
        raise SystemExit(1)
    sys.stderr.write(f"error{_rank_suffix()}: {one_line(err)}\n")  # one write: ranks' lines cannot interleave
    sys.stderr.flush()
    raise SystemExit(1)
