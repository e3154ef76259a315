"""LLaVA's modality- and length-grouped sampler."""

from __future__ import annotations

import torch

from rsgpt4v.training.sampler import LengthGroupedSampler, conversation_length, length_grouped_indices


def test_indices_are_a_permutation_grouped_by_length():
    lengths = [int(x) for x in torch.randint(130, 2000, (64,), generator=torch.Generator().manual_seed(1))]
    order = length_grouped_indices(lengths, batch_size=4, world_size=2, generator=torch.Generator().manual_seed(0))
    assert sorted(order) == list(range(64))
    megabatches = [order[i : i + 8] for i in range(0, 64, 8)]
    # the megabatch holding the longest row comes first, and the longest row is in its first chunk
    assert max(lengths) in [lengths[i] for i in megabatches[0]]
    # within a megabatch each rank's chunk of 4 has a balanced total length
    for mega in megabatches:
        totals = [sum(lengths[i] for i in mega[:4]), sum(lengths[i] for i in mega[4:])]
        assert abs(totals[0] - totals[1]) <= max(lengths[i] for i in mega)


def test_image_and_text_rows_never_share_a_megabatch():
    lengths = [200] * 6 + [-50] * 6
    order = length_grouped_indices(lengths, batch_size=3, world_size=1, generator=torch.Generator().manual_seed(3))
    for start in range(0, 12, 3):
        assert len({lengths[i] > 0 for i in order[start : start + 3]}) == 1


def test_sampler_is_deterministic_per_seed_and_epoch():
    lengths = list(range(150, 190))
    sampler = LengthGroupedSampler(lengths, batch_size=4, seed=7)
    first = list(sampler)
    assert list(LengthGroupedSampler(lengths, batch_size=4, seed=7)) == first and len(sampler) == 40
    sampler.set_epoch(1)
    assert list(sampler) != first and sorted(sampler) == list(range(40))


def test_conversation_length_is_llavas_estimate():
    turns = [{"from": "human", "value": "<image>\nIs there a road?"}, {"from": "gpt", "value": "yes"}]
    assert conversation_length(turns) == 6 + 128  # "<image>", 4 words, "yes"
    assert conversation_length(turns, has_image=False) == -6
