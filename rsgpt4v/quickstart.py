"""The main job on the embedded default data: build the synthetic sample, validate it, show it, load it back."""

from __future__ import annotations

import time
from pathlib import Path

from rsgpt4v.build import BuildInput, BuildOptions, build
from rsgpt4v.validate import stats_table, validate

__all__ = ["quickstart"]


def quickstart(out: Path, *, n_images: int = 600, seed: int = 0, progress: bool = True) -> None:
    """Build ``n_images`` synthetic 64 px images (every config, train and test) into ``out``, validate, load it."""
    from rsgpt4v.synthetic import synthetic_records

    start = time.perf_counter()
    report = build(
        [
            BuildInput(
                "synthetic",
                lambda: synthetic_records(n_images, size=64, seed=seed),
                options={"n_images": n_images, "seed": seed, "size": 64},
            )
        ],
        out,
        BuildOptions(progress=progress),
    )
    summary = validate(out)
    print(stats_table(out))
    print(f"\nValid: {sum(summary['rows'].values())} rows, {sum(summary['items'].values())} items.")
    import datasets

    folder = Path(out).absolute()
    ds = datasets.load_dataset(str(folder), "vqa")
    print("\nLoaded back with datasets:", {s: d.num_rows for s, d in ds.items()})
    print(f'\nFrom {folder.parent}:\n    datasets.load_dataset("{folder.name}", "vqa")')
    print(f'or from anywhere:\n    datasets.load_dataset({str(folder)!r}, "vqa")')
    print(f"Built in {time.perf_counter() - start:.1f} s; instruct rows: {report['configs'].get('instruct')}")
