"""rsgpt4v: remote-sensing instruction data (RS-GPT4V), MoE-LoRA, LLaVA training, exact evaluation, a demo.

``import rsgpt4v`` stays light: it imports neither torch nor ``datasets``. ``rsgpt4v.load`` is resolved on
first use; training and model code lives in submodules that import torch themselves.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def __getattr__(name: str) -> Any:
    if name == "load":
        from rsgpt4v.data import load

        return load
    raise AttributeError(f"module 'rsgpt4v' has no attribute {name!r}")
