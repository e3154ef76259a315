"""``evaluate.Metric`` wrappers of the caption, VQA and grounding scores, usable offline.

Use them directly (``RSCaptionMetric().compute(predictions=..., references=...)``) or load them by path, which is
what ``evaluate.load`` needs offline (``evaluate`` 0.4.6 ships no metric scripts; names are looked up on the
Hub)::

    import evaluate
    from rsgpt4v.evaluation import metric_path

    metric = evaluate.load(metric_path("rs_caption"))

The scoring itself lives in ``caption.py``, ``vqa.py`` and ``grounding.py``; these classes only adapt inputs
(lists aligned by position instead of dicts keyed by question_id).
"""

from __future__ import annotations

import datasets
import evaluate

from rsgpt4v.evaluation.caption import SPICE_NOTE, caption_scores
from rsgpt4v.evaluation.grounding import DEFAULT_THRESHOLDS, grounding_scores
from rsgpt4v.evaluation.vqa import vqa_scores

__all__ = ["RSCaptionMetric", "RSGroundingMetric", "RSVQAMetric"]

_CITATION = "rsgpt4v; BLEU/METEOR/ROUGE-L/CIDEr-D as in the COCO caption evaluation (pycocoevalcap 1.2)."


def _keys(n: int) -> list[str]:
    return [str(i) for i in range(n)]


class RSCaptionMetric(evaluate.Metric):
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr-D exactly as ``pycocoevalcap`` computes them (no SPICE).

    ``compute(predictions=[str], references=[[str, ...]], tokenize=True, meteor=True)``; CIDEr's IDF comes from
    the references given to this call, so compute on the whole test set at once.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.__doc__ + "\n" + SPICE_NOTE,
            citation=_CITATION,
            inputs_description="predictions: one caption per image; references: the reference captions per image.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
        )

    def _compute(self, predictions, references, tokenize: bool = True, meteor: bool = True):
        keys = _keys(len(predictions))
        return caption_scores(
            dict(zip(keys, predictions)), dict(zip(keys, (list(r) for r in references))), tokenize, meteor
        )


class RSVQAMetric(evaluate.Metric):
    """VQA accuracy after rsgpt4v's normalisation, overall, without ``count`` and per question type.

    ``compute(predictions=[str], references=[str], question_types=[str] | None)``; without ``question_types``
    every item is of type ``unknown``.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.__doc__,
            citation=_CITATION,
            inputs_description="predictions: predicted answers; references: ground-truth answers (same order).",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references, question_types=None):
        if question_types is not None and len(question_types) != len(references):
            raise ValueError(
                f"Got {len(question_types)} question_types for {len(references)} references; give one per item."
            )
        keys = _keys(len(predictions))
        types = question_types or ["unknown"] * len(references)
        items = [{"question_id": k, "answer": a, "question_type": t} for k, a, t in zip(keys, references, types)]
        report = vqa_scores(dict(zip(keys, predictions)), items)
        out = {"overall": report.overall, "average": report.average}
        if report.overall_without_count is not None:
            out["overall_without_count"] = report.overall_without_count
        out.update({f"accuracy_{t}": v["accuracy"] for t, v in report.per_type.items()})
        return out


class RSGroundingMetric(evaluate.Metric):
    """Acc@0.25/0.5/0.7, mean IoU and parse-failure rate of boxes read from answers (first box scored).

    ``compute(predictions=[str], references=[[x1, y1, x2, y2]], widths=[int], heights=[int], box_format=None,
    pad_to_square=True)``; references are pixel boxes of the original images.
    """

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=self.__doc__,
            citation=_CITATION,
            inputs_description="predictions: answers with a box; references: pixel xyxy boxes; widths, heights.",
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("float64"))}
            ),
        )

    def _compute(self, predictions, references, widths, heights, box_format=None, pad_to_square: bool = True):
        if not (len(widths) == len(heights) == len(references)):
            raise ValueError(
                f"Got {len(widths)} widths and {len(heights)} heights for {len(references)} references; "
                "give the image size of every item."
            )
        keys = _keys(len(predictions))
        items = [
            {"question_id": k, "bbox": b, "width": w, "height": h}
            for k, b, w, h in zip(keys, references, widths, heights)
        ]
        report = grounding_scores(dict(zip(keys, predictions)), items, box_format, pad_to_square, DEFAULT_THRESHOLDS)
        return report.summary()
