"""Fine-tuning steps encoded as one padded batch or in pieces of similar length.

    python benchmarks/micro_batch.py [--examples FILE] [--codebook FILE] [--steps 8]
                                     [--pieces 32,16,8,4]

`--micro-batch N` has fine-tuning encode each batch of 32 in pieces of N passages of similar
length, so one long passage does not pad the rest to its length. This times `fine_tune` (the
whole step: passages, the codes' descriptions, both losses, the optimiser) over one epoch of
`--steps` + 1 batches with each piece size, 32 being one padded batch, on the same batches
(seed 0); the seconds include loading and saving the encoder, the same for each, and the
first size run pays for warming up (list a size twice to see it). With `--long`, every tenth
example is replaced by four examples joined (~150 words), as in coded transcripts where a few
passages are paragraphs. Measured 2026-11-27, 2 cores, bfloat16, `--steps 20`: the shipped
examples, pieces 8, 32, 8: 37.0, 40.0, 32.0 s; `--long`, pieces 32, 8: 124.8, 50.0 s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from narratives import finetune  # noqa: E402
from narratives.codebook import load_codebook  # noqa: E402
from narratives.examples import label_matrix, load_examples  # noqa: E402
from narratives.train import TrainOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default=str(ROOT / "data/training/systems-leadership.jsonl"))
    parser.add_argument("--codebook", default=str(ROOT / "data/codebooks/systems-leadership.yaml"))
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--pieces", default="8,32,8")
    parser.add_argument("--long", action="store_true")
    args = parser.parse_args()

    codebook = load_codebook(Path(args.codebook))
    examples, _ = load_examples(Path(args.examples), codebook)
    texts = [e.text for e in examples]
    y = label_matrix(examples, codebook.ids)
    if args.long:
        pick = random.Random(0)
        for i in range(0, len(texts), 10):
            others = pick.sample(range(len(texts)), 3)
            texts[i] = " ".join([texts[i], *(texts[j] for j in others)])
            y[i] = y[[i, *others]].any(0)
    # Exactly --steps + 1 batches of 32: one epoch of a sample of that many examples.
    keep = np.random.RandomState(0).choice(len(texts), 32 * (args.steps + 1), replace=False)
    texts, y = [texts[i] for i in keep], y[keep]
    words = np.array([len(t.split()) for t in texts])
    print(f"{len(texts)} examples, words median {np.median(words):.0f}, max {words.max()}")
    descriptions = [code.description() for code in codebook.codes]
    for size in [int(p) for p in args.pieces.split(",")]:
        opts = TrainOptions(method="fine-tune", epochs=1, min_steps=0, seed=0, micro_batch=size)
        with tempfile.TemporaryDirectory() as out:
            started = time.monotonic()
            _, _, done = finetune.fine_tune(
                texts, y, codebook.exclusive, opts, Path(out) / "encoder", lambda m: None, None,
                descriptions,
            )  # fmt: skip
            total = time.monotonic() - started
        print(
            json.dumps(
                {
                    "pieces": size,
                    "steps": done["steps"],
                    "seconds": round(total, 1),
                    "tokens_read": done["tokens"],
                }  # fmt: skip
            )
        )


if __name__ == "__main__":
    main()
