"""Loaders that live as long as a training stage: epoch order, per-sample augmentation seeds, worker sets."""
import numpy as np
import pytest
import torch

from segal.data import Digits
from segal.data.cityscapes import SyntheticCity
from segal.data.loading import EpochShuffle, make_loader, make_train_loader
from segal.data.synthetic_city import generate
from segal.engine.train import train_stage
from segal.models import MLPClassifier
from segal.settings import TrainSettings
from segal.utils.precision import autocast_dtype


def test_epoch_shuffle_draws_each_epoch_from_seed_plus_epoch():
    sampler = EpochShuffle(50, seed=7)
    for epoch in (1, 2, 5):
        sampler.set_epoch(epoch)
        order = [position for position, _ in sampler]
        assert order == torch.randperm(50, generator=torch.Generator().manual_seed(7 + epoch)).tolist()
    first = [s for _, s in sampler]
    sampler.set_epoch(6)
    assert first != [s for _, s in sampler], "augmentation seeds change with the epoch"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = generate(tmp_path_factory.mktemp("city") / "c", num_train=8, num_val=2, height=32, width=64, progress=False)
    pipeline = [dict(type="RandomResizedCrop", size=(32, 64), scale=(0.3, 1.0), p=1.0), dict(type="HorizontalFlip", p=0.5)]
    return SyntheticCity(data_root=str(root), num_train=8, num_val=2, height=32, width=64, workers=1,
                         train_pipeline=pipeline)


def epoch_batches(dataset, num_workers, epoch):
    loader = make_train_loader(dataset, np.arange(8), batch_size=4, seed=3, num_workers=num_workers)
    loader.sampler.set_epoch(epoch)
    return [(b["id"].tolist(), b["inputs"].clone(), b["target"].clone()) for b in loader]


def test_augmentations_do_not_depend_on_the_number_of_workers(city):
    for epoch in (1, 2):
        alone, shared = epoch_batches(city, 0, epoch), epoch_batches(city, 2, epoch)
        for (ids_a, x_a, y_a), (ids_b, x_b, y_b) in zip(alone, shared):
            assert ids_a == ids_b and torch.equal(x_a, x_b) and torch.equal(y_a, y_b)
    assert not torch.equal(epoch_batches(city, 0, 1)[0][1], epoch_batches(city, 0, 2)[0][1])


@pytest.mark.slow
def test_one_set_of_workers_per_split_per_stage(city, monkeypatch):
    from torch.utils.data import dataloader

    started = []
    original = dataloader._MultiProcessingDataLoaderIter.__init__

    def counting(self, loader):
        started.append(loader.num_workers)
        original(self, loader)

    monkeypatch.setattr(dataloader._MultiProcessingDataLoaderIter, "__init__", counting)
    from segal.models import SegmentationModel

    torch.manual_seed(0)
    model = SegmentationModel(input_shape=(3, 32, 64), num_classes=19, arch="FPN")
    settings = TrainSettings(batch_size=4, max_epochs=3, patience=5, monitor="miou", eval_batch_size=4, num_workers=2)
    result = train_stage(model, city, np.arange(6), np.arange(6, 8), settings, torch.device("cpu"), seed=0, progress=False)
    assert result.epochs == 3
    assert started == [2, 2], "one worker set for training and one for the holdout, for all three epochs"


def test_a_loader_over_no_ids_starts_no_workers(city, monkeypatch):
    """The last step's empty selection is evaluated without starting a worker set (seconds each on a GPU node)."""
    from torch.utils.data import dataloader

    started = []
    original = dataloader._MultiProcessingDataLoaderIter.__init__
    monkeypatch.setattr(dataloader._MultiProcessingDataLoaderIter, "__init__",
                        lambda self, loader: (started.append(loader.num_workers), original(self, loader))[1])
    assert list(make_loader(city, [], batch_size=4, num_workers=2)) == []
    assert started == []
    assert [b["id"].tolist() for b in make_loader(city, [3, 1], batch_size=4, num_workers=2)] == [[3, 1]]
    assert started == [2]


def test_amp_is_off_on_cpu_by_default_and_bf16_trains_when_asked():
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("auto", torch.device("cuda")) is torch.bfloat16
    with pytest.raises(ValueError, match="train.amp"):
        TrainSettings(amp="fp8")
    digits = Digits()
    torch.manual_seed(0)
    model = MLPClassifier(digits.input_shape, 10, hidden=32)
    settings = TrainSettings(batch_size=32, max_epochs=3, patience=3, amp="bf16")
    result = train_stage(model, digits, np.arange(300), np.arange(300, 400), settings, torch.device("cpu"), seed=0,
                         progress=False)
    assert np.isfinite(result.holdout_loss) and result.holdout_loss < np.log(10)
    assert all(p.dtype == torch.float32 for p in model.parameters()), "weights stay float32 under autocast"
