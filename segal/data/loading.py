"""DataLoaders over a subset of global ids."""
import functools
from typing import Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate


class IdSubset(Dataset):
    """The samples of ``dataset`` named by the global ``ids``, in that order.

    With ``train=True`` a dataset that reads files (``load(id, train, with_target)``)
    returns augmented samples; with ``with_targets=False`` it does not read
    labels, which unlabelled pool images do not have.
    """

    def __init__(self, dataset: Dataset, ids: Sequence[int], train: bool = False, with_targets: bool = True):
        self.dataset = dataset
        self.ids = [int(i) for i in ids]
        self.reads_files = hasattr(dataset, "load")
        self.train, self.with_targets = train, with_targets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        if self.reads_files:
            return self.dataset.load(self.ids[index], train=self.train, with_target=self.with_targets)
        return self.dataset[self.ids[index]]

    def __getitems__(self, indices: Sequence[int]):
        ids = [self.ids[i] for i in indices]
        batched = None if self.reads_files else getattr(self.dataset, "__getitems__", None)
        return batched(ids) if batched else [self[i] for i in indices]


def collate(batch):
    """Collates a list of sample dicts; passes through a batch that a dataset built itself."""
    return batch if isinstance(batch, dict) else default_collate(batch)


def make_loader(
    dataset: Dataset,
    ids: Sequence[int],
    batch_size: int,
    shuffle: bool = False,
    seed: Optional[int] = None,
    num_workers: int = 0,
    train: bool = False,
    drop_last: bool = False,
    with_targets: bool = True,
) -> DataLoader:
    """A loader over the global ``ids`` of ``dataset``.

    Args:
        dataset: A dataset addressed by global id.
        ids: The global ids to load, in order (unless shuffled).
        batch_size: Samples per batch.
        shuffle: Shuffle every pass, seeded by ``seed``.
        seed: Seeds shuffling and, with ``train``, the augmentation pipeline
            (per worker: ``seed + worker id``).
        num_workers: DataLoader worker processes.
        train: Load samples through the dataset's training pipeline.
        drop_last: Drop a last batch smaller than ``batch_size``.
        with_targets: Read labels (file-based datasets skip them otherwise).
    """
    seed = 0 if seed is None else seed
    generator = torch.Generator().manual_seed(seed) if shuffle else None
    seed_augmentation = getattr(dataset, "seed_augmentation", None) if train else None
    if seed_augmentation is not None and num_workers == 0:
        seed_augmentation(seed)
    worker_init_fn = None
    if seed_augmentation is not None and num_workers > 0:
        worker_init_fn = functools.partial(_seed_worker, seed=seed)
    return DataLoader(
        IdSubset(dataset, ids, train=train, with_targets=with_targets),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=worker_init_fn,
        drop_last=drop_last,
    )


def _seed_worker(worker_id: int, seed: int) -> None:
    info = torch.utils.data.get_worker_info()
    info.dataset.dataset.seed_augmentation(seed + worker_id)
