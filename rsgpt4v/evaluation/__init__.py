"""Evaluation: caption metrics exactly as the COCO caption evaluation, VQA accuracy and grounding Acc@IoU.

Public API (imported lazily, so ``import rsgpt4v.evaluation`` stays light):

- ``caption_scores``, ``caption_report`` (``caption.py``), ``ptb_tokenize``, ``coco_tokenize``
  (``ptb_tokenizer.py``), ``meteor_score`` (``meteor.py``)
- ``vqa_scores``, ``normalize_answer``, ``area_bucket`` (``vqa.py``)
- ``grounding_scores``, ``box_iou`` (``grounding.py``)
- ``RSCaptionMetric``, ``RSVQAMetric``, ``RSGroundingMetric`` (``metrics_hf.py``, ``evaluate.Metric``) and
  ``metric_path(name)`` for ``evaluate.load``.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

__all__ = [
    "METRIC_NAMES",
    "RSCaptionMetric",
    "RSGroundingMetric",
    "RSVQAMetric",
    "area_bucket",
    "box_iou",
    "caption_report",
    "caption_scores",
    "coco_tokenize",
    "grounding_scores",
    "meteor_score",
    "metric_path",
    "normalize_answer",
    "ptb_tokenize",
    "vqa_scores",
]

#: The ``evaluate`` modules shipped in ``rsgpt4v/evaluation/hf_metrics``.
METRIC_NAMES: tuple[str, ...] = ("rs_caption", "rs_vqa", "rs_grounding")

_LAZY = {
    "caption_scores": "caption",
    "caption_report": "caption",
    "ptb_tokenize": "ptb_tokenizer",
    "coco_tokenize": "ptb_tokenizer",
    "meteor_score": "meteor",
    "vqa_scores": "vqa",
    "normalize_answer": "vqa",
    "area_bucket": "vqa",
    "grounding_scores": "grounding",
    "box_iou": "grounding",
    "RSCaptionMetric": "metrics_hf",
    "RSVQAMetric": "metrics_hf",
    "RSGroundingMetric": "metrics_hf",
}


def metric_path(name: str) -> str:
    """The folder to pass to ``evaluate.load`` for one of rsgpt4v's metrics (works offline).

    Args:
        name: one of ``METRIC_NAMES``.

    Raises:
        ValueError: for an unknown name.
    """
    if name not in METRIC_NAMES:
        raise ValueError(f"Unknown metric {name!r}; expected one of {', '.join(METRIC_NAMES)}.")
    return str(Path(__file__).parent / "hf_metrics" / name)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"rsgpt4v.evaluation.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'rsgpt4v.evaluation' has no attribute {name!r}")
