"""Instruction-response generation: hierarchical descriptions and multi-turn reasoning conversations from a VLM.

Works with any OpenAI-compatible vision-language endpoint and resumes through a SQLite job store.

Modules: ``client`` (HTTP, concurrency, limits, retries), ``limiter`` (RPM/TPM buckets), ``templates`` (named
prompts), ``responses`` (JSON schemas and checks), ``pipeline`` (the stages), ``store`` (the job store), ``inputs``
(images to generate for), ``records`` (store -> ``detail`` and ``conversation`` records), ``command`` (the CLI).
"""

from __future__ import annotations

from rsgpt4v.generate.client import APIError, ChatClient, ClientConfig, Completion
from rsgpt4v.generate.inputs import items_from_folder, items_from_records
from rsgpt4v.generate.pipeline import GenerationConfig, Pipeline, generate
from rsgpt4v.generate.records import GENERATED_SUFFIX, records_from_store
from rsgpt4v.generate.store import STAGES, ImageItem, JobStore, Prices, RunSummary

__all__ = [
    "GENERATED_SUFFIX",
    "STAGES",
    "APIError",
    "ChatClient",
    "ClientConfig",
    "Completion",
    "GenerationConfig",
    "ImageItem",
    "JobStore",
    "Pipeline",
    "Prices",
    "RunSummary",
    "generate",
    "items_from_folder",
    "items_from_records",
    "records_from_store",
]
