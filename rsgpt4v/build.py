"""Records -> rows (one per image per task) -> Arrow -> a hub-layout folder with a build report.

Layout written to ``out``::

    README.md                                   YAML ``configs:`` + ``dataset_info:`` and the dataset card
    build_report.json                           every input item accounted for: read = accepted + rejected
    <task>/<split>-NNNNN-of-NNNNN.parquet       rows with the image bytes embedded
    <task>/<split>-noanswer-NNNNN-of-NNNNN.parquet   rows with no public answer (kept out of ``instruct``)

The ``instruct`` config stores nothing of its own: its YAML entry lists the answered task shards of each split and
selects the shared columns with ``columns:``, so every image is stored once per task.

The build is reproducible (rows sorted by id, the same inputs give byte-identical parquet files) and atomic (it
writes to a temporary folder beside ``out`` and swaps it in at the end; a failed build leaves ``out`` untouched).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from rsgpt4v import __version__
from rsgpt4v.card_yaml import metadata_yaml
from rsgpt4v.images import UnreadableImageError, storage_bytes
from rsgpt4v.rows import AdaptionOptions, make_row, record_row_id
from rsgpt4v.schema import QUESTION_TYPES, SOURCES, TASKS, Record, Rejection, SchemaError, features

__all__ = [
    "REPORT_NAME",
    "BuildError",
    "BuildInput",
    "BuildOptions",
    "DuplicateIdError",
    "LeakageError",
    "NotABuildError",
    "build",
    "is_build",
    "read_report",
    "sha256_file",
]

REPORT_NAME = "build_report.json"
REPORT_FORMAT = 1
TEST_SPLITS = ("test", "test_phili")
_ROW_GROUP_SIZE = 100


class BuildError(RuntimeError):
    """The build cannot go on; the previous output is left untouched."""


class DuplicateIdError(BuildError):
    """Two items share an id or question_id within a config and split, or two inputs give the same row."""


class LeakageError(BuildError):
    """An image appears in a train split and in a test split."""


class NotABuildError(BuildError, FileNotFoundError):
    """A folder is not the output of ``rsgpt4v build``."""


@dataclass
class BuildInput:
    """One input of a build: a name (shown in the report) and a factory of its records and rejections.

    Attributes:
        name: the input's name, e.g. ``synthetic``, ``release`` or ``ucm_captions``.
        records: called once; yields ``Record``s and ``Rejection``s.
        files: annotation files whose sha256 is recorded in the report.
        options: parameters of the input recorded in the report (e.g. the synthetic seed).
    """

    name: str
    records: Callable[[], Iterable[Record | Rejection]]
    files: Sequence[Path] = ()
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildOptions:
    """Options of a build.

    Attributes:
        adaption: how typed items become instruction text (box format, padding).
        max_shard_bytes: cap on a parquet shard's estimated size (default 500 MB).
        prefer: ``release`` or ``legacy``: which input wins when two give the same row; ``None`` stops the build.
        allow_leakage: write the build although an image is in a train and a test split (it is still reported).
        workers: processes that decode, convert and write the shards.
        progress: show progress bars.
    """

    adaption: AdaptionOptions = field(default_factory=AdaptionOptions)
    max_shard_bytes: int = 500_000_000
    prefer: str | None = None
    allow_leakage: bool = False
    workers: int = 1
    progress: bool = True


@dataclass
class _Counts:
    read: int = 0
    accepted: int = 0
    rejected: int = 0
    rows: int = 0
    no_public_answer: int = 0


@dataclass
class _Row:
    owner: str
    records: list[Record] = field(default_factory=list)


class _Collector:
    """Phase 1: read every input, validate records, group them into rows, count everything."""

    def __init__(self, options: BuildOptions) -> None:
        self.options = options
        self.counts: dict[tuple[str, str, str], _Counts] = defaultdict(_Counts)
        self.rejections: list[dict[str, Any]] = []
        self.rows: dict[tuple[str, str], dict[str, _Row]] = defaultdict(dict)

    def reject(self, rej: Rejection) -> None:
        self.counts[(rej.source, rej.task or "unknown", rej.split)].rejected += 1
        self.rejections.append(asdict(rej))

    def reject_record(self, rec: Record, file: str, reason: str) -> None:
        self.reject(Rejection(rec.source, rec.split, file, rec.label, reason, rec.task))

    def add(self, input_name: str, item: Record | Rejection) -> None:
        key = (item.source, item.task or "unknown", item.split)
        self.counts[key].read += 1
        if isinstance(item, Rejection):
            self.reject(item)
            return
        try:
            item.validate()
        except SchemaError as exc:
            self.reject_record(item, item.image_file or item.image_path, str(exc))
            return
        rid = record_row_id(item)
        table = self.rows[(item.task, item.split)]
        row = table.get(rid)
        if row is None:
            table[rid] = _Row(input_name, [item])
        elif row.owner == input_name:
            row.records.append(item)
        else:
            self._collide(input_name, item, rid, row)

    def _collide(self, input_name: str, item: Record, rid: str, row: _Row) -> None:
        prefer = self.options.prefer
        if prefer is None:
            raise DuplicateIdError(
                f"Row {rid!r} comes from two inputs, {row.owner!r} and {input_name!r}. "
                "Pass --prefer release or --prefer legacy to keep one of them."
            )
        new_wins = item.origin == prefer and row.records[0].origin != prefer
        loser_records, reason_owner = ([item], row.owner) if not new_wins else (row.records, input_name)
        for rec in loser_records:
            self.reject_record(
                rec, rec.image_file or rec.image_path, f"superseded by input {reason_owner!r} (prefer {prefer})"
            )
        if new_wins:
            row.owner, row.records = input_name, [item]


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_question_ids(rows: dict[tuple[str, str], dict[str, _Row]]) -> None:
    for (task, split), table in rows.items():
        seen: dict[str, str] = {}
        for rid, row in table.items():
            for rec in row.records:
                if rec.question_id is None:
                    continue
                other = seen.get(rec.question_id)
                if other is not None:
                    raise DuplicateIdError(
                        f"question_id {rec.question_id!r} appears twice in config {task!r}, split {split!r}: "
                        f"rows {other!r} and {rid!r}. Give each item a unique id in its source."
                    )
                seen[rec.question_id] = rid


@dataclass
class _ShardJob:
    task: str
    path: str
    records_per_row: list[list[Record]]


#: Rows prepared per task handed to a worker; small enough to balance two workers on one shard.
_CHUNK_ROWS = 256
_SOURCE_INDEX = {name: k for k, name in enumerate(SOURCES)}
_TASK_INDEX = {name: k for k, name in enumerate(TASKS)}
_QTYPE_INDEX = {name: k for k, name in enumerate(QUESTION_TYPES)}
#: What forked workers read: the shard jobs and the adaption options (set before the pool starts).
_WORK: tuple[list[_ShardJob], AdaptionOptions] = ([], AdaptionOptions())


def _image_content(rec: Record) -> bytes:
    if rec.image_bytes is not None:
        return rec.image_bytes
    try:
        return Path(rec.image_file or "").read_bytes()
    except OSError as exc:
        raise UnreadableImageError(f"{rec.image_file}: cannot read image ({exc.strerror or exc})") from exc


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    """ClassLabel names to their indices (the only encoding the Arrow schema needs)."""
    row["source"] = _SOURCE_INDEX[row["source"]]
    row["task"] = _TASK_INDEX[row["task"]]
    for qa in row.get("qa", ()):
        qa["question_type"] = _QTYPE_INDEX[qa["question_type"]]
    return row


def _prepare_chunk(job_index: int, start: int, stop: int) -> tuple[Any, dict[str, Any]]:
    """Decode, convert and encode rows ``start:stop`` of a shard; return an Arrow table and the per-row outcomes."""
    import pyarrow as pa

    jobs, adaption = _WORK
    job = jobs[job_index]
    encoded: list[dict[str, Any]] = []
    outcome: dict[str, Any] = {"rows": [], "rejected": []}
    for records in job.records_per_row[start:stop]:
        first = records[0]
        name = first.image_file or first.image_path
        try:
            stored = storage_bytes(_image_content(first), name)
        except UnreadableImageError as exc:
            outcome["rejected"].extend((r, name, str(exc)) for r in records)
            continue
        kept = []
        for rec in records:
            rec.width, rec.height = stored.width, stored.height
            try:
                rec.check_boxes()
            except SchemaError as exc:
                outcome["rejected"].append((rec, name, str(exc)))
                continue
            kept.append(rec)
        if not kept:
            continue
        image = {"bytes": stored.data, "path": Path(first.image_path).name}
        row, _ = make_row(kept, image, stored.width, stored.height, adaption)
        encoded.append(_encode(row))
        outcome["rows"].append(
            {
                "id": row["id"],
                "source": first.source,
                "sha256": hashlib.sha256(stored.data).hexdigest(),
                "accepted": len(kept),
                "no_public_answer": sum(r.answer is None for r in kept if r.task in ("vqa", "conversation")),
            }
        )
    return pa.Table.from_pylist(encoded, schema=features(job.task).arrow_schema), outcome


def _write_shards(jobs: list[_ShardJob], options: BuildOptions) -> list[dict[str, Any]]:
    """Prepare every shard's rows in chunks (in ``workers`` forked processes) and write the shards in order.

    The output does not depend on the number of workers: chunks are concatenated in row order.
    """
    import multiprocessing

    import pyarrow as pa
    import pyarrow.parquet as pq

    global _WORK
    chunks = [
        (j, start, min(start + _CHUNK_ROWS, len(job.records_per_row)))
        for j, job in enumerate(jobs)
        for start in range(0, max(len(job.records_per_row), 1), _CHUNK_ROWS)
    ]
    _WORK = (jobs, options.adaption)
    # The collected records are long-lived: freezing them keeps the garbage collector from rescanning millions of
    # objects on every full collection, and keeps forked workers from copying the pages it would touch.
    gc.freeze()
    bar = tqdm(total=len(chunks), desc="write", unit="chunk", disable=not options.progress)
    parts: dict[int, list[tuple[Any, dict[str, Any]]]] = defaultdict(list)
    try:
        if options.workers > 1 and "fork" in multiprocessing.get_all_start_methods():
            pool = ProcessPoolExecutor(options.workers, mp_context=multiprocessing.get_context("fork"))
            with pool:
                results = pool.map(_prepare_chunk, *zip(*chunks), chunksize=1)
                for (j, _, _), result in zip(chunks, results):
                    parts[j].append(result)
                    bar.update()
        else:
            for j, start, stop in chunks:
                parts[j].append(_prepare_chunk(j, start, stop))
                bar.update()
    finally:
        _WORK = ([], AdaptionOptions())
        gc.unfreeze()
        bar.close()
    outcomes = []
    for j, job in enumerate(jobs):
        table = pa.concat_tables([t for t, _ in parts[j]])
        pq.write_table(table, job.path, row_group_size=_ROW_GROUP_SIZE, compression="snappy")
        outcomes.append(
            {
                "rows": [r for _, o in parts[j] for r in o["rows"]],
                "rejected": [r for _, o in parts[j] for r in o["rejected"]],
            }
        )
    return outcomes


def _estimated_bytes(records: list[Record]) -> int:
    first = records[0]
    size = len(first.image_bytes) if first.image_bytes is not None else _file_size(first.image_file)
    return size + sum(len(r.question or "") + len(r.answer or "") + len(r.text or "") + 64 for r in records)


def _file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path or "")
    except OSError:
        return 0


def _plan_shards(task: str, split: str, table: dict[str, _Row], root: Path, options: BuildOptions) -> list[_ShardJob]:
    jobs: list[_ShardJob] = []
    for kind in ("", "-noanswer"):
        ordered = [
            table[rid].records for rid in sorted(table) if (kind == "-noanswer") == _no_answer_row(table[rid].records)
        ]
        groups: list[list[list[Record]]] = []
        size = 0
        for records in ordered:
            est = _estimated_bytes(records)
            if not groups or (size + est > options.max_shard_bytes and groups[-1]):
                groups.append([])
                size = 0
            groups[-1].append(records)
            size += est
        for k, group in enumerate(groups):
            name = f"{split}{kind}-{k:05d}-of-{len(groups):05d}.parquet"
            jobs.append(_ShardJob(task, str(root / task / name), group))
    return jobs


def _no_answer_row(records: list[Record]) -> bool:
    return records[0].task in ("vqa", "conversation") and all(r.answer is None for r in records)


def is_build(folder: Path) -> bool:
    """Whether ``folder`` holds a build written by ``rsgpt4v build``."""
    report = Path(folder) / REPORT_NAME
    if not report.is_file():
        return False
    try:
        return "rsgpt4v_version" in json.loads(report.read_text())
    except (OSError, ValueError):
        return False


def read_report(folder: Path) -> dict[str, Any]:
    """Read the build report of a built folder.

    Raises:
        NotABuildError: when the folder has no readable build report.
    """
    folder = Path(folder)
    if not is_build(folder):
        raise NotABuildError(
            f"{folder} is not an rsgpt4v build (no readable {REPORT_NAME}); "
            f"build one with `rsgpt4v build --out {folder}`."
        )
    return json.loads((folder / REPORT_NAME).read_text())


def _records(inp: BuildInput, progress: bool) -> Iterator[Record | Rejection]:
    yield from tqdm(inp.records(), desc=f"read {inp.name}", unit="item", disable=not progress, leave=False)


def build(inputs: Sequence[BuildInput], out: Path | str, options: BuildOptions | None = None) -> dict[str, Any]:
    """Build a hub-layout folder from the given inputs and return the build report.

    Args:
        inputs: the inputs (sources, the synthetic generator, generated stores...).
        out: the output folder; replaced atomically if it is an earlier build.
        options: build options.

    Raises:
        NotABuildError: ``out`` exists, is not empty and is not an earlier build.
        DuplicateIdError: two items share an id (see ``BuildOptions.prefer`` for release vs legacy rows).
        LeakageError: an image is in a train and a test split and ``allow_leakage`` is false.
    """
    options = options or BuildOptions()
    out = Path(out).absolute()
    if out.exists() and any(out.iterdir()) and not is_build(out):
        raise NotABuildError(f"Refusing to replace {out}: it is not empty and is not an earlier rsgpt4v build.")
    collector = _Collector(options)
    started = time.perf_counter()
    inputs_meta = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of acyclic records: full collections would rescan them over and over
    try:
        for inp in inputs:
            for item in _records(inp, options.progress):
                collector.add(inp.name, item)
            files = [{"source": inp.name, "path": str(p), "sha256": sha256_file(Path(p))} for p in inp.files]
            inputs_meta.append({"name": inp.name, "options": inp.options, "files": files})
    finally:
        if gc_was_enabled:
            gc.enable()
    _check_question_ids(collector.rows)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        read_s = time.perf_counter() - started
        report = _write(collector, tmp, options)
        report["timings"] = {"read_s": read_s, "write_s": time.perf_counter() - started - read_s}
        report["inputs"] = inputs_meta
        report["options"] = {
            "box_format": options.adaption.box_format,
            "pad_to_square": options.adaption.pad_to_square,
            "max_shard_bytes": options.max_shard_bytes,
            "prefer": options.prefer,
            "allow_leakage": options.allow_leakage,
        }
        if report["leakage"] and not options.allow_leakage:
            shown = "; ".join(f"{e['sha256'][:12]}: {e['train'][0]} / {e['test'][0]}" for e in report["leakage"][:5])
            raise LeakageError(
                f"{len(report['leakage'])} images are in a train and a test split ({shown}). "
                "Fix the splits or pass --allow-leakage to build anyway (they stay listed in the report)."
            )
        (tmp / REPORT_NAME).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        from rsgpt4v.hub import render_card_body, report_sources
        from rsgpt4v.licences import hub_licence

        licence = hub_licence(report_sources(report))
        readme = metadata_yaml(report["_data_files"], report["configs"], licence) + render_card_body(report, tmp)
        del report["_data_files"]
        (tmp / REPORT_NAME).write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (tmp / "README.md").write_text(readme)
        _swap(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return report


def _write(collector: _Collector, root: Path, options: BuildOptions) -> dict[str, Any]:
    jobs: list[_ShardJob] = []
    for (task, split), table in sorted(collector.rows.items()):
        (root / task).mkdir(exist_ok=True)
        jobs.extend(_plan_shards(task, split, table, root, options))
    outcomes = _write_shards(jobs, options)

    data_files: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    split_rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    by_hash: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for job, outcome in zip(jobs, outcomes):
        split = Path(job.path).name.split("-")[0]
        rel = str(Path(job.path).relative_to(root))
        data_files[job.task][split].append(rel)
        split_rows[job.task][split] += len(outcome["rows"])
        if "-noanswer-" not in rel:
            data_files["instruct"][split].append(rel)
            split_rows["instruct"][split] += len(outcome["rows"])
        for rec, file, reason in outcome["rejected"]:
            collector.reject_record(rec, file, reason)
        for row in outcome["rows"]:
            counts = collector.counts[(row["source"], job.task, split)]
            counts.accepted += row["accepted"]
            counts.rows += 1
            counts.no_public_answer += row["no_public_answer"]
            by_hash[row["sha256"]]["test" if split in TEST_SPLITS else split].append(row["id"])
    leakage = [
        {"sha256": h, "train": sorted(s["train"]), "test": sorted(s["test"])}
        for h, s in sorted(by_hash.items())
        if s.get("train") and s.get("test")
    ]
    counts = [
        {"source": s, "config": c, "split": sp, **asdict(n)} for (s, c, sp), n in sorted(collector.counts.items())
    ]
    return {
        "rsgpt4v_version": __version__,
        "format": REPORT_FORMAT,
        "counts": counts,
        "rejections": collector.rejections,
        "leakage": leakage,
        "configs": {c: dict(sorted(v.items())) for c, v in sorted(split_rows.items())},
        "_data_files": {c: {s: sorted(f) for s, f in v.items()} for c, v in data_files.items()},
    }


def _swap(tmp: Path, out: Path) -> None:
    """Move the finished build into place; an earlier build is replaced only once the new one is complete."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.previous-{os.getpid()}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
