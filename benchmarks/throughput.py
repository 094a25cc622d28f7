"""Throughput of the whole pipeline against the raw encoder, on a generated corpus.

    python benchmarks/throughput.py --passages 5000 [--json]

Writes a corpus of transcripts with N participant passages (~45 words each, one per turn,
plus interviewer turns that are kept but not coded), then in this one process:
1. raw: `SentenceTransformer.encode` on exactly those N passage texts;
2. pipeline: `narratives run` (the Prefect flow) on the corpus into a fresh DuckDB file;
3. rerun: the same flow on the same, unchanged files.
Model loading and the Prefect server start-up are warmed up first for both sides, so the
figures compare steady-state work. Prints passages/s for both, their ratio and the rerun
speed-up (JSON keys: pipeline_pps, raw_pps, ratio, rerun_speedup).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPENERS = [
    "When we started in {place}",
    "Looking back on the first year",
    "Honestly, the thing I remember most",
    "At the partnership board in {month}",
    "Working with the {org} team",
    "For the residents on the {estate} estate",
]
MIDDLES = [
    "we sat down with GPs, housing officers and the voluntary sector to hear how referrals "
    "really worked, and it turned out nobody owned the whole journey",
    "I kept asking why the same families came back to the food bank every winter, so we "
    "pulled the data together and mapped the system",
    "the enabler helped us to build trust with people who had been let down before, and "
    "we gave the community group a real say over the budget",
    "we piloted a single front door for social prescribing and changed the process so "
    "that nobody had to tell their story three times",
    "it took a lot of persistence; we had setbacks and the funding nearly went, but we "
    "stuck with it because it mattered to the people we serve",
    "we changed the story we told councillors, from cost to prevention, and that opened doors",
]
CLOSERS = [
    "That was a turning point for {org}.",
    "I don't think we would have got there in {place} otherwise.",
    "It is still not perfect, but it is different now.",
    "People noticed, and {count} more practices joined.",
]
PLACES = ["Ashby Vale", "Kelsham", "Northmoor", "Radstow", "Brockwell", "Eastmere", "Holtby"]
ORGS = ["public health", "adult social care", "primary care", "housing", "the CCG"]


def passage(rng: random.Random, n: int) -> str:
    fill = dict(
        place=rng.choice(PLACES),
        month=rng.choice(["March", "June", "October"]),
        org=rng.choice(ORGS),
        estate=rng.choice(["Millfield", "Parkside", "Westgate"]),
        count=rng.randint(2, 30),
    )
    text = f"{rng.choice(OPENERS)}, {rng.choice(MIDDLES)}. {rng.choice(CLOSERS)}"
    return text.format(**fill) + f" (ref {n})"


def write_corpus(folder: Path, n_passages: int, per_doc: int = 50, seed: int = 7) -> list[str]:
    """Transcript files holding exactly `n_passages` participant turns; returns their texts."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    texts: list[str] = []
    for doc in range(0, n_passages, per_doc):
        lines = []
        for i in range(doc, min(doc + per_doc, n_passages)):
            text = passage(rng, i)
            texts.append(text)
            lines.append(f"Interviewer: Can you tell me more about that, point {i}?\n")
            lines.append(f"Participant {doc // per_doc}: {text}\n")
        (folder / f"interview_{doc // per_doc:05d}.txt").write_text("\n".join(lines))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=5000)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args()

    from flows import configure_prefect

    work = Path(tempfile.mkdtemp(prefix="narratives-bench-"))
    configure_prefect(work / "prefect")
    from flows.pipeline import pipeline
    from narratives.classify import load_classifier
    from narratives.codebook import load_codebook
    from narratives.embed import embed_texts, load_encoder
    from narratives.settings import Settings

    settings = Settings.from_env()
    corpus = work / "corpus"
    texts = write_corpus(corpus, args.passages)
    warm = work / "warm"
    write_corpus(warm, 20, seed=1)

    def log(msg: str) -> None:
        if not args.json:
            print(msg, file=sys.stderr, flush=True)

    log(f"corpus: {len(texts)} passages in {corpus}")
    # The raw side uses the encoder the pipeline embeds with (the default model's own).
    classifier = load_classifier(
        settings.model_dir,
        load_codebook(settings.codebook),
        lambda texts: embed_texts(texts, settings.embedding_model),
        settings.embedding_model,
    )
    encoder = load_encoder(classifier.encoder, settings.device)
    encoder.encode(texts[:64], batch_size=settings.batch_size)
    t = time.perf_counter()
    encoder.encode(texts, batch_size=settings.batch_size, normalize_embeddings=True)
    raw_s = time.perf_counter() - t
    log(f"raw encode: {raw_s:.1f} s")

    pipeline(paths=[str(warm)], db=str(work / "warm.duckdb"))
    db = str(work / "bench.duckdb")
    t = time.perf_counter()
    first = pipeline(paths=[str(corpus)], db=db)
    pipe_s = time.perf_counter() - t
    assert first["coded_passages"] == len(texts), first
    log(f"pipeline: {pipe_s:.1f} s")
    t = time.perf_counter()
    again = pipeline(paths=[str(corpus)], db=db)
    rerun_s = time.perf_counter() - t
    assert again["documents"] == 0 and again["unchanged"] == first["documents"], again
    log(f"rerun: {rerun_s:.2f} s")

    result = {
        "passages": len(texts),
        "raw_pps": round(len(texts) / raw_s, 2),
        "pipeline_pps": round(len(texts) / pipe_s, 2),
        "ratio": round(raw_s / pipe_s, 3),
        "rerun_speedup": round(pipe_s / rerun_s, 1),
        "raw_seconds": round(raw_s, 2),
        "pipeline_seconds": round(pipe_s, 2),
        "rerun_seconds": round(rerun_s, 2),
        "model_id": first["model_id"],
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
