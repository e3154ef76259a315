"""LLaVA's length-grouped batching: rows of similar length share a batch, batches stay in random order.

``length_grouped_indices`` follows LLaVA's ``get_modality_length_grouped_indices``: image rows (positive length)
and text-only rows (negative length) are grouped separately; within a modality the shuffled rows are cut into
megabatches of ``world_size * batch_size``, each sorted by length (longest first) and dealt into ``world_size``
chunks of balanced total length; the megabatches are shuffled, and the one holding the longest row goes first so
that a run that would run out of memory does so at once. Every row appears exactly once per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["LengthGroupedSampler", "conversation_length", "length_grouped_indices"]


def conversation_length(conversations: Sequence[dict[str, str]], has_image: bool = True) -> int:
    """LLaVA's cheap length estimate of a row: words in its turns (+128 with an image), negative without one."""
    words = sum(len(turn["value"].split()) for turn in conversations)
    return words + 128 if has_image else -words


def _even_chunks(indices: list[int], lengths: Sequence[int], chunks: int) -> list[list[int]]:
    """Deal indices (longest first) into ``chunks`` lists of equal size, each time into the lightest one."""
    if len(indices) % chunks:
        return [indices[i::chunks] for i in range(chunks)]
    size = len(indices) // chunks
    out: list[list[int]] = [[] for _ in range(chunks)]
    totals = [0] * chunks
    for index in indices:
        k = min((c for c in range(chunks) if len(out[c]) < size), key=lambda c: totals[c])
        out[k].append(index)
        totals[k] += abs(lengths[index])
    return out


def _grouped(lengths: Sequence[int], batch_size: int, world_size: int, generator: Any) -> list[int]:
    import torch

    order = torch.randperm(len(lengths), generator=generator).tolist()
    mega = world_size * batch_size
    megabatches = [
        sorted(order[i : i + mega], key=lambda k: abs(lengths[k]), reverse=True) for i in range(0, len(order), mega)
    ]
    return [k for batch in megabatches for chunk in _even_chunks(batch, lengths, world_size) for k in chunk]


def length_grouped_indices(
    lengths: Sequence[int], batch_size: int, world_size: int = 1, generator: Any = None
) -> list[int]:
    """A permutation of ``range(len(lengths))`` grouped by modality and length (see the module docstring).

    Args:
        lengths: per row, its length (positive: has an image; negative: text only; LLaVA's convention).
        batch_size: rows per device per batch.
        world_size: number of data-parallel processes.
        generator: a ``torch.Generator`` for the shuffles.
    """
    import torch

    if batch_size < 1 or world_size < 1:
        raise ValueError(f"batch_size and world_size must be >= 1, got {batch_size} and {world_size}.")
    mega = world_size * batch_size
    image = [i for i, n in enumerate(lengths) if n > 0]
    text = [i for i, n in enumerate(lengths) if n <= 0]
    groups = []
    for subset in (image, text):
        if not subset:
            continue
        local = _grouped([lengths[i] for i in subset], batch_size, world_size, generator)
        mapped = [subset[i] for i in local]
        groups += [mapped[i : i + mega] for i in range(0, len(mapped), mega)]
    if not groups:
        return []
    longest = max(range(len(groups)), key=lambda g: max(abs(lengths[i]) for i in groups[g]))
    first = groups.pop(longest)
    rest = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
    return [i for group in [first, *rest] for i in group]


class LengthGroupedSampler:
    """A ``torch`` sampler yielding :func:`length_grouped_indices`, reshuffled per epoch from ``seed + epoch``.

    Args:
        lengths: per-row lengths (see :func:`conversation_length`).
        batch_size: rows per device per batch.
        world_size: data-parallel processes (the sampler yields the global order; the loader shards it).
        seed: base seed; the same seed and epoch give the same order (so a resumed run sees the same batches).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, world_size: int = 1, seed: int = 0) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.world_size = world_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order :meth:`__iter__` yields (called by the Trainer's data loader)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self) -> Iterator[int]:
        import torch

        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(length_grouped_indices(self.lengths, self.batch_size, self.world_size, generator))
