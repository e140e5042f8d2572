"""The run mode: ``loop.oracle`` and ``dataset.regions`` parsed once, and asked instead of compared by name."""
import ast
import json
from pathlib import Path

import pytest

from segal.errors import InvalidValue
from segal.run_mode import ORACLES, RunMode

SEGAL = Path(__file__).resolve().parents[2] / "segal"


def mode_name_uses(path: Path) -> list:
    """Comparisons with an oracle's name, and reads of ``oracle`` from a config or state, in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = [c for o in operands for c in ([o] if isinstance(o, ast.Constant) else getattr(o, "elts", []))]
            if any(isinstance(c, ast.Constant) and c.value in ORACLES for c in constants):
                found.append(f"{path.name}:{node.lineno} compares with an oracle name")
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and node.args and isinstance(node.args[0], ast.Constant):
            key = node.args[0].value
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        if key == "oracle":
            found.append(f"{path.name}:{node.lineno} reads 'oracle' itself")
    return found


def test_no_run_mode_name_is_compared_outside_the_run_mode_module():
    uses = [use for path in sorted(SEGAL.rglob("*.py")) if path.name != "run_mode.py" for use in mode_name_uses(path)]
    assert not uses, "ask segal.run_mode.RunMode instead: " + "; ".join(uses)


def test_the_check_sees_each_kind_of_name_use(tmp_path):
    source = tmp_path / "module.py"
    source.write_text("a = x == 'annotators'\nb = y in ('simulated', 'other')\nc = cfg.get('oracle')\n"
                      "d = state['oracle']\ne = f'loop.oracle={x!r}'\n")
    assert [use.split(" ", 1)[0] for use in mode_name_uses(source)] == \
        ["module.py:1", "module.py:2", "module.py:3", "module.py:4"]


@pytest.mark.parametrize("oracle, regions, expected", [
    ("simulated", False, (True, False, None)),
    ("annotators", False, (False, True, None)),
    (dict(type="simulated", region_label="exact"), True, (True, False, "exact")),
    (dict(type="simulated"), True, (True, False, "dominant")),
    (dict(type="annotators"), True, (False, True, None)),  # annotators' files hold the regions' answers
    (None, False, (True, False, None)),
])
def test_a_mode_answers_what_the_code_asks(oracle, regions, expected):
    mode = RunMode.parse(oracle, regions)
    assert (mode.selects_in_loop, mode.labels_from_files, mode.trains_on_region_answers) == expected
    assert mode.labels_known == mode.selects_in_loop and mode.regions == regions


@pytest.mark.parametrize("oracle, named", [
    ("robots", "robots"), (dict(type="simulated", region_label="guess"), "guess"),
    (dict(kind="simulated"), "kind"), (dict(type="robots"), "robots"),
])
def test_a_bad_oracle_is_refused_by_name(oracle, named):
    with pytest.raises(InvalidValue, match=named):
        RunMode.parse(oracle)


def test_config_and_state_give_the_same_mode():
    config = {"loop": {"oracle": {"type": "annotators"}}, "dataset": {"regions": {"type": "Grid", "size": 16}}}
    state = {"oracle": "annotators", "regions": {}}
    assert RunMode.of_config(config) == RunMode.of_state(state) == RunMode("annotators", regions=True)
    assert RunMode.of_config({"loop": {}, "dataset": {}}) == RunMode.of_state({}) == RunMode()
    with pytest.raises(InvalidValue, match="'oracle' must be one of"):
        RunMode.of_state({"oracle": ["annotators"]})


@pytest.mark.parametrize("oracle", ["annotators", {"type": "annotators"}])
def test_a_report_counts_an_annotation_run_as_long_as_it_is_however_loop_oracle_is_written(tmp_path, oracle):
    """An annotation run has no planned length; ``dict(type='annotators')`` was once read as a simulated run."""
    from segal.reporting.runs import Run

    run = tmp_path / "run"
    run.mkdir()
    config = {"loop": {"oracle": oracle}, "dataset": {"type": "Digits"}, "scorer": {"type": "Random"},
              "protocol": {"type": "BalancedProtocol", "num_steps": 10}, "model": {"type": "MLPClassifier"},
              "train": {}}
    (run / "config.json").write_text(json.dumps(config))
    records = [{"step": s, "n_labelled": 10 * (s + 1), "accuracy": 0.5, "mistake_rate": None if s == 1 else 0.5,
                "selected_ids": [] if s == 1 else [s]} for s in range(2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    read = Run(run)
    assert read.planned_steps == 2 and read.finished
    config["loop"]["oracle"] = "simulated"
    (run / "config.json").write_text(json.dumps(config))
    assert Run(run).planned_steps == 11 and not Run(run).finished
