"""Queue: what a batch is, its idempotency key, and how a queued run reads to a user.

The Prefect side (serving the pipeline, submitting flow runs, reading their states) lives in
`flows/queue.py`; this module holds the logic that needs no Prefect, so it can be used and
tested on its own:
- `describe_batch`: the files of a batch and its key, a hash of their bytes, the manifest and
  the flow parameters, so the same batch submitted twice is one flow run;
- `RunStatus`: queued, running, done or failed, with documents done of total and, once done,
  the run's summary read from the DuckDB `runs` and `run_errors` tables.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# The Prefect global concurrency limit around every DuckDB write of a served pipeline: one
# writer at a time, however many batches are queued. `narratives serve` creates it.
LOAD_LIMIT = "narratives-duckdb-writer"

# Prefect state types -> the four states an evaluator sees.
USER_STATES = {
    "SCHEDULED": "queued",
    "PENDING": "queued",
    "PAUSED": "queued",
    "RUNNING": "running",
    "CANCELLING": "running",
    "COMPLETED": "done",
    "FAILED": "failed",
    "CRASHED": "failed",
    "CANCELLED": "failed",
}

_PROGRESS = re.compile(r"(\d+) of (\d+) documents")


class QueueError(RuntimeError):
    """A batch cannot be queued, or a run cannot be read or retried, as asked."""


@dataclass(frozen=True)
class Batch:
    """A set of files to code as one flow run, with the key that makes it submit once."""

    name: str
    parameters: dict  # the pipeline flow's: absolute paths, as the serving process sees them
    files: tuple[Path, ...]
    key: str


def describe_batch(
    paths: Sequence[Path | str],
    manifest: Path | str | None = None,
    name: str | None = None,
    extra: dict | None = None,
) -> Batch:
    """The batch of `paths` (files or folders), its files and idempotency key. `extra`: more
    flow parameters (e.g. chunk_documents), part of the key too.

    Raises QueueError when a path or the manifest does not exist or nothing is left to code."""
    from narratives.ingest import ManifestError, collect_inputs

    given = [Path(p).resolve() for p in paths]
    missing = [str(p) for p in given if not p.exists()]
    if missing:
        raise QueueError(f"no such file or folder: {', '.join(missing)}")
    manifest_path = Path(manifest).resolve() if manifest else None
    if manifest_path is not None and not manifest_path.is_file():
        raise QueueError(f"no such manifest: {manifest_path}")
    try:
        inputs, _ = collect_inputs(given, manifest_path)
    except ManifestError as e:
        raise QueueError(str(e)) from e
    if not inputs:
        raise QueueError(
            f"no files to code in {', '.join(map(str, given))}; expected .txt, .md, .docx, "
            ".vtt, .srt or .pdf files"
        )
    files = tuple(sorted(i.path.resolve() for i in inputs))
    parameters = {
        "paths": [str(p) for p in given],
        "manifest": _str(manifest_path),
        **(extra or {}),
    }
    return Batch(
        name=name or default_batch_name(given),
        parameters=parameters,
        files=files,
        key=batch_key(files, manifest_path, parameters),
    )


def batch_key(files: Sequence[Path], manifest: Path | None, parameters: dict) -> str:
    """A hash of the files (path and bytes), the manifest's bytes and the flow parameters."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path).encode() + b"\0")
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    digest.update(b"manifest\0" + (Path(manifest).read_bytes() if manifest else b""))
    digest.update(json.dumps(parameters, sort_keys=True, default=str).encode())
    return "narratives-batch-" + digest.hexdigest()[:40]


def run_key(key: str, defaults: dict) -> str:
    """The flow run's idempotency key: the batch's key and the deployment's own parameters
    (the database it loads into), so the same batch served into another database runs again."""
    digest = hashlib.sha256(json.dumps(defaults, sort_keys=True, default=str).encode())
    return f"{key}-{digest.hexdigest()[:12]}"


def default_batch_name(paths: Sequence[Path]) -> str:
    """The first path's name, with how many more paths there are."""
    first = Path(paths[0]).name or str(paths[0])
    return first if len(paths) == 1 else f"{first} +{len(paths) - 1}"


def user_state(state_type: str | None) -> str:
    """queued | running | done | failed, from a Prefect state type name."""
    return USER_STATES.get((state_type or "SCHEDULED").upper(), "queued")


def progress_text(done: int, total: int) -> str:
    """The progress line the pipeline writes (and `parse_progress` reads)."""
    return f"{done} of {total} documents done"


def parse_progress(text: str | None) -> tuple[int, int] | None:
    """(documents done, total) from a progress line, or None."""
    m = _PROGRESS.search(text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class RunStatus:
    """One queued batch as an evaluator sees it."""

    run_id: str
    batch: str
    state: str  # queued | running | done | failed
    state_name: str  # Prefect's: Scheduled, Late, Running, Completed, Crashed, ...
    created: str
    message: str | None = None
    documents_done: int | None = None
    documents_total: int | None = None
    summary: dict | None = None  # from the runs and run_errors tables, once stored
    parameters: dict = field(default_factory=dict, compare=False)

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "batch": self.batch,
            "state": self.state,
            "prefect_state": self.state_name,
            "created": self.created,
            "message": self.message,
            "documents_done": self.documents_done,
            "documents_total": self.documents_total,
            "summary": self.summary,
        }


def stored_run(db: Path | str, run_id: str) -> dict | None:
    """The run's row in `runs` with its rejected files from `run_errors`, read from the
    published copy of `db`; None when the run is not there (yet)."""
    from narratives.query import QueryError, run_query
    from narratives.settings import Settings

    settings = Settings.from_env(db=Path(db))
    try:
        columns, rows = run_query(
            settings,
            "SELECT status, documents, unchanged, passages, codings, rejected, started_at, "
            "finished_at FROM runs WHERE run_id = ?",
            [run_id],
        )
        if not rows:
            return None
        _, errors = run_query(
            settings, "SELECT path, reason FROM run_errors WHERE run_id = ? ORDER BY path", [run_id]
        )
    except QueryError:
        return None
    row = dict(zip(columns, rows[0], strict=True))
    row["started_at"] = _str(row["started_at"])
    row["finished_at"] = _str(row["finished_at"])
    row["rejected_files"] = [{"path": p, "reason": r} for p, r in errors]
    row["db"] = str(settings.db)
    return row


def describe_status(status: RunStatus) -> list[str]:
    """The lines `narratives status RUN_ID` prints."""
    lines = [f"Run {status.run_id}: {status.state} ({status.state_name})"]
    lines.append(f"  batch            : {status.batch} (queued {status.created})")
    if status.documents_total is not None:
        lines.append(
            f"  documents        : {status.documents_done} of {status.documents_total} done"
        )
    s = status.summary
    if s is not None and status.state == "done":
        unchanged = f" ({s['unchanged']} unchanged, skipped)" if s["unchanged"] else ""
        lines.append(f"  loaded           : {s['documents']} documents{unchanged}")
        lines.append(f"  passages         : {s['passages']}")
        lines.append(f"  codings          : {s['codings']}")
        lines.append(f"  rejected files   : {s['rejected']}")
        lines += [f"    {r['path']}: {r['reason']}" for r in s["rejected_files"]]
        lines.append(f"  database         : {s['db']}")
    if status.state == "failed":
        lines.append(f"  reason           : {status.message or 'not given'}")
        lines.append(f"  retry with       : narratives retry {status.run_id}")
    return lines


def describe_runs(statuses: Sequence[RunStatus]) -> tuple[list[str], list[tuple]]:
    """(columns, rows) of the recent runs for `narratives status` without a RUN_ID."""
    columns = ["run_id", "batch", "state", "documents", "created"]
    rows = []
    for s in statuses:
        docs = "" if s.documents_total is None else f"{s.documents_done}/{s.documents_total}"
        rows.append((s.run_id, s.batch, s.state, docs, s.created))
    return columns, rows


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Raise QueueError unless a TCP connection to the Dask scheduler at `address`
    (tcp://host:port) opens: a missing cluster is better said before a run starts."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        port = parts.port or 8786
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            pass
    except (OSError, ValueError) as e:
        raise QueueError(
            f"cannot reach the Dask scheduler at {address} ({e}); start the cluster first "
            "(`dask scheduler`, then `dask worker ADDRESS` on each machine), or leave out "
            "--dask-address"
        ) from e


def _str(value: object) -> str | None:
    return None if value is None else str(value)
