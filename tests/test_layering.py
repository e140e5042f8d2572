"""The structure of segal/: each part imports only the parts below it, so there is no import circle."""
import ast
from pathlib import Path

SEGAL = Path(__file__).resolve().parents[1] / "segal"

#: Bottom to top. A module may import its own part and the parts of lower layers, never a higher layer.
LAYERS = [
    {"errors"},
    {"settings", "run_mode"},
    {"utils"},
    {"registry", "config_options", "evaluation", "plugins"},
    {"config_check"},
    {"config", "data", "models"},
    {"scorers"},
    {"selection"},
    {"engine"},
    {"apis", "api", "spec"},
    {"annotation", "reporting", "experiments"},
    {"cli", "launch"},
    {"commands"},
]
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str:
    """``segal.engine.loop`` -> ``engine``; ``segal`` -> ``segal``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "segal"


def imports(path: Path, root: Path):
    """``(line, imported module)`` for every segal import in ``path`` (a file under ``root``), lazy ones too."""
    module = ".".join(path.relative_to(root.parent).with_suffix("").parts)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + [node.module]) if node.module else ".".join(base)
            if target.startswith("segal"):
                yield node.lineno, target
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith("segal"))


def upward_imports(root: Path) -> list:
    """Every import in the package at ``root`` that points from a part to a higher layer."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = part_of(".".join(path.relative_to(root.parent).with_suffix("").parts))
        if source in ("segal", "__init__"):
            continue
        for line, target in imports(path, root):
            imported = part_of(target)
            if imported != "segal" and LAYER_OF[imported] > LAYER_OF[source]:
                found.append(f"{path.relative_to(root.parent)}:{line} ({source}) imports {target} ({imported})")
    return found


def test_every_part_of_segal_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in SEGAL.iterdir() if p.suffix == ".py" or p.is_dir()}
    parts -= {"__init__", "__pycache__"}
    assert parts == set(LAYER_OF), f"place these in LAYERS: {sorted(parts ^ set(LAYER_OF))}"


def test_no_part_imports_a_higher_one():
    upward = upward_imports(SEGAL)
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import_even_a_lazy_one(tmp_path):
    fake = tmp_path / "segal"
    (fake / "scorers").mkdir(parents=True)
    (fake / "scorers" / "base.py").write_text("from ..utils.device import to_device\n\n\n"
                                              "def f():\n    from ..engine.inference import evaluate\n")
    assert upward_imports(fake) == ["segal/scorers/base.py:5 (scorers) imports segal.engine.inference (engine)"]


def test_state_json_is_opened_in_one_place():
    """engine/run_folder.py owns a run's state; engine/run_state.py is its schema; utils/run_paths.py names it.
    Nothing else opens the file."""
    owners = {SEGAL / "engine" / "run_folder.py", SEGAL / "engine" / "run_state.py", SEGAL / "utils" / "run_paths.py"}
    openers = []
    for path in sorted(SEGAL.rglob("*.py")):
        if path in owners:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = {getattr(n, "id", getattr(n, "attr", None)) for n in ast.walk(node)} if isinstance(node, ast.Call) else set()
            literal = isinstance(node, ast.Constant) and node.value == "state.json"
            if literal or names & {"read_run_state", "write_run_state"}:
                openers.append(f"{path.relative_to(SEGAL.parent)}:{node.lineno}")
    assert not openers, "state.json handled outside engine/run_folder.py: " + ", ".join(sorted(set(openers)))


def test_modules_and_functions_stay_small():
    """A module over about 350 lines or a function over about 50 (docstring included) is split before it grows."""
    too_long = []
    for path in sorted(SEGAL.rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > 360:
            too_long.append(f"{path.relative_to(SEGAL.parent)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 55:
                too_long.append(f"{path.relative_to(SEGAL.parent)}:{node.lineno} {node.name}: "
                                f"{node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "split these: " + "; ".join(too_long)


def test_ruff_lints_segal_data_and_skips_only_the_top_level_data_folder():
    """``extend-exclude`` names the checkout's own data/ and work_dirs/, not every folder called data."""
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "ruff", "check", "--show-files", "."], cwd=SEGAL.parent,
                           capture_output=True, text=True).stdout
    assert "segal/data/cityscapes.py" in shown and "segal/data/regions.py" in shown
    assert not any("/data/" in line and "segal/data/" not in line and "tests/data/" not in line
                   for line in shown.splitlines()), "the top-level data/ stays out"


def run_folder_paths(path: Path) -> list:
    """Lines of ``path`` that spell a run folder's files themselves: their names, or a folder of it joined by ``/``."""
    files = {"config.json", "config.py", "state.json", "metrics.jsonl", "plugins.json", ".lock"}
    folders = {"partial", "tensorboard", "checkpoints"}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        named = isinstance(node, ast.Constant) and node.value in files
        joined = isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) \
            and isinstance(node.right, ast.Constant) and node.right.value in folders
        parts = [part.value for part in getattr(node, "values", []) if isinstance(part, ast.Constant)]
        formatted = isinstance(node, ast.JoinedStr) and bool(parts) and (
            parts[0].startswith("selection_step") or (parts[0].startswith("step_") and parts[-1] == ".pth"))
        if named or joined or formatted:
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_every_path_in_a_run_folder_comes_from_its_layout():
    """utils/run_paths.py (RunPaths, which RunFolder extends) names config.json, .lock, partial/, checkpoints,
    selections and what lies beside them; nothing else spells them."""
    spelled = [f"{path.parent.name}/{place}" for path in sorted(SEGAL.rglob("*.py"))
               if path != SEGAL / "utils" / "run_paths.py" for place in run_folder_paths(path)]
    assert not spelled, "take these paths from RunPaths/RunFolder: " + ", ".join(spelled)


def test_the_layout_check_sees_each_spelling(tmp_path):
    fake = tmp_path / "segal"
    fake.mkdir()
    (fake / "m.py").write_text("a = root / 'partial'\nb = 'config.json'\nc = f'selection_step{n}.json'\n"
                               "d = {'partial': []}\ne = f'step_{n}.pth'\nf = f'step_{n}_{what}.npz'\n")
    assert run_folder_paths(fake / "m.py") == ["m.py:1", "m.py:2", "m.py:3", "m.py:5"]
