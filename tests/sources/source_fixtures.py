"""Helpers of the source adapter tests: the fixture generators of tests/data/<source>/data.py and stand-in images."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

DATA = Path(__file__).parents[1] / "data"
_FORMATS = {".tif": "TIFF", ".tiff": "TIFF", ".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}


def fixture_module(source: str) -> ModuleType:
    """Import tests/data/<source>/data.py (a standalone script) as a module."""
    path = DATA / source / "data.py"
    spec = importlib.util.spec_from_file_location(f"fixture_{source}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_image(path: Path, size: tuple[int, int] = (8, 8)) -> None:
    """Write a small image in the format its extension names (JPEG for unknown extensions)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (40, 90, 160)).save(path, format=_FORMATS.get(path.suffix.lower(), "JPEG"))


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to a fraction of its length, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def generated(tmp_path_factory: pytest.TempPathFactory, source: str, folder: str) -> Path:
    """Run a fixture generator into a fresh temporary folder and return the dataset root."""
    root = tmp_path_factory.mktemp(source) / folder
    fixture_module(source).generate(root)
    return root
