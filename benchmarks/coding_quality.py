"""Coding quality on the shared development passages, with an honest split.

    python benchmarks/coding_quality.py [--model models/systems-leadership] [--json]

The 120 coded passages in ../shared/data/dev_passages.jsonl are never trained on. They are
split by position: even lines are the *selection* half (used to choose between methods),
odd lines the *report* half (looked at only to report). Prints macro/micro F1, mean kappa and
per-code F1 on each half and on all 120, for the model, for zero-shot from the codebook, and
for zero-shot with the model's own (fine-tuned) encoder.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "data" / "dev_passages.jsonl"


def halves(folder: Path) -> dict[str, Path]:
    rows = DEV.read_text().splitlines()
    out = {}
    for name, part in (("selection", rows[0::2]), ("report", rows[1::2]), ("all", rows)):
        path = folder / f"{name}.jsonl"
        path.write_text("\n".join(part) + "\n")
        out[name] = path
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models/systems-leadership"))
    parser.add_argument("--codebook", default=str(ROOT / "data/codebooks/systems-leadership.yaml"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--update-card",
        action="store_true",
        help="write the results into the model's MODEL_CARD.md (section 'Unseen passages')",
    )
    args = parser.parse_args()

    from narratives.evaluate import evaluate, open_classifier

    folder = Path(tempfile.mkdtemp(prefix="narratives-quality-"))
    splits = halves(folder)
    results = {}
    trained = open_classifier(args.model, Path(args.codebook))
    candidates = [
        ("model", trained),
        ("zero-shot", open_classifier("zero-shot", Path(args.codebook))),
    ]
    if trained.encoder != trained.config["embedding_model"]:
        # The codebook's prototypes embedded with the model's fine-tuned encoder: is the gain in
        # the encoder or in the head?
        candidates.append(
            (
                "zero-shot/model encoder",
                open_classifier("zero-shot", Path(args.codebook), embedding_model=trained.encoder),
            )
        )
    for label, classifier in candidates:
        for split, path in splits.items():
            report = evaluate(classifier, path)
            results[f"{label}/{split}"] = {
                "model_id": report["model_id"],
                "n": report["n"],
                "macro_f1": report["macro_f1"],
                "macro_f1_interval": report["intervals"]["macro_f1"],
                "micro_f1": report["micro_f1"],
                "mean_kappa": report["mean_kappa"],
                "krippendorff_alpha": report["krippendorff_alpha"],
                "f1": {c: s["f1"] for c, s in report["per_code"].items()},
            }
    if args.update_card:
        update_card(Path(args.model) / "MODEL_CARD.md", results)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, r in results.items():
        per_code = "  ".join(f"{c} {f:.2f}" for c, f in r["f1"].items())
        print(
            f"{key:<32} n={r['n']:<4} macro-F1 {r['macro_f1']:.3f} "
            f"({r['macro_f1_interval'][0]:.2f}-{r['macro_f1_interval'][1]:.2f})  "
            f"kappa {r['mean_kappa']:.3f}  "
            f"{per_code}"
        )


CARD_SECTION = "## Unseen passages (shared development set)"


def update_card(card: Path, results: dict) -> None:
    """Replace (or add) the card's section on unseen passages with these results."""
    codes = list(next(iter(results.values()))["f1"])
    lines = [
        CARD_SECTION,
        "",
        "120 passages coded by three coders (mean pairwise kappa 0.87), never trained on; even",
        "lines chose between methods (selection), odd lines only report (report). The interval",
        "is the 95% bootstrap interval of macro-F1 over the passages (`narratives evaluate`).",
        "Measured by `python benchmarks/coding_quality.py --update-card`.",
        "",
        "| classifier / split | n | macro-F1 | 95% interval | micro-F1 | mean kappa | alpha | "
        + " | ".join(codes)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(codes),
    ]
    for key, r in results.items():
        lines.append(
            f"| {key} | {r['n']} | {r['macro_f1']:.3f} | "
            f"{r['macro_f1_interval'][0]:.2f}-{r['macro_f1_interval'][1]:.2f} | {r['micro_f1']:.3f} | "
            f"{r['mean_kappa']:.3f} | {r['krippendorff_alpha']:.3f} | "
            + " | ".join(f"{r['f1'][c]:.2f}" for c in codes)
            + " |"
        )
    text = card.read_text()
    if CARD_SECTION in text:
        start = text.index(CARD_SECTION)
        end = text.find("\n## ", start + 1)
        text = text[:start] + (text[end + 1 :] if end >= 0 else "")
    marker = "## Intended use and limits"
    section = "\n".join(lines) + "\n\n"
    text = text.replace(marker, section + marker) if marker in text else text + "\n" + section
    card.write_text(text)


if __name__ == "__main__":
    main()
