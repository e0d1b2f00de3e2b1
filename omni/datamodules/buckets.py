"""Aspect-ratio / resolution buckets and a seeded, resumable, rank-aware batch sampler.

Every clip goes to the bucket whose aspect ratio is closest (in log space) to its upright
picture's, so portrait, square and landscape footage each train near their own shape without
padding. A batch holds clips of one bucket only. The sampler builds *global* batches (batch size
x number of ranks) and hands each rank its slice, so a 2-process run sees exactly the samples a
1-process run with twice the batch size sees, step for step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

Item = tuple[int, int]
"""What the sampler yields per sample: (dataset index, epoch)."""


def make_buckets(
    resolution: int, aspect_ratios: Sequence[float], multiple: int = 16
) -> list[tuple[int, int]]:
    """(height, width) per aspect ratio (width / height), each with about resolution**2 pixels.

    Sides are multiples of `multiple` (VAE downsampling x patch size) so every bucket patchifies.
    """
    if resolution < multiple or resolution % multiple:
        raise ValueError(
            f"resolution must be a positive multiple of {multiple} (VAE factor x patch size), "
            f"got {resolution}"
        )
    if not aspect_ratios or any(a <= 0 for a in aspect_ratios):
        raise ValueError(f"aspect_ratios must be positive numbers, got {list(aspect_ratios)}")
    buckets = []
    for aspect in aspect_ratios:
        height = resolution / math.sqrt(aspect)
        height = max(multiple, round(height / multiple) * multiple)
        width = max(multiple, round(height * aspect / multiple) * multiple)
        if (height, width) not in buckets:
            buckets.append((height, width))
    return buckets


def upright_size(width: int, height: int, rotation: int | None) -> tuple[int, int]:
    """(width, height) of the picture as displayed (a 90/270 degree rotation swaps them)."""
    if round((rotation or 0) / 90) % 2:
        return height, width
    return width, height


def assign_bucket(width: int, height: int, buckets: Sequence[tuple[int, int]]) -> int:
    """Index of the bucket (height, width) closest in log aspect ratio to width x height."""
    aspect = math.log(width / height)
    return int(np.argmin([abs(aspect - math.log(w / h)) for h, w in buckets]))


class BucketBatchSampler(Sampler[list[Item]]):
    """Yields one rank's share of seeded global batches drawn from single buckets.

    Args:
        groups: dataset indices per bucket.
        batch_size: samples per rank per step.
        num_replicas, rank: the data-parallel world and this process's place in it.
        seed: fixes the order for every epoch (with the epoch number).
        shuffle: shuffle within buckets and the order of batches (training); off for validation.
        drop_last: drop a bucket's incomplete global batch (training); otherwise it is filled by
            wrapping around that bucket, as DistributedSampler pads.
    """

    def __init__(
        self,
        groups: Sequence[Sequence[int]],
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, {num_replicas}), got {rank}")
        self.groups = [list(g) for g in groups if len(g)]
        self.batch_size = batch_size
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = 0
        self._skip: tuple[int, int] | None = None  # (epoch, batches) to skip once, on resume

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at the start of every epoch (through `sampler`)."""
        self.epoch = epoch

    @property
    def sampler(self) -> BucketBatchSampler:
        """Itself: Lightning calls `set_epoch` on `dataloader.batch_sampler.sampler`, never on
        the batch sampler, so without this every epoch would repeat epoch 0's windows,
        condition draws and noise."""
        return self

    def resume(self, epoch: int, batches_done: int) -> None:
        """Make the next pass over `epoch` start after its first `batches_done` batches."""
        self.epoch = epoch
        self._skip = (epoch, batches_done)

    def global_batches(self, epoch: int) -> list[list[int]]:
        """Every global batch of an epoch, in order (the same on every rank)."""
        rng = np.random.default_rng([self.seed, epoch])
        size = self.global_batch_size
        batches = []
        for group in self.groups:
            order = list(rng.permutation(group)) if self.shuffle else list(group)
            usable = (len(order) // size) * size if self.drop_last else len(order)
            for start in range(0, usable, size):
                batch = order[start : start + size]
                while len(batch) < size:  # pad by wrapping around the bucket
                    batch += order[: size - len(batch)]
                batches.append([int(i) for i in batch])
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[Item]]:
        epoch = self.epoch
        batches = self.global_batches(epoch)
        skip = 0
        if self._skip is not None and self._skip[0] == epoch:
            skip = self._skip[1]
        self._skip = None
        lo, hi = self.rank * self.batch_size, (self.rank + 1) * self.batch_size
        for batch in batches[skip:]:
            yield [(index, epoch) for index in batch[lo:hi]]

    def __len__(self) -> int:
        size = self.global_batch_size
        if self.drop_last:
            return sum(len(g) // size for g in self.groups)
        return sum(math.ceil(len(g) / size) for g in self.groups)
