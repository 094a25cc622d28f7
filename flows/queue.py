"""The evaluators' batch queue: the pipeline flow served as a Prefect deployment, batches
submitted to it as flow runs, their status, and retries.

    narratives server   # Prefect server on loopback, SQLite in PREFECT_HOME
    narratives serve    # registers the deployment, creates the DuckDB write limit, runs batches
    narratives queue data/sample --manifest data/sample/manifest.csv

Every DuckDB write of a served run holds the global concurrency limit `LOAD_LIMIT` (one
slot, created here at start-up, used with strict=True), so however many batches run at once,
one loads at a time while the others embed and code. What a batch is and how a run reads to a
user is library logic in `narratives.queue`; this module holds the Prefect calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterIdempotencyKey,
)
from prefect.client.schemas.sorting import ArtifactSort, FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Crashed

from narratives.queue import (
    LOAD_LIMIT,
    Batch,
    QueueError,
    RunStatus,
    parse_progress,
    run_key,
    stored_run,
    user_state,
)

DEFAULT_API_URL = "http://127.0.0.1:4200/api"
FLOW_NAME = "narratives-pipeline"
DEPLOYMENT_NAME = "batch-queue"
DEPLOYMENT = f"{FLOW_NAME}/{DEPLOYMENT_NAME}"
TAG = "narratives-queue"


@contextmanager
def prefect_api(api_url: str) -> Iterator[None]:
    """Talk to the Prefect server at `api_url`; an unreachable server is a QueueError."""
    try:
        with temporary_settings(updates={PREFECT_API_URL: api_url}):
            yield
    except (httpx.TransportError, ConnectionError) as e:
        raise QueueError(
            f"cannot reach the Prefect server at {api_url} ({type(e).__name__}); start it with "
            "`narratives server`, or pass --api-url (or set PREFECT_API_URL)"
        ) from e


def ensure_load_limit(limit: int = 1) -> None:
    """Create (or repair) the global concurrency limit that serialises DuckDB writes."""
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )

    with get_client(sync_client=True) as client:
        try:
            current = client.read_global_concurrency_limit_by_name(LOAD_LIMIT)
        except ObjectNotFound:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=LOAD_LIMIT, limit=limit, active=True)
            )
            return
        if current.limit != limit or not current.active:
            client.update_global_concurrency_limit(
                LOAD_LIMIT, GlobalConcurrencyLimitUpdate(limit=limit, active=True)
            )


def deployment_parameters(
    db: Path, model_dir: Path | None = None, codebook: Path | None = None
) -> dict[str, str]:
    """The pipeline's parameters for every queued batch: the database, and the model and
    codebook when named (absolute: batches run in processes of their own)."""
    from narratives.classify import ZERO_SHOT

    named = {"model_dir": model_dir, "codebook": codebook}
    return {
        "db": str(Path(db).resolve()),
        "load_limit": LOAD_LIMIT,
        **{
            k: str(v) if str(v) == ZERO_SHOT else str(Path(v).resolve())
            for k, v in named.items()
            if v is not None
        },
    }


def serve(
    db: Path,
    api_url: str,
    dask_address: str | None = None,
    concurrent_runs: int = 2,
    model_dir: Path | None = None,
    codebook: Path | None = None,
) -> None:
    """Register the deployment and run queued batches until interrupted (blocks).

    Up to `concurrent_runs` batches run at once, each in its own process; their DuckDB writes
    take turns through `LOAD_LIMIT`."""
    from flows.pipeline import with_task_runner

    with prefect_api(api_url):
        ensure_load_limit()
        flow = with_task_runner(dask_address)
        flow.serve(
            name=DEPLOYMENT_NAME,
            parameters=deployment_parameters(db, model_dir, codebook),
            limit=concurrent_runs,
            tags=[TAG],
            description="Evaluators' batch queue: `narratives queue PATH...` submits a batch.",
            pause_on_shutdown=False,
            print_starting_message=False,
        )


def submit(batch: Batch, api_url: str) -> tuple[RunStatus, bool]:
    """Queue `batch` as a flow run of the deployment and return at once: (its status, whether
    it is new). A batch already submitted (same key) returns its existing run."""
    with prefect_api(api_url), get_client(sync_client=True) as client:
        deployment = _deployment(client, api_url)
        key = run_key(batch.key, deployment.parameters or {})
        run, new = _create_run(client, deployment.id, batch.parameters, key, batch.name)
        return _status(client, run), new


def status(run_id: str, api_url: str) -> RunStatus:
    """The state, progress and (once stored) summary of one queued run."""
    with prefect_api(api_url), get_client(sync_client=True) as client:
        return _status(client, _flow_run(client, run_id))


def recent(api_url: str, limit: int = 10) -> list[RunStatus]:
    """The deployment's most recent runs, newest first."""
    with prefect_api(api_url), get_client(sync_client=True) as client:
        deployment = _deployment(client, api_url)
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )
        progress = _progress(client, [r.id for r in runs])
        return [_status(client, r, progress.get(r.id)) for r in runs]


def wait(run_id: str, api_url: str, timeout: float = 3600, poll: float = 1.0) -> RunStatus:
    """Poll until the run is done or failed (or `timeout` seconds pass); its last status."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(run_id, api_url)
        if current.state in ("done", "failed") or time.monotonic() >= deadline:
            return current
        time.sleep(poll)


def retry(run_id: str, api_url: str, force: bool = False) -> tuple[RunStatus, bool]:
    """Queue a failed run again: a new flow run of the same deployment with the same
    parameters; (its status, whether it is new: a run is retried once, asking again returns
    that retry). Loads replace each document whole, so nothing already loaded is duplicated.

    With `force`, a run still marked queued or running (its worker was killed) is first
    marked Crashed."""
    with prefect_api(api_url), get_client(sync_client=True) as client:
        run = _flow_run(client, run_id)
        state = user_state(run.state_type.value if run.state_type else None)
        if state == "done":
            raise QueueError(
                f"run {run_id} is done; there is nothing to retry (queue the batch again "
                "after changing its files)"
            )
        if state in ("queued", "running"):
            if not force:
                raise QueueError(
                    f"run {run_id} is still {state}; wait for it, or if its worker was killed, "
                    f"run `narratives retry {run_id} --force`"
                )
            client.set_flow_run_state(
                run.id, Crashed(message="marked crashed by `narratives retry --force`"), force=True
            )
        if run.deployment_id is None:
            raise QueueError(f"run {run_id} was not queued through `narratives queue`")
        key = f"{run.idempotency_key or run.id}:retry-of:{run.id}"
        again, new = _create_run(
            client, run.deployment_id, run.parameters, key, f"{run.name} (retry)"
        )
        return _status(client, again), new


def _create_run(client, deployment_id: UUID, parameters: dict, key: str, name: str):
    """(the deployment's flow run with idempotency key `key`, True if created now)."""
    from prefect.deployments import run_deployment

    existing = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(idempotency_key=FlowRunFilterIdempotencyKey(any_=[key])),
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        limit=1,
    )
    if existing:
        return existing[0], False
    # The server also answers a repeated key with the first run, should two submit at once.
    run = run_deployment(
        deployment_id,
        parameters=parameters,
        timeout=0,
        idempotency_key=key,
        flow_run_name=name,
        tags=[TAG],
        as_subflow=False,
    )
    return run, True


def _deployment(client, api_url: str):
    try:
        return client.read_deployment_by_name(DEPLOYMENT)
    except ObjectNotFound as e:
        raise QueueError(
            f"no deployment '{DEPLOYMENT}' on {api_url}; start `narratives serve` first "
            "(it registers the deployment and runs the queued batches)"
        ) from e


def _flow_run(client, run_id: str):
    try:
        return client.read_flow_run(UUID(run_id))
    except (ValueError, ObjectNotFound) as e:
        raise QueueError(f"no run {run_id!r}; `narratives status` lists the recent runs") from e


def _progress(client, run_ids: list[UUID]) -> dict[UUID, tuple[int, int]]:
    """(documents done, total) per flow run, from the pipeline's progress artifacts."""
    if not run_ids:
        return {}
    artifacts = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=run_ids),
            type=ArtifactFilterType(any_=["progress"]),
        ),
        sort=ArtifactSort.UPDATED_DESC,
    )
    found: dict[UUID, tuple[int, int]] = {}
    for artifact in artifacts:
        parsed = parse_progress(artifact.description)
        if artifact.flow_run_id not in found and parsed is not None:
            found[artifact.flow_run_id] = parsed
    return found


def _status(client, run, progress: tuple[int, int] | None = None) -> RunStatus:
    state = user_state(run.state_type.value if run.state_type else None)
    if progress is None:
        progress = _progress(client, [run.id]).get(run.id)
    summary = None
    db = (run.parameters or {}).get("db")
    if state in ("done", "failed") and db:
        summary = stored_run(db, str(run.id))
    if progress is None and summary is not None and summary["documents"] is not None:
        n = summary["documents"] + summary["unchanged"]
        progress = (n, n)
    created = run.created or datetime.now(UTC)
    return RunStatus(
        run_id=str(run.id),
        batch=run.name,
        state=state,
        state_name=run.state_name or "Scheduled",
        created=created.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
        message=run.state.message if run.state else None,
        documents_done=progress[0] if progress else None,
        documents_total=progress[1] if progress else None,
        summary=summary,
        parameters=dict(run.parameters or {}),
    )
