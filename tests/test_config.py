from pathlib import Path

import pytest

from segal.config import REQUIRED_KEYS, ConfigError, config_differences, load_config
from segal.data import Digits
from segal.registry import MODELS, PROTOCOLS, SCORERS, UnknownComponentError, build, registered_names
from segal.spec import build_model

REPO = Path(__file__).resolve().parents[1]
# run configs; configs/experiments/ holds experiment grids (tests/experiments/test_grid.py loads each)
LEAF_CONFIGS = sorted(p for p in (REPO / "configs").rglob("*.py") if not {"_base_", "experiments"} & set(p.parts))


def test_there_are_leaf_configs_for_every_dataset():
    folders = {p.parent.name for p in LEAF_CONFIGS}
    assert {"digits", "mnist", "kmnist", "svhn", "cifar10"} <= folders


@pytest.mark.slow
@pytest.mark.parametrize("path", LEAF_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_config_has_the_top_level_keys_and_takes_scorer_override(path):
    cfg = load_config(str(path), {"scorer.type": "Entropy"})
    assert all(k in cfg for k in REQUIRED_KEYS)
    assert cfg.scorer.type == "Entropy"
    build(SCORERS, cfg.scorer, "scorer", lenient=True)  # as the tools build it: other scorers' settings dropped
    build(PROTOCOLS, cfg.protocol, "protocol")
    assert cfg.model.type in registered_names(MODELS)


@pytest.mark.slow
def test_paper_sizes_in_the_dataset_configs():
    initial = {"mnist": 50, "kmnist": 100, "svhn": 500, "cifar10": 5000}
    for name, size in initial.items():
        for path in (REPO / "configs" / name).glob("*.py"):
            assert load_config(str(path)).protocol.initial_size == size, path


def test_unknown_type_lists_registered_names():
    with pytest.raises(UnknownComponentError) as info:
        build(SCORERS, dict(type="Entropi"), "scorer")
    message = str(info.value)
    assert "'Entropi'" in message and "scorer" in message
    assert "Entropy" in message and "Random" in message


def test_model_takes_input_shape_and_classes_from_the_dataset():
    model = build_model(dict(type="MLPClassifier", hidden=8), Digits())
    assert model.trunk[1].in_features == 64 and model.head.out_features == 10


def test_missing_top_level_key_is_named(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("dataset = dict(type='Digits')\n")
    with pytest.raises(ConfigError, match="protocol"):
        load_config(str(path))


def test_config_differences_are_dotted_keys():
    assert config_differences({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 1, "c": 5}, "e": 3}) == ["a.c", "d", "e"]


def test_switching_scorer_drops_settings_the_new_one_does_not_take(caplog):
    cfg = load_config(str(REPO / "configs/svhn/resnet18_holdout-loss-change_balanced.py"), {"scorer.type": "Entropy"})
    with caplog.at_level("WARNING", logger="segal"):
        scorer = build(SCORERS, cfg.scorer, "scorer", lenient=True)
    assert type(scorer).__name__ == "Entropy"
    assert "scorer.lr" in caplog.text and "scorer.steps" in caplog.text
    with pytest.raises(TypeError):
        build(SCORERS, cfg.scorer, "scorer")


def test_segmentation_model_keys_are_checked_against_smp():
    """SegmentationModel passes extra keys to smp; they are checked against the architecture's arguments."""
    from segal.config import ConfigError, load_config

    config = "configs/cityscapes/deeplabv3plus-r18_random.py"
    with pytest.raises(ConfigError, match="'model.dropuot'.*did you mean 'dropout'"):
        load_config(config, {"model.dropuot": 0.1})
    assert load_config(config, {"model.decoder_aspp_dropout": 0.2}).model.decoder_aspp_dropout == 0.2
    with pytest.raises(ConfigError, match="decoder_aspp_dropout"):
        load_config(config, {"model.arch": "FPN", "model.decoder_aspp_dropout": 0.2})
