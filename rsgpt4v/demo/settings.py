"""What the demo runs on: data, model and adapter from arguments or the environment, and the offline default.

Arguments win over the environment variables ``RSGPT4V_DATA`` (a built folder or a Hub dataset id),
``RSGPT4V_MODEL`` (a model folder or Hub id) and ``RSGPT4V_ADAPTER`` (a PEFT adapter folder or Hub id). With no
data the demo builds the synthetic sample once into a cache folder (``RSGPT4V_CACHE``, else
``$XDG_CACHE_HOME/rsgpt4v``, else ``~/.cache/rsgpt4v``) and reuses it; with no model it answers with a tiny
untrained LLaVA built in memory, and the page says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SAMPLE_IMAGES",
    "SAMPLE_SEED",
    "SAMPLE_SIZE",
    "DemoSettings",
    "cache_folder",
    "ensure_sample",
    "resolve_settings",
]

#: The synthetic sample the demo builds when no data is given: images, their side in pixels, the seed.
SAMPLE_IMAGES = 40
SAMPLE_SIZE = 256
SAMPLE_SEED = 0


@dataclass(frozen=True)
class DemoSettings:
    """The resolved configuration of one demo.

    Attributes:
        data: the built folder or Hub id the demo explores.
        model: the model folder or Hub id, or ``None`` for the tiny untrained model.
        adapter: the PEFT adapter, or ``None``.
        sample: whether ``data`` is the synthetic sample the demo built itself.
    """

    data: str
    model: str | None
    adapter: str | None
    sample: bool

    def notices(self) -> list[str]:
        """Plain sentences telling the user what the page runs on."""
        lines = []
        if self.sample:
            lines.append(
                f"**Data:** no dataset was given, so this page shows the synthetic sample "
                f"({SAMPLE_IMAGES} generated scenes) built in `{self.data}`. Pass `--data` or set `RSGPT4V_DATA` to "
                "a built folder or a Hub dataset id."
            )
        else:
            lines.append(f"**Data:** `{self.data}`.")
        if self.model is None:
            lines.append(
                "**Model:** no model was given, so answers come from a **tiny untrained demo model** with random "
                "weights: they are meaningless text that only shows the pipeline working. Pass `--model` or set "
                "`RSGPT4V_MODEL` to a LLaVA-architecture model folder or Hub id."
            )
        else:
            lines.append(f"**Model:** `{self.model}`" + (f" with adapter `{self.adapter}`." if self.adapter else "."))
        return lines


def cache_folder() -> Path:
    """The folder the demo keeps its synthetic sample in (see the module docstring)."""
    if os.environ.get("RSGPT4V_CACHE"):
        return Path(os.environ["RSGPT4V_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "rsgpt4v"


def ensure_sample(folder: Path | None = None, progress: bool = False) -> Path:
    """Build the demo's synthetic sample into ``folder`` unless a build is already there; return the folder.

    Args:
        folder: where to build (default ``cache_folder() / "demo-sample"``).
        progress: show the build's progress bars.
    """
    from rsgpt4v.build import BuildInput, BuildOptions, build, is_build

    folder = Path(folder) if folder is not None else cache_folder() / "demo-sample"
    if is_build(folder):
        return folder
    from rsgpt4v.synthetic import synthetic_records

    options: dict[str, Any] = {"n_images": SAMPLE_IMAGES, "size": SAMPLE_SIZE, "seed": SAMPLE_SEED}
    build(
        [
            BuildInput(
                "synthetic",
                lambda: synthetic_records(SAMPLE_IMAGES, size=SAMPLE_SIZE, seed=SAMPLE_SEED),
                options=options,
            )
        ],
        folder,
        BuildOptions(progress=progress),
    )
    return folder


def resolve_settings(
    data: str | Path | None = None, model: str | Path | None = None, adapter: str | Path | None = None
) -> DemoSettings:
    """Resolve the demo's data, model and adapter: arguments, then environment, then the offline default.

    Raises:
        FileNotFoundError: ``data`` is neither a folder nor a Hub id.
        ValueError: an adapter is given without a model (the tiny demo model has no adapters).
    """
    from rsgpt4v.data import resolve_path

    data = data or os.environ.get("RSGPT4V_DATA") or None
    model = model or os.environ.get("RSGPT4V_MODEL") or None
    adapter = adapter or os.environ.get("RSGPT4V_ADAPTER") or None
    if adapter is not None and model is None:
        raise ValueError(
            f"an adapter ({adapter}) was given without its base model: pass --model (or set RSGPT4V_MODEL) too."
        )
    sample = data is None
    target = str(ensure_sample()) if sample else resolve_path(data)
    return DemoSettings(
        data=target,
        model=str(model) if model is not None else None,
        adapter=str(adapter) if adapter is not None else None,
        sample=sample,
    )
