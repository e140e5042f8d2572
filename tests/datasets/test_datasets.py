import numpy as np
import pytest
import torch
from helpers.formats import write_cifar10_format, write_mnist_format, write_svhn_format

from segal.data import CIFAR10, KMNIST, MNIST, SVHN, DatasetFilesNotFound, Digits
from segal.utils.io import ChecksumMismatch


def raw_pixels(dataset, ids):
    """Undoes the dataset's normalisation: back to 0..255 values."""
    x = dataset.__getitems__(list(ids))["inputs"]
    return torch.round((x * dataset._std + dataset._mean) / dataset._scale)


@pytest.mark.parametrize("cls, folder", [(MNIST, "MNIST"), (KMNIST, "KMNIST")])
def test_mnist_format_datasets_read_train_then_test(tmp_path, cls, folder):
    arrays = write_mnist_format(tmp_path, folder, n_train=30, n_test=12)
    ds = cls(str(tmp_path))
    assert len(ds) == 42 and ds.input_shape == (1, 28, 28) and ds.num_classes == 10
    assert ds.is_test.tolist() == [False] * 30 + [True] * 12
    assert ds.labels.tolist() == arrays["train"][1].tolist() + arrays["t10k"][1].tolist()
    # id 30 is the first test image
    assert torch.equal(raw_pixels(ds, [3, 30])[:, 0], torch.from_numpy(np.stack([arrays["train"][0][3], arrays["t10k"][0][0]])).float())
    sample = ds[5]
    assert set(sample) == {"inputs", "target", "id"} and int(sample["id"]) == 5 and int(sample["target"]) == 5


def test_svhn_reads_mat_files_and_maps_label_10_to_0(tmp_path):
    arrays = write_svhn_format(tmp_path, n_train=20, n_test=10)
    ds = SVHN(str(tmp_path), verify_checksums=False)
    assert len(ds) == 30 and ds.input_shape == (3, 32, 32)
    assert ds.labels.tolist() == arrays["train"][1].tolist() + arrays["test"][1].tolist()
    assert 0 in ds.labels and 10 not in ds.labels
    expected = torch.from_numpy(arrays["test"][0][..., 2].transpose(2, 0, 1)).float()  # [H, W, C] -> [C, H, W]
    assert torch.equal(raw_pixels(ds, [22])[0], expected)


def test_svhn_checksums_catch_files_that_are_not_the_release(tmp_path):
    write_svhn_format(tmp_path, n_train=4, n_test=4)
    with pytest.raises(ChecksumMismatch, match="train_32x32.mat: dataset not found or corrupted"):
        SVHN(str(tmp_path))


def test_cifar10_reads_pickled_batches(tmp_path):
    arrays = write_cifar10_format(tmp_path, n_per_batch=6)
    ds = CIFAR10(str(tmp_path), verify_checksums=False)
    assert len(ds) == 36 and ds.is_test.sum() == 6 and ds.input_shape == (3, 32, 32)
    assert ds.labels[6:12].tolist() == arrays["data_batch_2"][1]
    assert ds.labels[30:].tolist() == arrays["test_batch"][1]
    expected = torch.from_numpy(arrays["data_batch_2"][0][1].reshape(3, 32, 32)).float()
    assert torch.equal(raw_pixels(ds, [7])[0], expected)
    assert ds.classes[0] == "airplane"


@pytest.mark.parametrize(
    "cls, where, names",
    [
        (MNIST, "MNIST/raw", ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        (KMNIST, "KMNIST/raw", ["train-labels-idx1-ubyte"]),
        (SVHN, "", ["train_32x32.mat", "test_32x32.mat"]),
        (CIFAR10, "cifar-10-batches-py", ["data_batch_1", "test_batch", "batches.meta"]),
    ],
)
def test_missing_files_name_the_folder_and_the_files(tmp_path, cls, where, names):
    root = tmp_path / "nowhere"
    with pytest.raises(DatasetFilesNotFound) as info:
        cls(str(root))
    message = str(info.value)
    assert str(root / where).rstrip("/") in message
    for name in names:
        assert name in message
    assert "download=True" in message
    assert not root.exists(), "nothing may be created or downloaded"


def test_digits_is_embedded_with_a_stratified_test_split():
    ds = Digits(test_fraction=0.3)
    assert len(ds) == 1797 and ds.input_shape == (1, 8, 8)
    assert abs(ds.is_test.mean() - 0.3) < 0.01
    train_freq = np.bincount(ds.labels[~ds.is_test]) / (~ds.is_test).sum()
    test_freq = np.bincount(ds.labels[ds.is_test]) / ds.is_test.sum()
    assert np.abs(train_freq - test_freq).max() < 0.01
    assert np.array_equal(Digits().is_test, ds.is_test), "ids and splits are stable across runs"


class _Planted:
    """Unpickling this would create ``path``: code hidden in a dataset file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_cifar10_batch_cannot_run_code(tmp_path):
    import pickle

    write_cifar10_format(tmp_path, n_per_batch=6)
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    with open(batch, "wb") as f:
        pickle.dump({"data": _Planted(str(tmp_path / "marker")), "labels": [0]}, f)
    with pytest.raises(ValueError, match="data_batch_3 holds objects other than arrays") as refused:
        CIFAR10(str(tmp_path), verify_checksums=False)
    assert "io.open" in str(refused.value) and not (tmp_path / "marker").exists()
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 12]}))
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR-10 batch"):
        CIFAR10(str(tmp_path), verify_checksums=False)
