"""Image classification datasets held in memory, addressed by global sample id.

Global ids run over the official train split first and the official test split
after it, so id ``i`` names the same image in every run.

Every dataset here returns ``dict(inputs, target, id)`` per sample:
``inputs`` is a normalised float tensor ``[C, H, W]``, ``target`` an int64
class index and ``id`` the global id.
"""
import os
import pickle
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import torch
import torchvision
from torch.utils.data import Dataset
from torchvision.datasets.utils import check_integrity

from ..errors import InvalidValue, SegalError
from ..registry import DATASETS
from ..utils.io import ChecksumMismatch


class DatasetFilesNotFound(SegalError, FileNotFoundError):
    """A dataset's files are not where its config says."""


class InMemoryClassification(Dataset):
    """A classification dataset whose images all fit in memory.

    Args:
        images: ``[N, C, H, W]`` raw pixel values (uint8 or float).
        labels: ``[N]`` class indices.
        is_test: ``[N]`` bool, True for ids of the official test split.
        classes: Class names, index = class id.
        scale: Factor that maps raw pixel values to [0, 1].
        mean: Per-channel mean of the [0, 1] images.
        std: Per-channel standard deviation of the [0, 1] images.
    """

    task = "classification"
    ignore_index = None

    def __init__(
        self,
        images: torch.Tensor,
        labels: np.ndarray,
        is_test: np.ndarray,
        classes: Sequence[str],
        scale: float,
        mean: Sequence[float],
        std: Sequence[float],
    ):
        if images.ndim != 4:
            raise InvalidValue(f"images must be [N, C, H, W], got shape {tuple(images.shape)}")
        if not (len(images) == len(labels) == len(is_test)):
            raise InvalidValue(
                f"images ({len(images)}), labels ({len(labels)}) and is_test ({len(is_test)}) differ in length"
            )
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.is_test = np.asarray(is_test, dtype=bool)
        self.classes = list(classes)
        channels = images.shape[1]
        self._scale = scale
        self._mean = torch.tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1)
        self._std = torch.tensor(std, dtype=torch.float32).reshape(1, channels, 1, 1)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def has_label(self, ids) -> np.ndarray:
        """``[len(ids)]`` bool: every sample held in memory has its label."""
        return np.ones(len(ids), dtype=bool)

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)`` of one input."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, idx: int) -> dict:
        batch = self.__getitems__([idx])
        return {"inputs": batch["inputs"][0], "target": batch["target"][0], "id": batch["id"][0]}

    def __getitems__(self, ids: List[int]) -> Dict[str, torch.Tensor]:
        """A whole batch in one indexing operation (used by ``DataLoader``)."""
        index = torch.as_tensor(ids, dtype=torch.long)
        inputs = (self.images[index].float() * self._scale - self._mean) / self._std
        return {"inputs": inputs, "target": torch.from_numpy(self.labels[index.numpy()]), "id": index}


@DATASETS.register_module()
class Digits(InMemoryClassification):
    """scikit-learn's 8x8 handwritten digits (1,797 images), shipped with the package.

    It has no official test split, so a stratified ``test_fraction`` of it is
    drawn with the fixed ``split_seed`` and marked as test.
    """

    def __init__(self, test_fraction: float = 0.3, split_seed: int = 0):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        if not 0 < test_fraction < 1:
            raise InvalidValue(f"dataset.test_fraction must be in (0, 1), got {test_fraction}")
        digits = load_digits()
        images = torch.from_numpy(digits.images.astype(np.float32)).unsqueeze(1)  # [N, 1, 8, 8], 0..16
        labels = digits.target.astype(np.int64)
        ids = np.arange(len(labels))
        _, test_ids = train_test_split(ids, test_size=test_fraction, stratify=labels, random_state=split_seed)
        is_test = np.zeros(len(labels), dtype=bool)
        is_test[test_ids] = True
        super().__init__(images, labels, is_test, [str(c) for c in range(10)], 1 / 16, [0.305], [0.376])


class TorchvisionClassification(InMemoryClassification):
    """Base for datasets read by torchvision from a local folder.

    Subclasses name the files torchvision expects (:meth:`expected_files`) and
    turn torchvision's train and test datasets into arrays (:meth:`load_split`).

    Args:
        data_root: Folder given to torchvision as ``root``.
        download: Let torchvision download missing files. Off by default:
            nothing is fetched unless the config asks for it.
        verify_checksums: Check the files' MD5 sums against the official
            release where torchvision knows them.
    """

    classes_: Sequence[str] = ()
    mean: Sequence[float] = ()
    std: Sequence[float] = ()

    def __init__(self, data_root: str, download: bool = False, verify_checksums: bool = True):
        self.data_root = Path(data_root)
        if not download:
            self._check_files()
        self.verify_checksums = verify_checksums
        train_images, train_labels = self.load_split(train=True, download=download)
        test_images, test_labels = self.load_split(train=False, download=False)
        images = torch.cat([train_images, test_images])
        labels = np.concatenate([train_labels, test_labels])
        is_test = np.concatenate([np.zeros(len(train_labels), bool), np.ones(len(test_labels), bool)])
        super().__init__(images, labels, is_test, self.classes_, 1 / 255, self.mean, self.std)

    def expected_files(self) -> Dict[Path, List[str]]:
        """Maps each folder to the file names torchvision reads from it."""
        raise NotImplementedError

    def load_split(self, train: bool, download: bool):
        """Returns ``(images [N, C, H, W] uint8, labels [N] int64)`` of one official split."""
        raise NotImplementedError

    def _check_files(self) -> None:
        for folder, names in self.expected_files().items():
            missing = [n for n in names if not (folder / n).is_file()]
            if missing:
                raise DatasetFilesNotFound(
                    f"{type(self).__name__}: missing {', '.join(missing)} in {folder}. "
                    f"Expected files there: {', '.join(names)}. Put the dataset there, point "
                    f"dataset.data_root at it, or set dataset.download=True to fetch it."
                )


class _MNISTFormat(TorchvisionClassification):
    tv_class = torchvision.datasets.MNIST

    def expected_files(self):
        folder = self.data_root / self.tv_class.__name__ / "raw"
        names = [f"{p}-{k}-idx{n}-ubyte" for p in ("train", "t10k") for k, n in (("images", 3), ("labels", 1))]
        return {folder: names}

    def load_split(self, train, download):
        ds = self.tv_class(str(self.data_root), train=train, download=download)
        return ds.data.unsqueeze(1), ds.targets.numpy().astype(np.int64)


@DATASETS.register_module()
class MNIST(_MNISTFormat):
    """MNIST from ``<data_root>/MNIST/raw/`` (the four uncompressed idx files)."""

    classes_ = [str(c) for c in range(10)]
    mean, std = [0.1307], [0.3081]


@DATASETS.register_module()
class KMNIST(_MNISTFormat):
    """Kuzushiji-MNIST from ``<data_root>/KMNIST/raw/`` (the four uncompressed idx files)."""

    tv_class = torchvision.datasets.KMNIST
    classes_ = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    mean, std = [0.1918], [0.3483]


class _UncheckedSVHN(torchvision.datasets.SVHN):
    """torchvision's SVHN with the MD5 check reduced to the file being present."""

    def _check_integrity(self) -> bool:
        return os.path.isfile(os.path.join(self.root, self.filename))


@DATASETS.register_module()
class SVHN(TorchvisionClassification):
    """SVHN cropped digits from ``<data_root>/{train,test}_32x32.mat``; label 10 is digit 0."""

    classes_ = [str(c) for c in range(10)]
    mean, std = [0.4377, 0.4438, 0.4728], [0.1980, 0.2010, 0.1970]

    def expected_files(self):
        return {self.data_root: ["train_32x32.mat", "test_32x32.mat"]}

    def load_split(self, train, download):
        tv_class = torchvision.datasets.SVHN if self.verify_checksums else _UncheckedSVHN
        split = "train" if train else "test"
        try:
            ds = tv_class(str(self.data_root), split=split, download=download)
        except RuntimeError as err:  # torchvision's integrity check
            raise ChecksumMismatch(f"{self.data_root / f'{split}_32x32.mat'}: dataset not found or corrupted (its MD5 "
                                   f"is not the official file's); set dataset.verify_checksums=False to read another "
                                   f"copy") from err
        return torch.from_numpy(ds.data), ds.labels.astype(np.int64)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays; any other object, which could run code, is refused."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it asks for {module}.{name}")


def read_cifar_batch(path: Path, num_classes: int = 10):
    """One ``cifar-10-batches-py`` batch: ``(images [N, 3, 32, 32] uint8, labels [N] int64)``.

    The file is a pickle; it is read without running anything it holds
    (:class:`_ArraysOnly`), and checked to be a batch.

    Raises:
        ValueError: The file holds other objects, is truncated, or is not a CIFAR-10 batch; the message names it.
    """
    try:
        with open(path, "rb") as f:
            batch = _ArraysOnly(f, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise InvalidValue(f"{path} holds objects other than arrays and plain data ({err}); segal does not unpickle "
                         f"it, since that could run code") from None
    except (EOFError, ValueError, TypeError, IndexError, KeyError) as err:
        raise InvalidValue(f"{path} is truncated or not a CIFAR-10 batch ({type(err).__name__}: {err})") from None
    data = batch.get("data") if isinstance(batch, dict) else None
    labels = np.asarray(batch.get("labels", []) if isinstance(batch, dict) else [])
    in_range = labels.dtype.kind in "iu" and np.all((labels >= 0) & (labels < num_classes))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or labels.shape != (len(data),) or not in_range:
        raise InvalidValue(f"{path} is not a CIFAR-10 batch: expected 'data' [N, 3072] uint8 and N 'labels' in "
                         f"[0, {num_classes})")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


@DATASETS.register_module()
class CIFAR10(TorchvisionClassification):
    """CIFAR-10 from ``<data_root>/cifar-10-batches-py/`` (the python pickle batches)."""

    classes_ = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    mean, std = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]

    def expected_files(self):
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
        return {self.data_root / "cifar-10-batches-py": names}

    def load_split(self, train, download):
        official = torchvision.datasets.CIFAR10
        if download:
            official(str(self.data_root), train=train, download=True)
        checksums = dict(official.train_list + official.test_list)
        folder = self.data_root / official.base_folder
        images, labels = [], []
        for name in [n for n, _ in (official.train_list if train else official.test_list)]:
            if self.verify_checksums and not check_integrity(str(folder / name), checksums[name]):
                raise ChecksumMismatch(f"{folder / name}: dataset not found or corrupted (its MD5 is not the official "
                                   f"file's); set dataset.verify_checksums=False to read another copy")
            batch_images, batch_labels = read_cifar_batch(folder / name)
            images.append(batch_images)
            labels.append(batch_labels)
        return torch.from_numpy(np.concatenate(images)), np.concatenate(labels)
