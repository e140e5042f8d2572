"""The GPU recipe for real Cityscapes: each config builds and runs one tiny step on generated data; load_from."""
from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch

from segal.apis import run_experiment
from segal.config import load_config
from segal.data.synthetic_city import generate
from segal.models import SegmentationModel
from segal.models.pretrained import WeightsMismatch, load_pretrained
from segal.utils.io import load_torch_file

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted((REPO / "configs/cityscapes").glob("*_gpu.py"))


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory):
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("weights") / "resnet18_imagenet.pth"
    torch.save(smp.encoders.get_encoder("resnet18", weights=None).state_dict(), path)
    return path


def test_there_are_recipes():
    assert len(RECIPES) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("config", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_runs_one_tiny_step(config, encoder_file, tmp_path):
    root = generate(tmp_path / "city", num_train=8, num_val=2, height=32, width=64, progress=False)
    cfg = load_config(str(config), {
        "dataset.data_root": str(root), "model.load_from": str(encoder_file),
        "dataset.train_pipeline": [dict(type="RandomScale", scale_limit=(-0.5, 1.0), p=1.0),
                                   dict(type="PadIfNeeded", min_height=32, min_width=64, fill=0, fill_mask=255),
                                   dict(type="RandomCrop", height=32, width=64), dict(type="HorizontalFlip", p=0.5)],
        "protocol.initial_size": 4, "protocol.holdout_size": 2, "protocol.step_size": 2, "protocol.num_steps": 1,
        "train.max_epochs": 1, "train.num_workers": 0, "train.batch_size": 2,
        "loop.num_workers": 0, "loop.progress": False, "loop.tensorboard": False, "device": "cpu",
    })
    assert cfg.train.optimizer.type == "SGD" and cfg.train.poly_power == 0.9 and cfg.train.amp == "auto"
    records = run_experiment(cfg, tmp_path / "work")
    assert [r["n_labelled"] for r in records] == [4, 6]
    step0 = load_torch_file(tmp_path / "work" / "checkpoints" / "step_0.pth")["state_dict"]
    assert step0["trunk.encoder.conv1.weight"].shape == (64, 3, 7, 7)


def test_load_from_takes_a_whole_model_or_its_encoder(encoder_file, tmp_path):
    model = SegmentationModel(input_shape=(3, 64, 128), num_classes=19)
    assert load_pretrained(model, str(encoder_file)) == "encoder"
    expected = torch.load(encoder_file, weights_only=True)["conv1.weight"]
    assert torch.equal(model.trunk.encoder.conv1.weight, expected)
    torch.save({"state_dict": model.state_dict(), "meta": {}}, tmp_path / "run.pth")
    other = SegmentationModel(input_shape=(3, 64, 128), num_classes=19)
    assert load_pretrained(other, str(tmp_path / "run.pth")) == "model"
    assert all(torch.equal(a, b) for a, b in zip(other.state_dict().values(), model.state_dict().values()))


def test_load_from_refuses_weights_that_do_not_fit(tmp_path):
    model = SegmentationModel(input_shape=(3, 64, 128), num_classes=19)
    torch.save(smp.encoders.get_encoder("resnet34", weights=None).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(WeightsMismatch, match="r34.pth holds"):
        load_pretrained(model, str(tmp_path / "r34.pth"))
    with pytest.raises(FileNotFoundError, match="data_prep/encoder_weights.py"):
        load_pretrained(model, str(tmp_path / "missing.pth"))
