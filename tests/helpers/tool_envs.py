"""Annotation tools in virtual environments of their own, so their pins never constrain segal's.

Each environment is built once from the package index under
``$SEGAL_TOOL_ENVS`` (default ``~/.cache/segal/tool-envs``) and reused while its
requirements stay the same. ``.ci/run`` builds them before the tests
(``python tests/helpers/tool_envs.py``), so a failed build shows as such.
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


def envs_root() -> Path:
    return Path(os.environ.get("SEGAL_TOOL_ENVS", Path.home() / ".cache" / "segal" / "tool-envs"))


def tool_python(name: str) -> Path:
    """The interpreter of tool environment ``name``, built first if it is missing or stale.

    Raises:
        RuntimeError: pip could not install the requirements; the message holds pip's last lines.
    """
    requirements = "\n".join(TOOL_ENVS[name]) + "\n"
    root = envs_root()
    folder = root / name
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time, across test processes and CI runs
        marker = folder / MARKER
        if marker.is_file() and marker.read_text() == requirements and (folder / "bin" / "python").is_file():
            return folder / "bin" / "python"
        shutil.rmtree(folder, ignore_errors=True)  # a half-built environment has no marker: start again
        venv.EnvBuilder(with_pip=True).create(folder)
        install = subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                  *TOOL_ENVS[name]], capture_output=True, text=True)
        if install.returncode != 0:
            shutil.rmtree(folder, ignore_errors=True)
            tail = "\n".join((install.stdout + install.stderr).strip().splitlines()[-5:])
            raise RuntimeError(f"could not install {TOOL_ENVS[name]} into {folder}:\n{tail}")
        marker.write_text(requirements)
        return folder / "bin" / "python"


if __name__ == "__main__":
    for tool in sys.argv[1:] or TOOL_ENVS:
        print(f"tool environment {tool}: {tool_python(tool)}", flush=True)
