"""DataLoaders over a subset of global ids."""
from typing import Optional, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate


class IdSubset(Dataset):
    """The samples of ``dataset`` named by the global ``ids``, in that order."""

    def __init__(self, dataset: Dataset, ids: Sequence[int]):
        self.dataset = dataset
        self.ids = [int(i) for i in ids]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[self.ids[index]]

    def __getitems__(self, indices: Sequence[int]):
        ids = [self.ids[i] for i in indices]
        batched = getattr(self.dataset, "__getitems__", None)
        return batched(ids) if batched else [self.dataset[i] for i in ids]


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
) -> DataLoader:
    """A loader over the global ``ids`` of ``dataset``; shuffling is seeded by ``seed``."""
    generator = None
    if shuffle:
        generator = torch.Generator().manual_seed(seed if seed is not None else 0)
    return DataLoader(
        IdSubset(dataset, ids),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        collate_fn=collate,
        persistent_workers=False,
    )
