"""The Gradio demo: explore a build, ask a model, compare evaluation reports (``build_demo``; ``rsgpt4v demo``).

``import rsgpt4v.demo`` stays light; ``build_demo`` imports gradio on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_demo"]


def __getattr__(name: str) -> Any:
    if name == "build_demo":
        from rsgpt4v.demo.app import build_demo

        return build_demo
    raise AttributeError(f"module 'rsgpt4v.demo' has no attribute {name!r}")
