"""The evaluators' batch queue, end to end: a real Prefect server on loopback (`narratives
server`), the pipeline served by `narratives serve`, batches queued with `narratives queue`,
followed with `narratives status`, and a killed run retried with `narratives retry`; then
the DuckDB contents: every batch once.

The library side (batch keys, states, progress lines) is tested first, without a server."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from click.testing import CliRunner

from narratives.cli import main
from narratives.queue import (
    QueueError,
    batch_key,
    describe_batch,
    parse_progress,
    progress_text,
    run_key,
    user_state,
)
from tests.conftest import DATA, ROOT

BATCH_A = ["interview.txt", "interview.md", "meeting.vtt"]
BATCH_B = ["meeting.srt", "interview.docx", "report.txt"]
WAIT_S = 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _copy_batch(folder: Path, names: list[str]) -> Path:
    """Copies of some test files, with a manifest of their rows only."""
    folder.mkdir(parents=True)
    with open(DATA / "manifest.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(rows[0])
        writer.writerows(r for r in rows[1:] if r[0] in names)
    for name in names:
        shutil.copy(DATA / name, folder / name)
    return folder


# --- the library: no server -------------------------------------------------------------


def test_batch_key_follows_bytes_manifest_and_parameters(tmp_path):
    folder = _copy_batch(tmp_path / "a", BATCH_A)
    manifest = folder / "manifest.csv"
    first = describe_batch([folder], manifest)
    assert describe_batch([folder], manifest, name="other name").key == first.key
    assert first.name == "a"
    assert [p.name for p in first.files] == sorted(BATCH_A)  # the manifest is not a file
    assert first.parameters == {"paths": [str(folder.resolve())], "manifest": str(manifest)}
    assert describe_batch([folder]).key != first.key
    assert describe_batch([folder], manifest, extra={"chunk_documents": 1}).key != first.key
    (folder / "interview.txt").write_text("Participant: a changed file.\n")
    assert describe_batch([folder], manifest).key != first.key
    assert (
        batch_key(first.files, manifest, first.parameters) == describe_batch([folder], manifest).key
    )
    db1, db2 = {"db": "/data/one.duckdb"}, {"db": "/data/two.duckdb"}
    assert run_key(first.key, db1) == run_key(first.key, dict(db1))
    assert run_key(first.key, db1) != run_key(first.key, db2)


def test_describe_batch_refuses_missing_paths_and_empty_folders(tmp_path):
    with pytest.raises(QueueError, match=f"^no such file or folder: {tmp_path}/nope$"):
        describe_batch([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(QueueError, match="^no files to code in "):
        describe_batch([tmp_path / "empty"])


def test_states_and_progress_lines():
    assert [user_state(s) for s in ("SCHEDULED", "PENDING", "RUNNING", "COMPLETED")] == [
        "queued",
        "queued",
        "running",
        "done",
    ]
    assert {user_state(s) for s in ("FAILED", "CRASHED", "CANCELLED")} == {"failed"}
    assert progress_text(3, 7) == "3 of 7 documents done"
    assert parse_progress(progress_text(3, 7)) == (3, 7)
    assert parse_progress("documents coded") is None


def test_queue_without_a_server_says_how_to_start_one(tmp_path):
    folder = _copy_batch(tmp_path / "a", BATCH_A[:1])
    url = f"http://127.0.0.1:{_free_port()}/api"
    result = CliRunner().invoke(main, ["queue", str(folder), "--api-url", url])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot reach the Prefect server at {url} (ConnectError); start it with "
        "`narratives server`, or pass --api-url (or set PREFECT_API_URL)\n"
    )


def test_serve_refuses_a_model_and_codebook_that_disagree_before_it_starts(tmp_path):
    from flows.queue import deployment_parameters
    from narratives.queue import LOAD_LIMIT

    topics = ROOT / "tests/data/exclusive"
    model = tmp_path / "topics"
    trained = CliRunner().invoke(
        main,
        ["train", "--codebook", str(topics / "codebook.yaml"), "--examples",
         str(topics / "train.jsonl"), "--out", str(model)],
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    url = f"http://127.0.0.1:{_free_port()}/api"  # nothing listens: never reached
    shipped = ROOT / "data/codebooks/systems-leadership.yaml"
    result = CliRunner().invoke(
        main, ["serve", "--api-url", url, "--model", str(model), "--codebook", str(shipped)]
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: model {model} was trained on codebook meeting-topics@2 with codes"
    )
    assert deployment_parameters(tmp_path / "q.duckdb", model) == {
        "db": str((tmp_path / "q.duckdb").resolve()),
        "load_limit": LOAD_LIMIT,
        "model_dir": str(model.resolve()),
    }
    assert deployment_parameters(tmp_path / "q.duckdb", "zero-shot")["model_dir"] == "zero-shot"


def test_queue_refuses_a_missing_path(tmp_path):
    result = CliRunner().invoke(main, ["queue", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output == f"Error: no such file or folder: {tmp_path}/nope\n"


# --- a real server and a served pipeline --------------------------------------------------


def _stop(process: subprocess.Popen) -> None:
    """Stop a process started in its own session, and everything it started."""
    try:
        family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(True)]
    except psutil.NoSuchProcess:
        family = []
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    for p in family:  # flow-run processes may have left the group
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "narratives.cli", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_for(check, what: str, process: subprocess.Popen, log: Path, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what}: the process exited ({process.returncode}):\n{log.read_text()}")
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.5)
    pytest.fail(f"{what}: not ready after {timeout} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory):
    """`narratives server` on a free loopback port, with its own PREFECT_HOME; (url, env)."""
    import httpx

    home = tmp_path_factory.mktemp("prefect-server")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        PREFECT_HOME=str(home),
        NARRATIVES_PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
    )
    log = home / "server.log"
    process = _start(["server", "--port", str(port)], env, log)
    try:
        _wait_for(
            lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200,
            "prefect server",
            process,
            log,
        )
        yield url, env
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def served(prefect_server, tmp_path_factory):
    """`narratives serve` into a fresh DuckDB file; (url, db, the serve process)."""
    from prefect.client.orchestration import get_client

    from flows.queue import DEPLOYMENT, prefect_api

    url, env = prefect_server
    work = tmp_path_factory.mktemp("served")
    db = work / "queue.duckdb"
    log = work / "serve.log"
    # The shipped model, named: batches get it as a deployment parameter.
    model = ROOT / "models/systems-leadership"
    process = _start(["serve", "--api-url", url, "--db", str(db), "--model", str(model)], env, log)

    def registered() -> bool:
        with prefect_api(url), get_client(sync_client=True) as client:
            return client.read_deployment_by_name(DEPLOYMENT) is not None

    try:
        _wait_for(registered, "narratives serve", process, log)
        yield url, db, process
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("batches")
    return {"a": _copy_batch(root / "a", BATCH_A), "b": _copy_batch(root / "b", BATCH_B)}


def _read(db: Path, query: str) -> list[tuple]:
    """From the published read copy: the serving process owns the database itself."""
    con = duckdb.connect(str(db.with_name(db.stem + ".read.duckdb")), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_serve_creates_the_one_writer_limit(served):
    from prefect.client.orchestration import get_client

    from flows.queue import DEPLOYMENT, prefect_api
    from narratives.queue import LOAD_LIMIT

    url, _, _ = served
    with prefect_api(url), get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(LOAD_LIMIT)
        deployment = client.read_deployment_by_name(DEPLOYMENT)
    assert (limit.limit, limit.active) == (1, True)
    assert deployment.parameters["model_dir"] == str(ROOT / "models/systems-leadership")


def test_two_batches_and_a_duplicate_are_each_coded_once(served, batches):
    from flows.queue import wait

    url, db, _ = served
    runner = CliRunner()
    ids = {}
    for name in ("a", "b"):
        folder = batches[name]
        result = runner.invoke(
            main,
            ["queue", str(folder), "--manifest", str(folder / "manifest.csv"), "--api-url", url],
        )
        assert result.exit_code == 0, result.output
        m = re.fullmatch(
            rf"Queued batch '{name}' as run (\S+)\nFollow it with: narratives status \1\n",
            result.output,
        )
        assert m, result.output
        ids[name] = m.group(1)
    again = runner.invoke(
        main,
        ["queue", str(batches["a"]), "--manifest", str(batches["a"] / "manifest.csv"),
         "--api-url", url, "--batch", "a again"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert re.fullmatch(
        rf"Batch 'a' is already queued as run {ids['a']} \((queued|running|done)\);\n"
        r"not queued again \(change its files, or `narratives retry` a failed run\)\n",
        again.output,
    ), again.output

    for name, run_id in ids.items():
        assert wait(run_id, url, timeout=WAIT_S).state == "done", name

    shown = runner.invoke(main, ["status", ids["a"], "--api-url", url])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == f"Run {ids['a']}: done (Completed)"
    assert lines[1].startswith("  batch            : a (queued ")
    assert lines[2:4] == ["  documents        : 3 of 3 done", "  loaded           : 3 documents"]
    assert "  rejected files   : 0" in lines
    assert lines[-1] == f"  database         : {db.resolve()}"

    recent = runner.invoke(main, ["status", "--api-url", url])
    assert recent.exit_code == 0, recent.output
    for name, run_id in ids.items():
        assert re.search(rf"^{run_id}  {name}\s+done\s+3/3 ", recent.output, re.M), recent.output

    paths = _read(db, "SELECT path, count(*) FROM documents GROUP BY path ORDER BY path")
    expected = [batches["a"] / f for f in BATCH_A] + [batches["b"] / f for f in BATCH_B]
    expected = sorted(str(p.resolve()) for p in expected)
    assert paths == [(p, 1) for p in expected]
    runs = _read(db, "SELECT run_id, status, documents FROM runs ORDER BY run_id")
    assert runs == sorted((i, "ok", 3) for i in ids.values())
    assert _read(db, "SELECT count(*) = count(DISTINCT passage_id) FROM passages") == [(True,)]
    assert _read(db, "SELECT count(*) = count(DISTINCT (passage_id, code)) FROM code_scores") == [
        (True,)
    ]


def _transcript(turns: int, tag: str) -> str:
    words = "partnership trust residents data listening courage action story budget".split()
    lines = []
    for i in range(turns):
        said = " ".join(words[(i + j) % len(words)] for j in range(40))
        lines.append(f"Interviewer: And then, {tag} {i}?\n\nParticipant: {said}, {tag} {i}.\n")
    return "\n".join(lines)


def test_a_killed_run_is_retried_without_duplicates(served, batches, tmp_path):
    from flows.queue import status, submit, wait

    url, db, serve_process = served
    folder = tmp_path / "c"
    folder.mkdir()
    # Documents load one per chunk, in name order: the big middle one keeps the run busy
    # embedding after the first has loaded, which is when its process is killed.
    (folder / "c1_small.txt").write_text(_transcript(4, "first"))
    (folder / "c2_large.txt").write_text(_transcript(400, "second"))
    (folder / "c3_small.txt").write_text(_transcript(4, "third"))
    run, new = submit(describe_batch([folder], extra={"chunk_documents": 1}), url)
    assert new
    deadline = time.monotonic() + WAIT_S
    while (status(run.run_id, url).documents_done or 0) < 1:
        assert time.monotonic() < deadline, "the first document never loaded"
        time.sleep(0.2)
    runs = [
        p
        for p in psutil.Process(serve_process.pid).children(recursive=True)
        if "spawn_main" in " ".join(p.cmdline())
    ]
    assert len(runs) == 1, [p.cmdline() for p in runs]
    runs[0].kill()

    crashed = wait(run.run_id, url, timeout=60)
    assert (crashed.state, crashed.state_name) == ("failed", "Crashed")
    assert (crashed.documents_done, crashed.documents_total) == (1, 3)

    result = CliRunner().invoke(main, ["retry", run.run_id, "--api-url", url])
    assert result.exit_code == 0, result.output
    m = re.fullmatch(
        rf"Queued a retry of run {run.run_id} as run (\S+)\n"
        r"Follow it with: narratives status \1\n",
        result.output,
    )
    assert m, result.output
    again = CliRunner().invoke(main, ["retry", run.run_id, "--api-url", url])
    assert again.output.startswith(f"Run {run.run_id} was already retried as run {m.group(1)} (")

    retried = wait(m.group(1), url, timeout=WAIT_S)
    assert retried.state == "done", retried
    # The document loaded before the kill is kept, not loaded again.
    assert (retried.summary["documents"], retried.summary["unchanged"]) == (2, 1)
    stored = _read(db, "SELECT path, count(*) FROM documents WHERE path LIKE '%/c/%' GROUP BY 1")
    names = ["c1_small.txt", "c2_large.txt", "c3_small.txt"]
    assert sorted(stored) == [(str((folder / name).resolve()), 1) for name in names]
    assert _read(db, "SELECT count(*) = count(DISTINCT passage_id) FROM passages") == [(True,)]
    assert _read(db, "SELECT count(*) FROM documents") == [(len(BATCH_A) + len(BATCH_B) + 3,)]

    refused = CliRunner().invoke(main, ["retry", m.group(1), "--api-url", url])
    assert refused.exit_code == 1
    assert refused.output == (
        f"Error: run {m.group(1)} is done; there is nothing to retry (queue the batch again "
        "after changing its files)\n"
    )


def test_status_of_an_unknown_run(served):
    url, _, _ = served
    result = CliRunner().invoke(main, ["status", "no-such-run", "--api-url", url])
    assert result.exit_code == 1
    assert result.output == (
        "Error: no run 'no-such-run'; `narratives status` lists the recent runs\n"
    )
