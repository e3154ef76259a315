"""`evaluate.load` entry point for rsgpt4v's RSVQAMetric (see `rsgpt4v.evaluation.metrics_hf`)."""

from rsgpt4v.evaluation.metrics_hf import RSVQAMetric

__all__ = ["RSVQAMetric"]
