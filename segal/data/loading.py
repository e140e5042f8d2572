"""DataLoaders over a subset of global ids."""
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

from ..errors import InvalidValue
from ..utils.distributed import rank_and_world


class IdSubset(Dataset):
    """The samples of ``dataset`` named by the global ``ids``, in that order.

    With ``train=True`` a dataset that reads files (``load(id, train, with_target)``)
    returns augmented samples; with ``with_targets=False`` it does not read
    labels, which unlabelled pool images do not have. An index may be a
    position or a ``(position, augmentation seed)`` pair (see :class:`EpochShuffle`):
    the training pipeline is then seeded per sample, so augmentations depend
    neither on the number of workers nor on which worker loads a sample.
    """

    def __init__(self, dataset: Dataset, ids: Sequence[int], train: bool = False, with_targets: bool = True):
        self.dataset = dataset
        self.ids = [int(i) for i in ids]
        self.reads_files = hasattr(dataset, "load")
        self.train, self.with_targets = train, with_targets

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index) -> dict:
        position, augmentation_seed = index if isinstance(index, tuple) else (index, None)
        if not self.reads_files:
            return self.dataset[self.ids[position]]
        if augmentation_seed is not None and self.train and hasattr(self.dataset, "seed_augmentation"):
            self.dataset.seed_augmentation(augmentation_seed)
        return self.dataset.load(self.ids[position], train=self.train, with_target=self.with_targets)

    def __getitems__(self, indices: Sequence):
        batched = None if self.reads_files else getattr(self.dataset, "__getitems__", None)
        if batched is not None:
            return batched([self.ids[i[0] if isinstance(i, tuple) else i] for i in indices])
        samples = [self[i] for i in indices]
        for key in ("inputs", "target"):
            check_same_shapes(samples, key, self.dataset)
        return samples


def check_same_shapes(samples: Sequence[dict], key: str, dataset) -> None:
    """Refuses a batch whose ``samples[i][key]`` tensors differ in shape, naming the files (or ids) of each shape.

    Raises:
        ValueError: The shapes differ; the message says how to make them agree.
    """
    shapes = {}
    for sample in samples:
        if key in sample:
            shapes.setdefault(tuple(sample[key].shape), []).append(int(sample["id"]))
    if len(shapes) < 2:
        return
    describe = getattr(dataset, "image_path", lambda i: f"id {i}")
    listing = "; ".join(f"{'x'.join(map(str, shape))}: {describe(ids[0])}"
                        + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
                        for shape, ids in sorted(shapes.items(), key=lambda item: -len(item[1])))
    raise InvalidValue(f"images of different sizes cannot share a batch ({key} {listing}); give the dataset's "
                     f"pipeline a resize or crop to one size (e.g. dict(type='Resize', height=H, width=W)), "
                     f"or use images of one size")


class EpochShuffle(Sampler):
    """A new permutation every epoch, drawn from ``seed + epoch``, with a seed for each sample's augmentation.

    One loader (and its worker processes) serves a whole training stage:
    :meth:`set_epoch` before each epoch gives that epoch's order, the same
    as a loader shuffled with ``torch.Generator().manual_seed(seed + epoch)``.

    Under torch.distributed every rank draws the same permutation, padded by
    wrapping around to a multiple of the world size (as ``DistributedSampler``
    does, so every rank runs the same number of batches), and takes every
    ``world``-th entry from its rank on. A sample keeps its augmentation seed
    whichever rank loads it.

    Args:
        size: Samples in the subset.
        seed: The stage's seed.
        rank: This process's rank.
        world: The number of ranks.
    """

    def __init__(self, size: int, seed: int, rank: int = 0, world: int = 1):
        self.size, self.seed, self.epoch = size, seed, 0
        self.rank, self.world = rank, world

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def drawn(self) -> int:
        """How many samples an epoch draws (over every rank)."""
        return self.size

    def __len__(self) -> int:
        return -(-self.drawn() // self.world)

    def epoch_order(self, generator: torch.Generator) -> List[int]:
        """The positions this epoch trains, in order."""
        return torch.randperm(self.size, generator=generator).tolist()

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        order = self.epoch_order(torch.Generator().manual_seed(self.seed + self.epoch))
        augmentation = np.random.SeedSequence([self.seed, self.epoch]).generate_state(self.size)
        if self.world > 1:
            order = (order * self.world)[: len(self) * self.world][self.rank:: self.world]
        for position, augmentation_seed in zip(order, augmentation[order].tolist()):
            yield position, augmentation_seed


class LabelledPixelShuffle(EpochShuffle):
    """An epoch that trains as many partly labelled samples as their labelled pixels fill whole ones.

    Samples labelled whole (share 1) train every epoch. Of the partly labelled
    ones (share below 1), an epoch draws ``ceil(sum of their shares)`` without
    replacement, each with a probability that grows with its labelled pixels
    (weighted sampling by keys ``log(u) / share``), then shuffles them in with
    the rest. A region step then costs about the passes of an image step with
    the same labelled pixels; each labelled pixel trains on fewer epochs.

    Args:
        shares: ``[N]`` the share of each sample's pixels that is labelled, in ``(0, 1]``.
        seed, rank, world: As for :class:`EpochShuffle`.
    """

    def __init__(self, shares: Sequence[float], seed: int, rank: int = 0, world: int = 1):
        super().__init__(len(shares), seed, rank, world)
        self.shares = np.asarray(shares, dtype=np.float64)
        self.whole, self.partial = np.flatnonzero(self.shares >= 1), np.flatnonzero(self.shares < 1)
        self.partial_drawn = min(len(self.partial), int(np.ceil(self.shares[self.partial].sum() - 1e-9)))

    def drawn(self) -> int:
        return len(self.whole) + self.partial_drawn

    def epoch_order(self, generator: torch.Generator) -> List[int]:
        keys = torch.log(torch.rand(len(self.partial), generator=generator, dtype=torch.float64))
        keys = keys / torch.from_numpy(np.maximum(self.shares[self.partial], 1e-12))
        picked = self.partial[torch.argsort(keys, descending=True)[:self.partial_drawn].numpy()]
        chosen = np.concatenate([self.whole, np.sort(picked)])
        return chosen[torch.randperm(len(chosen), generator=generator).numpy()].tolist()


def collate(batch):
    """Collates a list of sample dicts; passes through a batch that a dataset built itself."""
    return batch if isinstance(batch, dict) else default_collate(batch)


def make_loader(
    dataset: Dataset,
    ids: Sequence[int],
    batch_size: int,
    num_workers: int = 0,
    with_targets: bool = True,
    pin_memory: bool = False,
    persistent: bool = False,
) -> DataLoader:
    """A loader over the global ``ids`` of ``dataset``, in order, through the test pipeline.

    Args:
        dataset: A dataset addressed by global id.
        ids: The global ids to load, in order.
        batch_size: Samples per batch.
        num_workers: DataLoader worker processes; none are started for an empty ``ids``.
        with_targets: Read labels (file-based datasets skip them otherwise).
        pin_memory: Collate into page-locked memory (on CUDA: faster, asynchronous copies).
        persistent: Keep the worker processes between passes (a loader used every epoch).
    """
    num_workers = num_workers if len(ids) else 0
    return DataLoader(IdSubset(dataset, ids, with_targets=with_targets), batch_size=batch_size,
                      num_workers=num_workers, collate_fn=collate, pin_memory=pin_memory,
                      persistent_workers=persistent and num_workers > 0, generator=_private_generator(0))


def make_train_loader(
    dataset: Dataset,
    ids: Sequence[int],
    batch_size: int,
    seed: int,
    num_workers: int = 0,
    pin_memory: bool = False,
    labelled_shares: Optional[Sequence[float]] = None,
) -> DataLoader:
    """One loader for a whole training stage: call ``loader.sampler.set_epoch(epoch)`` before each epoch.

    Shuffled by :class:`EpochShuffle` (or, given ``labelled_shares``, drawn by
    :class:`LabelledPixelShuffle`), through the training pipeline; its
    workers persist across epochs. A last batch of one sample is dropped
    (batch norm cannot train on it). Under torch.distributed each rank loads
    its share of every epoch (``batch_size`` is per rank).

    Args:
        dataset: A dataset addressed by global id.
        ids: The global ids to train on.
        batch_size: Samples per batch.
        seed: The stage's seed: epoch ``e`` is shuffled and augmented from ``seed + e``.
        num_workers: DataLoader worker processes, started once per stage.
        pin_memory: Collate into page-locked memory.
        labelled_shares: ``[N]`` the labelled share of each id's pixels, to draw partly labelled ids by.
    """
    if labelled_shares is None:
        sampler = EpochShuffle(len(ids), seed, *rank_and_world())
    else:
        sampler = LabelledPixelShuffle(labelled_shares, seed, *rank_and_world())
    return DataLoader(
        IdSubset(dataset, ids, train=True),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=len(sampler) % batch_size == 1,
        persistent_workers=num_workers > 0,
        generator=_private_generator(seed),
    )


def _private_generator(seed: int) -> torch.Generator:
    """A loader's own generator: starting an iterator draws a worker base seed from it, never from the global
    generator that dropout uses, so creating a loader does not shift a training stage's random numbers."""
    return torch.Generator().manual_seed(seed)
