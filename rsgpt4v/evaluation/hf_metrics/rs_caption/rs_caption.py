"""`evaluate.load` entry point for rsgpt4v's RSCaptionMetric (see `rsgpt4v.evaluation.metrics_hf`)."""

from rsgpt4v.evaluation.metrics_hf import RSCaptionMetric

__all__ = ["RSCaptionMetric"]
