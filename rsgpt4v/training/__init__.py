"""Training LLaVA-1.5 on rsgpt4v builds: collator, sampler, Trainer, recipes, merge and publishing.

Public API (imported lazily, so ``import rsgpt4v.training`` stays light):

- ``LlavaCollator``, ``EncodedSample``, ``ConversationError``, ``FullyMaskedError``, ``SampleTooLongError``,
  ``IGNORE_INDEX`` (``collator.py``)
- ``LengthGroupedSampler``, ``length_grouped_indices``, ``conversation_length`` (``sampler.py``)
- ``Recipe``, ``recipe``, ``RECIPES``, ``prepare_model``, ``read_recipe`` (``recipes.py``)
- ``RSTrainer``, ``GenerationEvalCallback`` (``trainer.py``)
- ``train``, ``TrainResult``, ``evaluate_saved`` (``command.py``: ``rsgpt4v train``)
- ``merge`` (``merging.py``: ``rsgpt4v merge``)
- ``push_model``, ``model_card`` (``publish.py``: ``rsgpt4v push-model``)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "LlavaCollator": "collator",
    "EncodedSample": "collator",
    "ConversationError": "collator",
    "FullyMaskedError": "collator",
    "SampleTooLongError": "collator",
    "IGNORE_INDEX": "collator",
    "LengthGroupedSampler": "sampler",
    "length_grouped_indices": "sampler",
    "conversation_length": "sampler",
    "Recipe": "recipes",
    "recipe": "recipes",
    "RECIPES": "recipes",
    "prepare_model": "recipes",
    "read_recipe": "recipes",
    "RSTrainer": "trainer",
    "GenerationEvalCallback": "trainer",
    "train": "command",
    "TrainResult": "command",
    "evaluate_saved": "command",
    "merge": "merging",
    "push_model": "publish",
    "model_card": "publish",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'rsgpt4v.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"rsgpt4v.training.{_LAZY[name]}"), name)
