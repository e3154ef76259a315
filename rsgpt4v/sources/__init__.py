"""Source adapters: one module per legacy dataset, plus ``release`` for the authors' released RS-GPT4V files.

``get_source(name)`` returns an adapter; ``build_inputs(sources, image_roots)`` turns ``--source NAME=PATH`` and
``--image-root PARENT=DIR`` options into the inputs of ``rsgpt4v.build.build``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v.sources.base import SourceAdapter, SourceFormatError, SourceNotFoundError
from rsgpt4v.sources.dior_rsvg import DIORRSVG
from rsgpt4v.sources.floodnet import FloodNet
from rsgpt4v.sources.nwpu_captions import NWPUCaptions
from rsgpt4v.sources.release import Release
from rsgpt4v.sources.rsicd import RSICD
from rsgpt4v.sources.rsitmd import RSITMD
from rsgpt4v.sources.rsivqa import RSIVQA
from rsgpt4v.sources.rsvqa_hr import RSVQAHR
from rsgpt4v.sources.rsvqa_lr import RSVQALR
from rsgpt4v.sources.sydney_captions import SydneyCaptions
from rsgpt4v.sources.ucm_captions import UCMCaptions

if TYPE_CHECKING:
    from rsgpt4v.build import BuildInput
    from rsgpt4v.schema import Record, Rejection

__all__ = [
    "ADAPTERS",
    "DIORRSVG",
    "RSICD",
    "RSITMD",
    "RSIVQA",
    "RSVQAHR",
    "RSVQALR",
    "FloodNet",
    "NWPUCaptions",
    "Release",
    "SourceAdapter",
    "SourceFormatError",
    "SourceNotFoundError",
    "SydneyCaptions",
    "UCMCaptions",
    "build_inputs",
    "get_source",
]

#: Every adapter class by its ``--source`` name: the ten legacy datasets (``Source`` values) and ``release``.
ADAPTERS: dict[str, type[SourceAdapter]] = {
    cls.name: cls
    for cls in (
        UCMCaptions,
        SydneyCaptions,
        RSICD,
        RSITMD,
        NWPUCaptions,
        RSVQALR,
        RSVQAHR,
        FloodNet,
        RSIVQA,
        DIORRSVG,
        Release,
    )
}


def get_source(name: str, *, image_roots: Mapping[str, str | Path] | None = None) -> SourceAdapter:
    """Return the adapter of a source.

    Args:
        name: a ``--source`` name: a legacy ``Source`` value (``ucm_captions``...) or ``release``.
        image_roots: RSIVQA's parent image roots (``{"ucm": DIR, "rsicd": DIR, ...}``); only ``rsivqa`` takes them.

    Raises:
        ValueError: for an unknown name, or ``image_roots`` given to a source other than ``rsivqa``.
    """
    cls = ADAPTERS.get(name)
    if cls is None:
        raise ValueError(f"Unknown source {name!r}; expected one of {', '.join(ADAPTERS)}.")
    if cls is RSIVQA:
        return RSIVQA(image_roots=image_roots or {})
    if image_roots:
        raise ValueError(f"Source {name!r} takes no image roots; --image-root is only used by rsivqa.")
    return cls()


def _all_splits(adapter: SourceAdapter, root: Path) -> Iterator[Record | Rejection]:
    return itertools.chain.from_iterable(adapter.items(root, split) for split in adapter.splits)


def build_inputs(
    sources: Mapping[str, str | Path], image_roots: Mapping[str, str | Path] | None = None
) -> list[BuildInput]:
    """The build inputs of ``--source NAME=PATH`` options, each checked before the build starts.

    Every split of each source is read (``adapter.splits``); the report records the annotation files' hashes.

    Args:
        sources: source name -> its root folder.
        image_roots: RSIVQA parent name -> image root (``--image-root PARENT=DIR``).

    Raises:
        ValueError: an unknown source name or parent, or image roots without an ``rsivqa`` source.
        SourceNotFoundError: a source folder lacks a file or folder it needs (names it, shows the layout).
    """
    from rsgpt4v.build import BuildInput

    image_roots = dict(image_roots or {})
    if image_roots and "rsivqa" not in sources:
        raise ValueError("--image-root is only used by the rsivqa source; add --source rsivqa=PATH.")
    inputs = []
    for name, path in sources.items():
        adapter = get_source(name, image_roots=image_roots if name == "rsivqa" else None)
        root = Path(path)
        adapter.check(root)
        options: dict[str, Any] = {"root": str(root)}
        if name == "rsivqa":
            options["image_roots"] = {k: str(v) for k, v in image_roots.items()}
        inputs.append(
            BuildInput(
                name,
                lambda adapter=adapter, root=root: _all_splits(adapter, root),
                files=adapter.annotation_files(root),
                options=options,
            )
        )
    return inputs
