"""Annotation tools in virtual environments of their own, so their pins never constrain segal's.

Each environment is built once from the package index under
``$SEGAL_TOOL_ENVS`` (default ``~/.cache/segal/tool-envs``) and reused while its
requirements and constraints stay the same. ``.ci/run`` builds them before the
tests (``python tests/helpers/tool_envs.py``), so a failed build shows as such;
``--rebuild`` builds them from scratch, as a fresh install would.

A tool's own pin is not enough: ``label-studio==1.23.2`` installed afresh
pulled a newer ``sentry-sdk`` that its server cannot start with. So every
package of a tool environment is pinned, in ``<tool>-constraints.txt`` beside
this file (a ``pip freeze`` of an environment that passed the tests); the
docs' install line uses the same file.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

#: The pinned packages of each tool environment.
TOOL_ENVS = {
    "label-studio": ["label-studio==1.23.2"],
    "datumaro": ["datumaro==1.13.12"],
}
MARKER = "segal-requirements.txt"
HERE = Path(__file__).resolve().parent


def constraints_file(name: str) -> Path:
    """Every package version of tool environment ``name``."""
    return HERE / f"{name}-constraints.txt"


def envs_root() -> Path:
    return Path(os.environ.get("SEGAL_TOOL_ENVS", Path.home() / ".cache" / "segal" / "tool-envs"))


def tool_python(name: str, rebuild: bool = False) -> Path:
    """The interpreter of tool environment ``name``, built first if it is missing, stale or ``rebuild`` is set.

    Raises:
        RuntimeError: pip could not install the requirements; the message holds pip's last lines.
    """
    constraints = constraints_file(name)
    requirements = "\n".join(TOOL_ENVS[name]) + "\n" + constraints.read_text()
    root = envs_root()
    folder = root / name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, across test processes and CI runs
        marker = folder / MARKER
        if not rebuild and marker.is_file() and marker.read_text() == requirements \
                and (folder / "bin" / "python").is_file():
            return folder / "bin" / "python"
        shutil.rmtree(folder, ignore_errors=True)  # a half-built environment has no marker: start again
        venv.EnvBuilder(with_pip=True).create(folder)
        install = subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                  *TOOL_ENVS[name], "--constraint", str(constraints)], capture_output=True, text=True)
        if install.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            tail = "\n".join((install.stdout + install.stderr).strip().splitlines()[-5:])
            raise RuntimeError(f"could not install {TOOL_ENVS[name]} into {folder}:\n{tail}")
        marker.write_text(requirements)
        return folder / "bin" / "python"


if __name__ == "__main__":
    rebuild = "--rebuild" in sys.argv
    for tool in [a for a in sys.argv[1:] if a != "--rebuild"] or TOOL_ENVS:
        print(f"tool environment {tool}: {tool_python(tool, rebuild)}", flush=True)
