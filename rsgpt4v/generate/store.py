"""The SQLite (WAL) job store of a generation run: one row per image and stage, safe to kill at any moment.

Every finished stage is written in one transaction together with its run's usage counters, so a process killed with
``kill -9`` loses at most the requests that were in flight. Re-running with the same store skips every ``done`` row
(no completed work is repeated) and, because images and jobs are keyed by primary keys, adds no duplicates.

Tables: ``images`` (what to generate for), ``jobs`` (``image_id``, ``stage``, ``status`` pending/done/failed,
``attempts`` = requests sent, token usage, the validated JSON ``output``, the failure ``error``, the ``model``),
``runs`` (one per invocation: model, endpoint without credentials, requests, tokens, prices) and ``meta``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "PENDING",
    "STAGES",
    "ImageItem",
    "JobResult",
    "JobState",
    "JobStore",
    "Prices",
    "RunSummary",
]

#: The stages of the pipeline, in the order they run for an image.
STAGES: tuple[str, ...] = ("local", "global", "conversation")
_SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    image_id TEXT PRIMARY KEY, source TEXT NOT NULL, split TEXT NOT NULL, image_path TEXT NOT NULL,
    image_file TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, annotations TEXT NOT NULL,
    position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    image_id TEXT NOT NULL REFERENCES images(image_id), stage TEXT NOT NULL, status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, output TEXT, error TEXT, model TEXT, run_id INTEGER,
    updated_at REAL, PRIMARY KEY (image_id, stage)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, started_at REAL NOT NULL, finished_at REAL, model TEXT NOT NULL,
    endpoint TEXT NOT NULL, requests INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, input_price REAL NOT NULL, output_price REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, used to estimate a run's cost (0 for a local server)."""

    input: float = 0.0
    output: float = 0.0

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The estimated cost in USD of the given usage."""
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


@dataclass
class ImageItem:
    """One image to generate for, with its existing annotations.

    Args:
        source: a ``rsgpt4v.schema.SOURCES`` name (``custom`` for images of your own).
        split: the split the generated rows go to.
        image_path: the release-relative path (unique within source and split).
        image_file: where the image is on disk.
        width: image width in pixels.
        height: image height in pixels.
        annotations: existing objects, dicts with ``category`` and ``bbox`` (pixel xyxy of this image).
    """

    source: str
    split: str
    image_path: str
    image_file: str
    width: int
    height: int
    annotations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def image_id(self) -> str:
        """The store key: ``<source>/<split>/<image_path>``."""
        return f"{self.source}/{self.split}/{self.image_path}"


class JobResult(NamedTuple):
    """A finished job to record: its output when done, its ``error`` when failed, and the usage it took."""

    run_id: int
    image_id: str
    stage: str
    model: str
    requests: int
    prompt_tokens: int
    completion_tokens: int
    output: Any = None
    error: str | None = None


class JobState(NamedTuple):
    """The state of one job: ``status`` (pending, done, failed), the validated ``output``, ``error``, ``model``."""

    status: str
    output: Any
    error: str | None
    model: str | None


#: The state of a job that has no row yet.
PENDING = JobState("pending", None, None, None)


@dataclass
class RunSummary:
    """Counts, failures, usage and cost: of one run (usage) and of the whole store (statuses)."""

    done: int
    failed: int
    pending: int
    failures: list[tuple[str, str, str]]
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost: float

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "failures": [{"image_id": i, "stage": s, "reason": r} for i, s, r in self.failures],
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost, 6),
        }


def _public_endpoint(url: str) -> str:
    """The endpoint without user info, query or fragment, so no credential ends up in the store."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class JobStore:
    """Open (or create) a job store at ``path``.

    Args:
        path: the SQLite file; its folder is created if missing.

    Raises:
        ValueError: if the file is not a job store of this version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if tables and "meta" not in tables:
                raise sqlite3.DatabaseError("it holds other tables")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed rows survive a killed process
            self._db.execute("PRAGMA busy_timeout=10000")
            with self._db:
                self._db.executescript("BEGIN;" + _SCHEMA + "COMMIT;")
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise ValueError(f"{self.path}: not a generation job store ({err}); pass a new --out path.") from None
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (_SCHEMA_VERSION,))
        elif row[0] != _SCHEMA_VERSION:
            raise ValueError(f"{self.path}: job store version {row[0]}, this rsgpt4v reads {_SCHEMA_VERSION}.")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_images(self, images: Iterable[ImageItem], stages: Iterable[str] = STAGES) -> int:
        """Register images and their pending jobs; images already in the store are left as they are.

        Returns:
            How many images were new.
        """
        stages = tuple(stages)
        added = 0
        with self._db:
            self._db.execute("BEGIN")
            position = self._db.execute("SELECT COALESCE(MAX(position), -1) + 1 FROM images").fetchone()[0]
            for item in images:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        item.image_id,
                        item.source,
                        item.split,
                        item.image_path,
                        str(item.image_file),
                        item.width,
                        item.height,
                        json.dumps(item.annotations),
                        position + added,
                    ),
                )
                added += cursor.rowcount
                self._db.executemany(
                    "INSERT OR IGNORE INTO jobs (image_id, stage, status) VALUES (?, ?, 'pending')",
                    [(item.image_id, stage) for stage in stages],
                )
        return added

    def images(self) -> Iterator[ImageItem]:
        """Every image in the order it was added."""
        for row in self._db.execute(
            "SELECT source, split, image_path, image_file, width, height, annotations FROM images ORDER BY position"
        ).fetchall():
            yield ImageItem(*row[:6], annotations=json.loads(row[6]))

    def jobs(self) -> dict[str, dict[str, JobState]]:
        """``{image_id: {stage: JobState}}`` for every job."""
        table: dict[str, dict[str, JobState]] = {}
        query = "SELECT image_id, stage, status, output, error, model FROM jobs"
        for image_id, stage, status, output, error, model in self._db.execute(query):
            state = JobState(status, json.loads(output) if output else None, error, model)
            table.setdefault(image_id, {})[stage] = state
        return table

    def job(self, image_id: str, stage: str) -> dict[str, Any] | None:
        """One job row as a dict (output parsed), or None."""
        cursor = self._db.execute("SELECT * FROM jobs WHERE image_id = ? AND stage = ?", (image_id, stage))
        row = cursor.fetchone()
        if row is None:
            return None
        job = dict(zip([c[0] for c in cursor.description], row))
        job["output"] = json.loads(job["output"]) if job["output"] else None
        return job

    def start_run(self, model: str, endpoint: str, prices: Prices) -> int:
        """Record the start of a run and return its id (the endpoint is stored without credentials)."""
        cursor = self._db.execute(
            "INSERT INTO runs (started_at, model, endpoint, input_price, output_price) VALUES (?, ?, ?, ?, ?)",
            (time.time(), model, _public_endpoint(endpoint), prices.input, prices.output),
        )
        return int(cursor.lastrowid)

    def finish_run(self, run_id: int) -> None:
        """Record the end of a run."""
        self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (time.time(), run_id))

    def record(
        self,
        run_id: int,
        image_id: str,
        stage: str,
        *,
        model: str,
        requests: int,
        prompt_tokens: int,
        completion_tokens: int,
        output: Any = None,
        error: str | None = None,
    ) -> None:
        """Finish a job in one transaction: ``done`` with its output, or ``failed`` with ``error``; adds the usage.

        A job that is already ``done`` is never overwritten (its usage still counts towards the run).
        """
        self.record_many(
            [JobResult(run_id, image_id, stage, model, requests, prompt_tokens, completion_tokens, output, error)]
        )

    def record_many(self, results: list[JobResult]) -> None:
        """Finish several jobs in one transaction (see ``record``)."""
        now = time.time()
        runs: dict[int, list[int]] = {}
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "UPDATE jobs SET status = ?, attempts = attempts + ?, prompt_tokens = prompt_tokens + ?, "
                "completion_tokens = completion_tokens + ?, output = ?, error = ?, model = ?, run_id = ?, "
                "updated_at = ? WHERE image_id = ? AND stage = ? AND status != 'done'",
                [
                    (
                        "failed" if r.error is not None else "done",
                        r.requests,
                        r.prompt_tokens,
                        r.completion_tokens,
                        None if r.output is None else json.dumps(r.output),
                        r.error,
                        r.model,
                        r.run_id,
                        now,
                        r.image_id,
                        r.stage,
                    )
                    for r in results
                ],
            )
            for r in results:
                totals = runs.setdefault(r.run_id, [0, 0, 0])
                totals[0] += r.requests
                totals[1] += r.prompt_tokens
                totals[2] += r.completion_tokens
            self._db.executemany(
                "UPDATE runs SET requests = requests + ?, prompt_tokens = prompt_tokens + ?, "
                "completion_tokens = completion_tokens + ? WHERE run_id = ?",
                [(*totals, run_id) for run_id, totals in runs.items()],
            )

    def summary(self, run_id: int | None = None) -> RunSummary:
        """Job counts and failures of the whole store; usage and cost of run ``run_id`` (all runs when None)."""
        counts = dict(self._db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())
        failures = self._db.execute(
            "SELECT j.image_id, j.stage, j.error FROM jobs j JOIN images i USING (image_id) "
            "WHERE j.status = 'failed' ORDER BY i.position, j.stage"
        ).fetchall()
        where, args = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        runs = self._db.execute(
            f"SELECT requests, prompt_tokens, completion_tokens, input_price, output_price FROM runs {where}", args
        ).fetchall()
        return RunSummary(
            done=counts.get("done", 0),
            failed=counts.get("failed", 0),
            pending=counts.get("pending", 0),
            failures=[tuple(f) for f in failures],
            requests=sum(r[0] for r in runs),
            prompt_tokens=sum(r[1] for r in runs),
            completion_tokens=sum(r[2] for r in runs),
            cost=sum(Prices(r[3], r[4]).cost(r[1], r[2]) for r in runs),
        )
