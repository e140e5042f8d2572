"""Every third-party module that segal's code imports comes from a distribution pyproject.toml declares."""
import ast
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("segal", "tools", "data_prep", "benchmarks", "tests")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0])


def declared_distributions() -> set:
    """Names in ``[project] dependencies`` and every optional-dependency list of pyproject.toml."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    return {_requirement_name(r) for r in requirements}


def imported_modules():
    """``(top-level module, file:line)`` for every absolute import in the scanned folders."""
    local = ({p.stem for folder in SCANNED for p in (REPO / folder).rglob("*.py")} | set(SCANNED)
             | {p.parent.name for folder in SCANNED for p in (REPO / folder).glob("*/__init__.py")})
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        yield top, f"{path.relative_to(REPO)}:{node.lineno}"


def test_the_scan_sees_the_known_imports():
    modules = {module for module, _ in imported_modules()}
    assert {"torch", "cv2", "mmengine", "cityscapesscripts", "sklearn", "albumentations"} <= modules


def test_every_imported_module_is_declared():
    declared = declared_distributions()
    providers = packages_distributions()
    undeclared = {}
    for module, where in imported_modules():
        # A module not installed here (e.g. tomli, only for Python < 3.11) counts if a distribution of its name is declared.
        distributions = {_normalise(d) for d in providers.get(module, [module])}
        if not distributions & declared:
            undeclared.setdefault(module, []).append(where)
    assert not undeclared, (
        "imported but not provided by a distribution pyproject.toml declares: "
        + "; ".join(f"{m} (from {sorted(providers.get(m, ['not installed']))}) at {', '.join(w[:3])}"
                    for m, w in undeclared.items())
    )


def test_the_installed_metadata_matches_pyproject():
    """The installed segal declares what pyproject.toml declares (a stale install would hide a change)."""
    installed = {_requirement_name(r) for r in requires("segal") or []}
    assert installed == declared_distributions()


def test_one_opencv_distribution_provides_cv2():
    providers = packages_distributions().get("cv2", [])
    assert len(set(providers)) == 1, f"cv2 is written by {sorted(set(providers))}; declare exactly one"
    assert _normalise(providers[0]) == "opencv-python-headless", "segal runs on machines without a display"


@pytest.mark.slow
@pytest.mark.subprocess
def test_building_an_optimizer_imports_neither_transformers_nor_mmengine_optim():
    """mmengine.optim imports transformers whenever it is installed: seconds at every start, for nothing."""
    import subprocess

    code = ("import sys, torch; from segal.registry import OPTIMIZERS, build; import segal.apis, segal.annotation; "
            "build(OPTIMIZERS, dict(type='SGD', lr=0.1), params=[torch.nn.Parameter(torch.zeros(1))]); "
            "print(sorted(m for m in ('transformers', 'mmengine.optim') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
