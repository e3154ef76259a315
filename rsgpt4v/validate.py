"""Re-read a build and check it against its schema and its report; summarise it as tables."""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from rsgpt4v.build import read_report
from rsgpt4v.schema import COMMON_COLUMNS, SOURCES, TASKS, features

__all__ = ["ValidationError", "stats_table", "validate"]


class ValidationError(RuntimeError):
    """A build failed validation; ``problems`` lists every finding (file, row id, what is wrong)."""

    def __init__(self, folder: Path, problems: list[str]) -> None:
        shown = "\n  ".join(problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{folder}: {len(problems)} problem(s):\n  {shown}{more}")
        self.problems = problems


def _yaml_header(folder: Path) -> dict[str, Any]:
    text = (folder / "README.md").read_text()
    if not text.startswith("---\n"):
        return {}
    return yaml.safe_load(text.split("---\n", 2)[1]) or {}


def _check_images(table: Any, name: str, problems: list[str]) -> None:
    from PIL import Image

    for rid, image in zip(table.column("id").to_pylist(), table.column("image").to_pylist()):
        try:
            with Image.open(io.BytesIO(image["bytes"] or b"")) as img:
                img.load()
        except Exception as exc:  # noqa: BLE001 - every decoding failure is a finding
            problems.append(f"{name}: row {rid!r}: image does not decode ({exc})")


def validate(folder: Path | str, *, check_images: bool = True) -> dict[str, Any]:
    """Re-read every shard of a build and check schema, unique ids and question_ids, images and counts.

    Args:
        folder: a built folder.
        check_images: decode every image (the slow part).

    Returns:
        A summary: rows and items per (config, split).

    Raises:
        NotABuildError: the folder is not a build.
        ValidationError: listing every problem found.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    report = read_report(folder)
    problems: list[str] = []
    rows: Counter[tuple[str, str]] = Counter()
    accepted: Counter[tuple[str, str, str]] = Counter()
    for task in TASKS:
        expected_schema = features(task).arrow_schema
        ids: dict[str, set[str]] = defaultdict(set)
        qids: dict[str, set[str]] = defaultdict(set)
        for shard in sorted((folder / task).glob("*.parquet")):
            name = str(shard.relative_to(folder))
            split = shard.name.split("-")[0]
            try:
                table = pq.read_table(shard)
            except Exception as exc:  # noqa: BLE001 - a corrupt shard is a finding, named with its file
                problems.append(f"{name}: cannot be read as parquet ({exc})")
                continue
            if not table.schema.remove_metadata().equals(expected_schema.remove_metadata()):
                problems.append(f"{name}: schema differs from rsgpt4v.schema.features({task!r})")
                continue
            rows[(task, split)] += table.num_rows
            for row in table.select(["id", "source", *_qid_columns(task)]).to_pylist():
                if row["id"] in ids[split]:
                    problems.append(f"{name}: duplicate id {row['id']!r}")
                ids[split].add(row["id"])
                row_qids = _question_ids(task, row)
                accepted[(SOURCES[row["source"]], task, split)] += len(row_qids)
                for q in row_qids:
                    if q in qids[split]:
                        problems.append(f"{name}: row {row['id']!r}: duplicate question_id {q!r}")
                    qids[split].add(q)
            if check_images:
                _check_images(table.select(["id", "image"]), name, problems)
    for config, splits in report["configs"].items():
        for split, n in splits.items():
            got = rows[(config, split)] if config != "instruct" else None
            if got is not None and got != n:
                problems.append(f"{config}/{split}: {got} rows on disk, the report says {n}")
    for entry in report["counts"]:
        key = (entry["source"], entry["config"], entry["split"])
        if entry["config"] in TASKS and entry["accepted"] != accepted.get(key, 0):
            problems.append(
                f"{'/'.join(key)}: {accepted.get(key, 0)} items on disk, the report says {entry['accepted']}"
            )
        if entry["read"] != entry["accepted"] + entry["rejected"]:
            problems.append(f"{'/'.join(key)}: read {entry['read']} != accepted + rejected in the report")
    _check_instruct(folder, problems)
    if problems:
        raise ValidationError(folder, problems)
    return {"rows": dict(rows), "items": dict(accepted)}


def _qid_columns(task: str) -> list[str]:
    return {
        "caption": ["question_id"],
        "vqa": ["qa"],
        "grounding": ["objects"],
        "region_caption": ["objects"],
        "detail": ["question_id"],
        "conversation": ["turn_question_ids"],
    }[task]


def _question_ids(task: str, row: dict[str, Any]) -> list[str]:
    if task in ("caption", "detail"):
        return [row["question_id"]]
    if task == "conversation":
        return list(row["turn_question_ids"])
    return [item["question_id"] for item in row["qa" if task == "vqa" else "objects"]]


def _check_instruct(folder: Path, problems: list[str]) -> None:
    import pyarrow.parquet as pq

    configs = {c["config_name"]: c for c in _yaml_header(folder).get("configs", [])}
    if "instruct" not in configs:
        problems.append("README.md: the YAML header has no 'instruct' config")
        return
    entry = configs["instruct"]
    if list(entry.get("columns", [])) != list(COMMON_COLUMNS):
        problems.append("README.md: 'instruct' must select exactly the shared columns with 'columns:'")
    for files in entry["data_files"]:
        paths = files["path"] if isinstance(files["path"], list) else [files["path"]]
        for rel in paths:
            path = folder / rel
            if not path.is_file():
                problems.append(f"README.md: instruct lists {rel}, which does not exist")
                continue
            try:
                names = pq.read_schema(path).names
            except Exception:  # noqa: BLE001 - already reported by the shard check
                continue
            if not set(COMMON_COLUMNS) <= set(names):
                problems.append(f"{rel}: lacks the shared columns that instruct selects")


def stats_table(folder: Path | str) -> str:
    """A Markdown table per config: rows and items per source and split, from the build report."""
    report = read_report(Path(folder))
    lines: list[str] = []
    by_config: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in report["counts"]:
        by_config[entry["config"]].append(entry)
    for config in sorted(by_config):
        lines += [
            f"### {config}",
            "",
            "| source | split | rows | items | rejected | no public answer |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for e in sorted(by_config[config], key=lambda e: (e["source"], e["split"])):
            lines.append(
                f"| {e['source']} | {e['split']} | {e['rows']} | {e['accepted']} | {e['rejected']} | "
                f"{e['no_public_answer']} |"
            )
        lines.append("")
    instruct = report["configs"].get("instruct", {})
    lines.append("instruct rows: " + ", ".join(f"{s} {n}" for s, n in sorted(instruct.items())))
    return "\n".join(lines)
