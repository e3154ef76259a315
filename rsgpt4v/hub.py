"""The dataset card of a build (rendered from ``hub_cards/``) and its upload to the Hugging Face Hub.

``render_card_body`` writes the prose of ``README.md`` (``rsgpt4v.build`` writes the YAML header above it) and
example thumbnails into the build folder. ``push`` uploads a build folder as a dataset repository and warns when
the build holds a source whose licence does not allow commercial use (``rsgpt4v.licences``).
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
import warnings
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rsgpt4v.licences import RSGPT4V_CITATION, SourceLicence, licence_for, licence_table, restricted
from rsgpt4v.schema import CONFIGS, SOURCES, SPLITS, TASKS

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = [
    "CARD_TEMPLATE",
    "THUMBNAIL_DIR",
    "UPLOAD_IGNORE",
    "LicenceWarning",
    "add_push_arguments",
    "push",
    "render_card_body",
    "report_sources",
    "restricted_sources",
    "run_push",
    "template_dir",
    "upload_folder",
]

#: File name of the dataset card template inside the template folder.
CARD_TEMPLATE = "dataset_card.md"
#: Folder of the build (relative to its root) that holds the card's example thumbnails.
THUMBNAIL_DIR = "thumbnails"
#: Longest side of a thumbnail, in pixels.
THUMBNAIL_PX = 256
#: Files of a build folder that are never uploaded (temporary, editor and OS files).
UPLOAD_IGNORE = [
    "*.tmp",
    "*.part",
    "*.partial",
    "*.lock",
    "*~",
    "*.swp",
    ".DS_Store",
    "**/.DS_Store",
    "__pycache__/**",
    "**/__pycache__/**",
    ".ipynb_checkpoints/**",
    ".cache/**",
]
_TEXT_CHARS = 160


class LicenceWarning(UserWarning):
    """A build holds a source whose licence does not allow commercial use, or states no licence."""


def template_dir() -> Path:
    """Return the folder of the card templates.

    It is ``<repo>/hub_cards`` in a source checkout and ``rsgpt4v/_hub_cards`` in an installed wheel
    (``pyproject.toml`` force-includes ``hub_cards`` there).

    Raises:
        FileNotFoundError: if neither folder holds the dataset card template.
    """
    package = Path(__file__).resolve().parent
    candidates = (package / "_hub_cards", package.parent / "hub_cards")
    for folder in candidates:
        if (folder / CARD_TEMPLATE).is_file():
            return folder
    tried = ", ".join(str(c / CARD_TEMPLATE) for c in candidates)
    raise FileNotFoundError(f"The dataset card template is missing (looked for {tried}); reinstall rsgpt4v.")


def _field(entry: Mapping[str, Any], index: int, key: str) -> Any:
    if not isinstance(entry, Mapping) or key not in entry:
        raise ValueError(
            f"build_report.json: counts[{index}] has no {key!r} field ({entry!r}); "
            "rebuild the folder with this version of rsgpt4v."
        )
    return entry[key]


def _counts(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The report's ``counts`` entries, checked: each names a known source, a config and a split."""
    counts = report.get("counts")
    if not isinstance(counts, list):
        raise ValueError("build_report.json has no 'counts' list; rebuild the folder with this version of rsgpt4v.")
    checked = []
    for i, entry in enumerate(counts):
        source = _field(entry, i, "source")
        if source not in SOURCES:
            raise ValueError(
                f"build_report.json: counts[{i}].source is {source!r}, not one of {', '.join(SOURCES)}; "
                "add the source to rsgpt4v.schema.Source and rsgpt4v.licences before building with it."
            )
        checked.append(
            {
                "source": source,
                "config": _field(entry, i, "config"),
                "split": _field(entry, i, "split"),
                "rows": int(_field(entry, i, "rows")),
                "accepted": int(entry.get("accepted", 0)),
                "read": int(entry.get("read", 0)),
                "rejected": int(entry.get("rejected", 0)),
                "no_public_answer": int(entry.get("no_public_answer", 0)),
            }
        )
    return checked


def report_sources(report: Mapping[str, Any]) -> list[str]:
    """Return the sources that have rows in a build, in ``SOURCES`` order.

    Args:
        report: the build report (``build_report.json``).

    Raises:
        ValueError: if the report's ``counts`` are malformed or name an unknown source.
    """
    present = {c["source"] for c in _counts(report) if c["rows"] > 0}
    return [s for s in SOURCES if s in present]


def restricted_sources(report: Mapping[str, Any]) -> list[SourceLicence]:
    """Return the licence entries of the build's sources that do not allow commercial use (or state no licence)."""
    return restricted(report_sources(report))


def _licence_message(flagged: list[SourceLicence]) -> str:
    listed = "; ".join(f"{e.name} ({e.source}): {e.licence}" for e in flagged)
    return (
        f"This build holds {len(flagged)} source(s) whose licence does not allow commercial use or states none: "
        f"{listed}. Check each homepage (docs/licences.md) before publishing; pass accept_licences=True "
        "(--accept-licences) to acknowledge."
    )


def _ordered(names: Any, order: tuple[str, ...]) -> list[str]:
    names = set(names)
    return [n for n in order if n in names] + sorted(names - set(order))


def _config_tables(report: Mapping[str, Any], counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    configs = report.get("configs") or {}
    by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in counts:
        by_config[c["config"]].append(c)
    tables = []
    for name in _ordered(set(configs) | set(by_config), CONFIGS):
        entries = by_config.get(name, [])
        if not entries:
            split_rows = [(s, configs[name][s]) for s in _ordered(configs[name], SPLITS)]
            note = (
                "Reads the answered rows of the task configs above (no files of its own)."
                if name == "instruct"
                else "No per-source counts in the build report."
            )
            tables.append({"name": name, "rows": [], "split_rows": split_rows, "note": note})
            continue
        splits = _ordered({e["split"] for e in entries}, SPLITS)
        cells: dict[tuple[str, str], dict[str, int]] = {(e["source"], e["split"]): e for e in entries}
        rows = []
        for source in _ordered({e["source"] for e in entries}, SOURCES):
            row = []
            for split in splits:
                e = cells.get((source, split))
                row.append(f"{e['rows']} ({e['accepted']})" if e else "—")
            rows.append({"source": source, "cells": row})
        totals = [
            f"{sum(e['rows'] for e in entries if e['split'] == s)} "
            f"({sum(e['accepted'] for e in entries if e['split'] == s)})"
            for s in splits
        ]
        tables.append({"name": name, "splits": splits, "rows": rows, "totals": totals})
    return tables


def _type_name(feature: Any) -> str:
    """A one-line name of a ``datasets`` feature type, e.g. ``list<struct{question: string, ...}>``."""
    from datasets import ClassLabel, Image, LargeList, List, Value

    if isinstance(feature, dict):
        return "struct{" + ", ".join(f"{k}: {_type_name(v)}" for k, v in feature.items()) + "}"
    if isinstance(feature, (List, LargeList)):
        length = getattr(feature, "length", -1)
        return f"list<{_type_name(feature.feature)}>" + (f"[{length}]" if length > 0 else "")
    if isinstance(feature, ClassLabel):
        return f"class_label[{', '.join(feature.names)}]"
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, Image):
        return "image"
    raise TypeError(f"No card name for feature type {type(feature).__name__}: {feature!r}")


def _feature_tables(config_names: list[str]) -> list[dict[str, Any]]:
    from rsgpt4v.schema import features

    return [
        {"name": name, "columns": [(col, _type_name(f)) for col, f in features(name).items()]} for name in config_names
    ]


def _md_text(text: str) -> str:
    """Collapse whitespace, shorten and escape Markdown in a snippet of example text."""
    text = " ".join(text.replace("<image>", " ").split())
    if len(text) > _TEXT_CHARS:
        text = text[: _TEXT_CHARS - 1].rstrip() + "…"
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


@dataclass(frozen=True)
class _Example:
    id: str
    config: str
    source: str
    path: str
    alt: str
    prompt: str
    answer: str


def _rows_of(folder: Path, config: str, splits: list[str]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(parquet file, row)`` of a config's shards, split by split, reading a few rows at a time."""
    import pyarrow.parquet as pq

    for split in splits:
        for path in sorted((folder / config).glob(f"{split}-*.parquet")):
            parquet = pq.ParquetFile(path)
            columns = [c for c in ("id", "image", "source", "conversations") if c in parquet.schema_arrow.names]
            if "image" not in columns:
                raise ValueError(f"{path}: no 'image' column; rebuild the folder with `rsgpt4v build`.")
            for batch in parquet.iter_batches(batch_size=8, columns=columns):
                for row in batch.to_pylist():
                    yield path, row


def _write_thumbnail(path: Path, row: dict[str, Any], out: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    image = row.get("image") or {}
    data = image.get("bytes")
    if not data:
        raise ValueError(
            f"{path}: row {row.get('id')!r}: field 'image' has no embedded bytes (path {image.get('path')!r}); "
            "rebuild the folder with `rsgpt4v build`, which embeds every image."
        )
    try:
        with Image.open(io.BytesIO(data)) as im:
            thumb = im.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(
            f"{path}: row {row.get('id')!r}: field 'image' does not decode ({err}); rebuild the folder."
        ) from err
    thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    thumb.save(out, format="JPEG", quality=85)


def _first_turn(conversations: list[dict[str, str]] | None, speaker: str) -> str:
    for turn in conversations or []:
        if turn.get("from") == speaker:
            return _md_text(turn.get("value") or "")
    return ""


def _thumbnails(folder: Path, report: Mapping[str, Any], count: int) -> list[_Example]:
    """Write up to ``count`` thumbnails, taking one row of each task config in turn, and describe them."""
    target = folder / THUMBNAIL_DIR
    if target.exists():
        shutil.rmtree(target)
    if count <= 0:
        return []
    configs = report.get("configs") or {}
    streams = {
        name: _rows_of(folder, name, _ordered(configs[name], SPLITS))
        for name in _ordered(configs, TASKS)
        if name in TASKS
    }
    examples: list[_Example] = []
    while streams and len(examples) < count:
        for name in list(streams):
            if len(examples) >= count:
                break
            found = next(streams[name], None)
            if found is None:
                del streams[name]
                continue
            path, row = found
            target.mkdir(exist_ok=True)
            rel = f"{THUMBNAIL_DIR}/{len(examples):02d}-{name}.jpg"
            _write_thumbnail(path, row, folder / rel)
            source = row.get("source")
            source_name = SOURCES[source] if isinstance(source, int) and 0 <= source < len(SOURCES) else str(source)
            row_id = str(row.get("id", ""))
            examples.append(
                _Example(
                    id=row_id,
                    config=name,
                    source=source_name,
                    path=rel,
                    alt=row_id.replace("[", "(").replace("]", ")"),
                    prompt=_first_turn(row.get("conversations"), "human"),
                    answer=_first_turn(row.get("conversations"), "gpt"),
                )
            )
    return examples


def _input_counts(report: Mapping[str, Any]) -> tuple[int, int]:
    """Number of inputs and of input files with a sha256 (inputs list their files, or are files themselves)."""
    inputs = report.get("inputs") or []
    files = 0
    for inp in inputs:
        if isinstance(inp, Mapping) and isinstance(inp.get("files"), list):
            files += sum(1 for f in inp["files"] if isinstance(f, Mapping) and f.get("sha256"))
        elif isinstance(inp, Mapping) and inp.get("sha256"):
            files += 1
    return len(inputs), files


def render_card_body(
    report: Mapping[str, Any],
    folder: Path,
    *,
    thumbnails: int = 4,
    repo_id: str | None = None,
) -> str:
    """Render the prose of a build's dataset card and write its example thumbnails.

    The card has a summary, a table of rows and items per source and split for every config, the features of
    every config, each source dataset present with its licence, homepage and citation (plus the licence table
    of ``rsgpt4v.licences``), the provenance of the build, a ``load_dataset`` snippet and example thumbnails.

    Args:
        report: the build report (``build_report.json`` of the format ``rsgpt4v.build`` writes).
        folder: the build folder; thumbnails are read from ``<config>/<split>-*.parquet`` and written to
            ``<folder>/thumbnails/`` (replaced), and the card links them relatively.
        thumbnails: how many example thumbnails to write (one task config after another); 0 for none.
        repo_id: the Hub id (``owner/name``) the build will be pushed to, for the loading snippet; a placeholder
            is shown when it is not known.

    Returns:
        The Markdown body of ``README.md`` (without the YAML header).

    Raises:
        ValueError: if the report is malformed, names an unknown source or config, or an image does not decode.
    """
    import jinja2

    folder = Path(folder)
    counts = _counts(report)
    configs = report.get("configs") or {}
    config_names = _ordered(configs, CONFIGS)
    task_configs = [c for c in config_names if c in TASKS]
    sources = [licence_for(s) for s in report_sources(report)]
    example_config = "vqa" if "vqa" in configs else (config_names[0] if config_names else "vqa")
    example_splits = _ordered(configs.get(example_config, {}), SPLITS)
    input_count, checksum_count = _input_counts(report)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(CARD_TEMPLATE).render(
        version=report.get("rsgpt4v_version", "unknown"),
        report_format=report.get("format", "unknown"),
        total_rows=sum(c["rows"] for c in counts),
        total_items=sum(c["accepted"] for c in counts),
        sources=sources,
        restricted=[s for s in sources if not s.commercial_use_ok],
        task_configs=task_configs,
        has_instruct="instruct" in configs,
        hub_path=repo_id or "<owner>/<name>",
        example_config=example_config,
        example_split=example_splits[0] if example_splits else "train",
        config_tables=_config_tables(report, counts),
        problems=[c for c in counts if c["rejected"] or c["no_public_answer"]],
        feature_tables=_feature_tables(config_names),
        licence_table=licence_table(),
        input_count=input_count,
        checksum_count=checksum_count,
        rejection_count=len(report.get("rejections") or []),
        leakage_count=len(report.get("leakage") or []),
        options=sorted((report.get("options") or {}).items()),
        thumbnails=_thumbnails(folder, report, thumbnails),
        rsgpt4v_citation=RSGPT4V_CITATION,
    )


def push(
    folder: Path,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    accept_licences: bool = False,
    api: HfApi | None = None,
) -> str:
    """Upload a build folder to the Hugging Face Hub as a dataset repository.

    Creates the repository if needed (``exist_ok``) and uploads the whole folder in one commit (parquet shards,
    ``README.md``, ``build_report.json``, thumbnails), skipping temporary files (``UPLOAD_IGNORE``).

    Args:
        folder: a folder written by ``rsgpt4v build`` (it has ``build_report.json`` and ``README.md``).
        repo_id: the dataset repository, ``owner/name``.
        token: a Hub token; ``None`` uses the logged-in token or ``HF_TOKEN``.
        private: create the repository as private (an existing repository keeps its visibility).
        accept_licences: do not warn about sources whose licence does not allow commercial use.
        api: the ``huggingface_hub.HfApi`` to call; a new one by default.

    Returns:
        The URL of the upload commit.

    Raises:
        rsgpt4v.build.NotABuildError: if ``folder`` is not a build.

    Warns:
        LicenceWarning: if the build holds a source that does not allow commercial use, unless ``accept_licences``.
    """
    from rsgpt4v.build import NotABuildError, read_report

    folder = Path(folder)
    report = read_report(folder)
    if not (folder / "README.md").is_file():
        raise NotABuildError(
            f"{folder} has a build report but no README.md (the dataset card); rebuild it with "
            f"`rsgpt4v build --out {folder}`."
        )
    flagged = restricted_sources(report)
    if flagged and not accept_licences:
        warnings.warn(LicenceWarning(_licence_message(flagged)), stacklevel=2)
    return upload_folder(
        folder,
        repo_id,
        repo_type="dataset",
        commit_message=f"Upload rsgpt4v build (rsgpt4v {report.get('rsgpt4v_version', 'unknown')})",
        token=token,
        private=private,
        api=api,
    )


def upload_folder(
    folder: Path,
    repo_id: str,
    *,
    repo_type: str,
    commit_message: str,
    token: str | None = None,
    private: bool = False,
    api: Any = None,
    ignore_patterns: Sequence[str] = tuple(UPLOAD_IGNORE),
) -> str:
    """Create the Hub repository if needed and upload ``folder`` without the files matching ``ignore_patterns``.

    Returns:
        The commit URL.
    """
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, token=token, private=private, repo_type=repo_type, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type=repo_type,
        token=token,
        commit_message=commit_message,
        ignore_patterns=list(ignore_patterns),
    )
    return str(getattr(commit, "commit_url", commit))


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``rsgpt4v push <folder> <repo_id>`` to a parser."""
    parser.add_argument("folder", type=Path, help="a build folder written by `rsgpt4v build`")
    parser.add_argument("repo_id", help="the Hub dataset repository, owner/name")
    parser.add_argument("--private", action="store_true", help="create the repository as private")
    parser.add_argument(
        "--accept-licences",
        action="store_true",
        help="upload without warning about sources whose licence does not allow commercial use",
    )
    parser.add_argument("--token", default=None, help="Hub token (default: the logged-in token or HF_TOKEN)")


def run_push(args: argparse.Namespace) -> int:
    """Run ``rsgpt4v push``: print the licence warnings, upload, print the commit URL.

    Returns:
        0 on success, 2 if the folder is not a build, 1 if the Hub refused or could not be reached.
    """
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    from rsgpt4v.build import NotABuildError, read_report

    try:
        flagged = [] if args.accept_licences else restricted_sources(read_report(args.folder))
        for entry in flagged:
            print(
                f"warning: {entry.name} ({entry.source}): {entry.licence}; see {entry.homepage or 'its supplier'}",
                file=sys.stderr,
            )
        if flagged:
            print(
                "warning: these sources do not allow commercial use or state no licence "
                "(pass --accept-licences to acknowledge).",
                file=sys.stderr,
            )
        url = push(args.folder, args.repo_id, token=args.token, private=args.private, accept_licences=True)
    except NotABuildError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (HfHubHTTPError, HFValidationError, OfflineModeIsEnabled) as err:
        print(f"error: upload of {args.folder} to {args.repo_id} failed: {err}", file=sys.stderr)
        return 1
    print(url)
    return 0
