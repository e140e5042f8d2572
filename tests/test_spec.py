"""One experiment spec: a config's seed, device, mode and settings are read in one place, by every tool alike."""
import ast
from pathlib import Path

import torch

from segal.config import load_config
from segal.run_mode import RunMode
from segal.spec import ExperimentSpec

REPO = Path(__file__).resolve().parents[1]
SEGAL = REPO / "segal"
#: Where a config's sections may be read into settings: the spec, the settings themselves, the config check, and
#: the launcher (below the spec's layer), which needs the device to start the process group.
READERS = {"spec.py", "settings.py", "config_check.py", "distributed.py"}


def settings_reads(path: Path) -> list:
    """Calls in ``path`` that rebuild a run's settings from a config: ``from_section``, or ``cfg.get('seed')`` and
    ``cfg.get('device')``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", getattr(node.func, "attr", None))
        key = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
        of_cfg = isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "cfg"
        if name == "from_section" or (name == "get" and of_cfg and key in ("seed", "device")):
            found.append((node.lineno, f"{path.name}:{node.lineno} {name}"))
    return [place for _, place in sorted(found)]


def test_only_the_spec_reads_a_run_s_settings_from_its_config():
    rebuilt = [read for path in sorted(SEGAL.rglob("*.py")) if path.name not in READERS for read in settings_reads(path)]
    assert not rebuilt, "take these from segal.spec.ExperimentSpec: " + ", ".join(rebuilt)


def test_the_check_sees_each_way_of_rebuilding_settings(tmp_path):
    source = tmp_path / "tool.py"
    source.write_text("a = from_section(LoopSettings, cfg.loop, 'loop')\nb = int(cfg.get('seed', 0))\n"
                      "c = resolve_device(cfg.get('device', 'auto'))\nd = cfg.get('classes')\n")
    assert [read.split(" ")[0] for read in settings_reads(source)] == ["tool.py:1", "tool.py:2", "tool.py:3"]


def test_a_spec_holds_what_the_config_says():
    cfg = load_config(str(REPO / "configs/synthetic_city/deeplabv3plus-r18_holdout-loss-change_regions.py"),
                      {"seed": 7, "device": "cpu", "loop.progress": True})
    spec = ExperimentSpec(cfg)
    assert (spec.seed, spec.device, spec.loop.progress) == (7, torch.device("cpu"), True)
    assert spec.mode == RunMode("simulated", "dominant", regions=True)
    assert spec.train.max_epochs == cfg.train.max_epochs and spec.identity["seed"] == 7
    replayed = ExperimentSpec(cfg, device="cpu", progress=False)
    assert replayed.loop.progress is False and replayed.identity == spec.identity


def test_the_spec_builds_its_dataset_once_and_a_fresh_model_each_time():
    cfg = load_config(str(REPO / "configs/digits/mlp_entropy_balanced.py"), {"device": "cpu"})
    spec = ExperimentSpec(cfg)
    assert spec.dataset is spec.dataset
    first, second = spec.build_model(), spec.build_model()
    assert first is not second and type(first) is type(second)
    assert type(spec.build_scorer()).__name__ == "Entropy"
