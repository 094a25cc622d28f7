"""The pipeline flow: ingest -> segment -> embed -> code -> load.

Each task is a thin call into one library module. Documents are processed in chunks, each
loaded in its own transaction, so a long batch shows progress and a crash keeps what was done.
Nothing large travels through Prefect results: tasks do not persist results or cache across
runs; the embedding cache lives in the store, keyed by (model, passage text).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from narratives import __version__, store
from narratives.classify import (
    Classifier,
    codings_from_scores,
    context_vectors,
    is_trained_model,
    load_classifier,
    pool_scores,
    scoring_units,
)
from narratives.codebook import load_codebook
from narratives.embed import embed_texts, text_key
from narratives.ingest import ingest_batch
from narratives.queue import progress_text
from narratives.records import Document, Passage, RunSummary
from narratives.segment import segment
from narratives.settings import Settings

TASK = dict(cache_policy=NO_CACHE, persist_result=False)


@task(name="ingest files", **TASK)
def ingest(paths: list[str], manifest: str | None, settings: Settings):
    return ingest_batch(
        [Path(p) for p in paths],
        Path(manifest) if manifest else None,
        settings.interviewer_labels,
    )


def classifier_for(settings: Settings) -> Classifier:
    """The settings' classifier. Raises CodebookError or ModelError when the codebook or the
    model cannot be used: the CLI calls this before the flow starts, to say so in one line."""
    # A trained model codes by the codebook it was trained on unless one is named.
    own = is_trained_model(settings.model_dir) and not settings.codebook_given
    return load_classifier(
        settings.model_dir,
        None if own else load_codebook(settings.codebook),
        lambda texts: embed_texts(texts, settings.embedding_model, settings.batch_size),
        settings.embedding_model,
    )


@task(name="load classifier", **TASK)
def prepare_classifier(settings: Settings) -> Classifier:
    return classifier_for(settings)


@task(name="segment passages", **TASK)
def segment_documents(docs: list[Document], max_words: int) -> list[Passage]:
    return [p for doc in docs for p in segment(doc, max_words)]


@task(name="embed passages", **TASK)
def embed(texts: list[str], encoder: str, settings: Settings) -> np.ndarray:
    return embed_texts(texts, encoder, settings.batch_size, settings.device)


@task(name="code passages", **TASK)
def code(classifier: Classifier, ids: list[str], units: list[str], owner, vectors, around=None):
    """Scores of the passages `ids` from their units' vectors (`classify.scoring_units`) and,
    for a model that reads it, the vector of the turn before each unit's passage."""
    unit_scores = classifier.predict_scores(vectors, units, around)
    scores = pool_scores(unit_scores, owner, len(ids), classifier.window_pooling, units)
    return scores, codings_from_scores(classifier, ids, scores)


@contextmanager
def writing(settings: Settings, load_limit: str | None = None) -> Iterator:
    """A read-write store connection. Given `load_limit` (a served pipeline: see
    flows/queue.py), first a slot of that Prefect global concurrency limit, so one run at a
    time writes the DuckDB file however many are queued; a missing limit is an error."""
    if not load_limit:
        with store.open_store(settings.db) as con:
            yield con
        return
    from prefect.concurrency.sync import concurrency

    # A 60 s lease (the shortest allowed, renewed while held) frees the slot soon after a
    # killed run.
    with concurrency(load_limit, strict=True, lease_duration=60):
        with store.open_store(settings.db) as con:
            yield con


@task(name="load into DuckDB", retries=2, retry_delay_seconds=5, **TASK)
def load(
    settings: Settings,
    run_id: str,
    batch: store.CodedBatch,
    encoder_id: str,
    keys,
    vectors,
    load_limit,
) -> None:
    with writing(settings, load_limit) as con:
        new = store.embeddings_table(encoder_id, keys, vectors) if keys else None
        store.load_batch(con, run_id, batch, new)


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@flow(name="narratives-pipeline", log_prints=False)
def pipeline(
    paths: list[str],
    manifest: str | None = None,
    db: str | None = None,
    embedding_model: str | None = None,
    model_dir: str | None = None,
    codebook: str | None = None,
    chunk_documents: int = 200,
    load_limit: str | None = None,
) -> dict:
    """Code every participant passage of the given files into the DuckDB store; return the
    run summary (JSON-ready). `load_limit`: the Prefect global concurrency limit every DuckDB
    write holds (set by the served deployment; None runs locally without one)."""
    settings = Settings.from_env(
        db=db, embedding_model=embedding_model, model_dir=model_dir, codebook=codebook
    )
    run_id = str(flow_run.id or uuid.uuid4())
    classifier = prepare_classifier(settings)
    cb = classifier.codebook
    with writing(settings, load_limit) as con:
        dead = store.start_run(
            con, run_id, paths, model_id=classifier.model_id,
            embedding_model=classifier.encoder_id, codebook=cb.name,
            codebook_version=cb.version, codebook_sha256=cb.sha256,
            narratives_version=__version__,
        )  # fmt: skip
        store.record_codebook(con, cb, run_id)
    for earlier in dead:
        get_run_logger().warning(
            "run %s was killed before it finished: marked failed; what it loaded stays, and "
            "running its files again finishes them", earlier,
        )  # fmt: skip

    try:
        return _code_batch(
            settings, run_id, classifier, paths, manifest, load_limit, chunk_documents
        )
    except BaseException:
        # Recorded so `runs` never shows a dead run as running; documents already loaded stay.
        with writing(settings, load_limit) as con:
            store.finish_run(con, run_id, "failed", {})
        raise


def _code_batch(settings, run_id, classifier, paths, manifest, load_limit, chunk_documents):
    log = get_run_logger()
    cb = classifier.codebook
    docs, rejected = ingest(paths, manifest, settings)
    for r in rejected:
        log.warning("rejected %s: %s", r.path, r.reason)
    with writing(settings, load_limit) as con:
        docs, moved = store.resolve_documents(con, docs)
        unchanged = store.unchanged_documents(con, docs, classifier.model_id, cb.version)
    if moved:
        log.info("%d files moved or renamed since they were loaded: kept as they were", moved)
    todo = [d for d in docs if d.document_id not in unchanged]
    log.info("%d files read, %d unchanged, %d to code", len(docs), len(unchanged), len(todo))

    counts = dict(documents=0, unchanged=len(unchanged), passages=0, codings=0, coded=0, embedded=0)
    chunks = _chunks(todo, chunk_documents)
    done, total = len(unchanged), len(docs)
    progress = create_progress_artifact(
        100.0 * done / total if total else 100.0, description=progress_text(done, total)
    )
    for number, chunk in enumerate(chunks, start=1):
        embedded = counts["embedded"]
        _run_chunk(settings, run_id, classifier, chunk, counts, load_limit)
        done += len(chunk)
        update_progress_artifact(progress, 100.0 * done / total, progress_text(done, total))
        log.info(
            "chunk %d/%d: %d documents loaded (%d passages embedded); %s",
            number, len(chunks), len(chunk), counts["embedded"] - embedded,
            progress_text(done, total),
        )  # fmt: skip

    status = "partial" if rejected else "ok"
    counts["rejected"] = len(rejected)
    with writing(settings, load_limit) as con:
        store.record_rejections(con, run_id, rejected)
        store.finish_run(con, run_id, status, counts)
        store.publish(con, settings.db)
    return _summary(settings, run_id, status, counts, classifier, rejected).to_json()


def _run_chunk(
    settings: Settings, run_id: str, classifier: Classifier, docs, counts, load_limit
) -> None:
    # quote(): Prefect would otherwise walk every element of large arguments (measured: about
    # a second per task for 2,000 passages), looking for futures that are not there.
    passages = segment_documents(quote(docs), settings.max_words)
    coded = [p for p in passages if settings.code_interviewer or not p.is_interviewer]
    texts = [p.text for p in coded]
    # Every passage is embedded (the cache serves search and excerpts); a long one is scored
    # by its windows, embedded beside it.
    units, owner = scoring_units(classifier, texts)
    contexts = _preceding(passages, coded) if classifier.uses_context else []
    everything = texts + units + [c for c in contexts if c]
    keys = [text_key(t) for t in everything]
    with writing(settings, load_limit) as con:
        cached = store.cached_embeddings(con, classifier.encoder_id, keys)
    missing = list(dict.fromkeys(k for k in keys if k not in cached))
    if missing:
        first = {k: t for k, t in zip(keys, everything, strict=True)}
        fresh = _embed_spread([first[k] for k in missing], classifier.encoder, settings)
        cached.update(zip(missing, fresh, strict=True))
    else:
        fresh = np.zeros((0, 0), dtype=np.float32)
    ids = [p.passage_id for p in coded]
    if coded:
        vectors = np.stack([cached[k] for k in keys[len(texts) : len(texts) + len(units)]])
        around = None
        if contexts:
            from_cache = lambda ts: np.stack([cached[text_key(t)] for t in ts])  # noqa: E731
            around = context_vectors(contexts, from_cache, vectors.shape[1])[owner]
        wrap = quote if _local_runner() else _as_is  # a cluster's workers do not unwrap quote()
        scores, codings = code.submit(
            classifier, wrap(ids), wrap(units), wrap(owner), wrap(vectors), wrap(around)
        ).result()
    else:  # e.g. a document of interviewer turns only
        scores, codings = np.zeros((0, len(classifier.codebook.ids)), np.float32), []
    cb = classifier.codebook
    batch = store.CodedBatch(
        documents=docs, passages=passages, codings=codings, scores=scores, scored_ids=ids,
        codes=cb.ids, model_id=classifier.model_id, codebook=cb.name, codebook_version=cb.version,
    )  # fmt: skip
    load(
        settings,
        run_id,
        quote(batch),
        classifier.encoder_id,
        quote(missing),
        quote(fresh),
        load_limit,
    )
    counts["documents"] += len(docs)
    counts["passages"] += len(passages)
    counts["coded"] += len(coded)
    counts["codings"] += len(codings)
    counts["embedded"] += len(set(missing).intersection(keys[: len(texts)]))


def _preceding(passages: list[Passage], coded: list[Passage]) -> list[str]:
    """For each coded passage, the text of the passage before it in its document ("" for a
    document's first): the `context` that `export-training` writes."""
    before, previous = {}, None
    for p in passages:  # in document order, as segmented
        same = previous is not None and previous.document_id == p.document_id
        before[p.passage_id] = previous.text if same else ""
        previous = p
    return [before[p.passage_id] for p in coded]


# Texts per embedding task on a cluster task runner: some seconds of work for one CPU worker.
EMBED_PIECE = 256


def _embed_spread(texts: list[str], encoder: str, settings: Settings) -> np.ndarray:
    """Vectors of `texts`: one task with the default thread pool (its threads would share one
    model), pieces of EMBED_PIECE texts that the workers share on a cluster (Dask, Ray)."""
    local = _local_runner()
    size = len(texts) if local else EMBED_PIECE
    pieces = [texts[i : i + size] for i in range(0, len(texts), size)]
    wrap = quote if local else _as_is
    futures = [embed.submit(wrap(piece), encoder, settings) for piece in pieces]
    return np.concatenate([f.result() for f in futures])


def _local_runner() -> bool:
    """True unless the flow's submitted tasks go to a cluster (Dask, Ray)."""
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    context = FlowRunContext.get()
    return context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)


def _as_is(value):
    return value


def _summary(settings, run_id, status, counts, classifier, rejected) -> RunSummary:
    return RunSummary(
        run_id=run_id,
        status=status,
        db=str(settings.db),
        documents=counts["documents"],
        unchanged=counts["unchanged"],
        passages=counts["passages"],
        coded_passages=counts["coded"],
        codings=counts["codings"],
        embedded=counts["embedded"],
        model_id=classifier.model_id,
        codebook_version=classifier.codebook.version,
        rejected=tuple(rejected),
    )


def with_task_runner(dask_address: str | None = None):
    """The pipeline flow; given a Dask scheduler address (tcp://host:8786), one whose
    submitted tasks (embedding and coding) run on that existing Dask cluster."""
    if not dask_address:
        return pipeline
    from prefect_dask import DaskTaskRunner

    return pipeline.with_options(task_runner=DaskTaskRunner(address=dask_address))


if __name__ == "__main__":
    print(json.dumps(pipeline(["data/sample"], "data/sample/manifest.csv"), indent=2))
