"""`evaluate.load` entry point for rsgpt4v's RSGroundingMetric (see `rsgpt4v.evaluation.metrics_hf`)."""

from rsgpt4v.evaluation.metrics_hf import RSGroundingMetric

__all__ = ["RSGroundingMetric"]
