"""The `narratives` command line: thin commands that parse, call one library function, print.

Heavy libraries (torch, sentence-transformers, prefect) are imported inside the commands that
use them, so `narratives --help` answers at once.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from narratives.settings import Settings

if TYPE_CHECKING:
    from narratives.train import TrainOptions

FORMATS = ("table", "csv", "json", "md")


def db_option(f):
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="DuckDB file [default: data/narratives.duckdb, or $NARRATIVES_DB].",
    )(f)


class UserError(click.ClickException):
    """One line that says what went wrong and what to try; exit status 1."""

    exit_code = 1


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="narratives")
def main() -> None:
    """Turn interview transcripts and project reports into coded, queryable evidence.

    \b
    Typical use:
      narratives run data/sample --manifest data/sample/manifest.csv
      narratives sql "SELECT code, count(*) FROM evidence GROUP BY code"
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of case attributes: file,title,place,project,wave,date,role.",
)
@db_option
@click.option(
    "--codebook",
    type=click.Path(path_type=Path),
    help="Codebook YAML file [default: a trained model's own; zero-shot: "
    "data/codebooks/systems-leadership.yaml]. Given with a trained model, it must have its codes.",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    help="Trained model folder, or zero-shot to code from the codebook alone [default: "
    "models/systems-leadership; zero-shot if absent].",
)
@click.option("--embedding-model", help="Sentence-transformers model name or folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show all of Prefect's log lines (task runs too), not only the progress lines.",
)
@click.option(
    "--dask-address",
    help="Embed and code on this running Dask cluster (tcp://host:8786) "
    "[or $NARRATIVES_DASK_ADDRESS; default: this machine].",
)
def run(paths, manifest, db, codebook, model_dir, embedding_model, fmt, verbose, dask_address):
    """Ingest, segment, embed, code and store the files in PATHS (files or folders).

    \b
    Exit status: 0 all files loaded; 3 some files rejected (the rest loaded, see the
    summary and the run_errors table); 1 the run failed and stored nothing new.
    """
    summary = _run_pipeline(
        paths, manifest, db, codebook, model_dir, embedding_model, verbose, dask_address
    )
    if fmt == "json":
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)
    sys.exit(summary.exit_code)


def _run_pipeline(
    paths, manifest, db, codebook, model_dir, embedding_model, verbose, dask_address=None
):
    from narratives.codebook import CodebookError
    from narratives.embed import EmbeddingModelError
    from narratives.ingest import ManifestError
    from narratives.model import ModelError
    from narratives.records import RunSummary
    from narratives.settings import SettingsError
    from narratives.store import StoreError

    settings = Settings.from_env(dask_address=dask_address)
    if settings.dask_address:
        from narratives.queue import QueueError, check_scheduler

        try:
            check_scheduler(settings.dask_address)
        except QueueError as e:
            raise UserError(str(e)) from e
    from flows import configure_prefect

    configure_prefect(settings.prefect_home, "INFO" if verbose else "WARNING")
    from flows.pipeline import classifier_for, with_task_runner

    pipeline = with_task_runner(settings.dask_address)
    try:
        # The codebook and model checked first: their problems in one line, not a flow's log.
        classifier_for(
            Settings.from_env(
                model_dir=model_dir, codebook=codebook, embedding_model=embedding_model
            )
        )
        result = pipeline(
            paths=[str(p) for p in paths],
            manifest=str(manifest) if manifest else None,
            db=str(db) if db else None,
            embedding_model=embedding_model,
            model_dir=str(model_dir) if model_dir else None,
            codebook=str(codebook) if codebook else None,
        )
    except (
        CodebookError, EmbeddingModelError, ManifestError, ModelError, SettingsError, StoreError
    ) as e:  # fmt: skip
        raise UserError(str(e)) from e
    return RunSummary.from_json(result)


def _print_summary(s) -> None:
    click.echo(f"Run {s.run_id}: {s.status}")
    click.echo(
        f"  documents loaded : {s.documents}"
        + (f" ({s.unchanged} unchanged, skipped)" if s.unchanged else "")
    )
    click.echo(f"  passages         : {s.passages} ({s.coded_passages} participant passages coded)")
    click.echo(f"  codings          : {s.codings} (model {s.model_id})")
    click.echo(f"  embedded now     : {s.embedded} (the rest from the cache)")
    click.echo(f"  rejected files   : {len(s.rejected)}")
    for r in s.rejected:
        click.echo(f"    {r.path}: {r.reason}")
    read = Settings.from_env(db=s.db).read_db
    click.echo(f"Database: {s.db} (readers open {read})")


@main.command()
@click.argument("query")
@db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table")
def sql(query, db, fmt) -> None:
    """Run a read-only SQL query against the published copy of the database.

    \b
    Example:
      narratives sql "SELECT place, code, count(*) AS n FROM evidence GROUP BY ALL"
    """
    from narratives.query import QueryError, run_query

    settings = Settings.from_env(db=db)
    try:
        columns, rows = run_query(settings, query)
    except QueryError as e:
        raise UserError(str(e)) from e
    click.echo(format_rows(columns, rows, fmt), nl=False)


def _model_errors():
    from narratives.codebook import CodebookError
    from narratives.embed import EmbeddingModelError
    from narratives.examples import ExamplesError
    from narratives.model import ModelError

    return (CodebookError, EmbeddingModelError, ExamplesError, ModelError, ValueError)


# What `train` and `cross-validate` share: how a model is trained.
_TRAINING_OPTIONS = [
    click.option(
        "--method",
        type=click.Choice(["auto", "fine-tune", "linear"]),
        default="auto",
        show_default=True,
        help="fine-tune the encoder with a classification head (minutes), or linear heads on "
        "frozen embeddings (seconds); auto: linear under 200 examples, fine-tune from 200.",
    ),
    click.option(
        "--epochs",
        type=click.IntRange(min=1),
        default=4,
        show_default=True,
        help="fine-tune: passes over the examples (more when there are few: at least --min-steps).",
    ),
    click.option(
        "--min-steps",
        type=click.IntRange(min=0),
        default=150,
        show_default=True,
        help="fine-tune: at least this many optimiser steps, however few the examples.",
    ),
    click.option(
        "--token-budget",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="fine-tune: stop once the encoder has read this many tokens, padding included: fewer "
        "epochs, for long or many passages (1000000: about 10 min on 2 cores; some loss of "
        "quality measured, see docs/coding-quality.md). 0: no bound.",
    ),
    click.option(
        "--head",
        type=click.Choice(["definitions", "free"]),
        default="definitions",
        show_default=True,
        help="fine-tune: score each code by a passage's similarity to the code's description "
        "(label, definition, include), embedded by the encoder as it learns (definitions), or by "
        "a layer learnt from scratch (free). linear: give each code's head the passage's "
        "similarity to its description as one more feature (definitions), or not (free). "
        "definitions coded unseen real passages better with both methods "
        "(docs/coding-quality.md).",
    ),
    click.option(
        "--definitions-weight",
        type=click.FloatRange(min=0),
        default=3.0,
        show_default=True,
        help="linear, --head definitions: how cheaply a code's head may lean on the similarity to "
        "its description (0: not at all, as --head free; 10 measured too much).",
    ),
    click.option(
        "--precision",
        type=click.Choice(["auto", "fp32", "bf16"]),
        default="auto",
        show_default=True,
        help="fine-tune: matrix products in bfloat16 (bf16) or float32 (fp32); auto: bfloat16 where "
        "the CPU has AMX (measured 1.3-1.4x faster, same quality within seed noise), else "
        "float32 (on a GPU too, where it measured faster for this size of encoder).",
    ),
    click.option(
        "--device",
        metavar="DEVICE",
        help="Fine-tune and embed on this torch device: cpu, cuda, cuda:1. Default: a CUDA GPU "
        "where torch sees one, else the CPU.",
    ),
    click.option(
        "--folds",
        type=click.IntRange(min=0),
        default=5,
        show_default=True,
        help="linear: calibrate on out-of-fold scores of every example (0 or 1: a held-out split).",
    ),
    click.option(
        "--codebook-examples/--no-codebook-examples",
        default=True,
        show_default=True,
        help="Also train on the codebook's definitions and exemplars (never calibrated on).",
    ),
    click.option(
        "--threshold-beta",
        type=click.FloatRange(min=0.1),
        default=1.0,
        show_default=True,
        help="Thresholds maximise F-beta on the calibration examples; above 1 favours recall.",
    ),
    click.option(
        "--own-calibration",
        type=click.IntRange(min=0),
        default=50,
        show_default=True,
        help="A code gets its own calibration and threshold when at least this many calibration "
        "examples have it and as many do not; codes with fewer share one, fitted on all codes "
        "together (measured better up to 800 examples, docs/coding-quality.md). 0: every code "
        "its own.",
    ),
    click.option(
        "--group-by-length/--no-group-by-length",
        default=False,
        show_default=True,
        help="fine-tune: batch passages of similar length (less padding: 1.75x faster measured, "
        "slightly less accurate).",
    ),
    click.option(
        "--micro-batch",
        type=click.IntRange(min=0),
        default=None,
        help="fine-tune: encode each batch in pieces of this many passages of similar length "
        "(less padding, same losses: 2-2.5x faster measured where a few passages are long); 0: "
        "each batch whole [default: pieces of 8 on a CPU where whole batches would be over "
        "half padding, else whole].",
    ),
    click.option(
        "--context/--no-context",
        default=False,
        show_default=True,
        help='linear: read each example\'s "context" (the preceding turn) beside it; the model then '
        "reads the passage before each one it codes.",
    ),
    click.option(
        "--lexical-weight",
        type=click.FloatRange(min=0),
        default=None,
        help="A head on the passages' words (TF-IDF of words and word pairs) adds its logits to "
        "the embedding head's, times this weight; 0: embeddings alone [default: linear takes "
        "the weight from 0 to 2 that codes the out-of-fold calibration scores best, so codes "
        "marked by wording, such as talk against report prose, gain and others keep 0; "
        "fine-tune reads no words, which gained it nothing measured].",
    ),
    click.option(
        "--window-words",
        type=click.IntRange(min=0),
        default=None,
        help="Multi-label: score passages longer than this many words by windows of whole "
        "sentences of at most that length, each code taking its highest [default: the 95th "
        "percentile of the examples' lengths]; 0 scores every passage whole. Exclusive: "
        "windows' probabilities are averaged [default: what the encoder reads, so a long "
        "passage is not cut short].",
    ),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--embedding-model", help="Base sentence-transformers model name or folder."),
]


def training_options(command):
    for option in reversed(_TRAINING_OPTIONS):
        command = option(command)
    return command


def _train_options(options: dict) -> TrainOptions:
    """The command line's training options as `TrainOptions` (the embedding model resolved
    as settings resolve it)."""
    from narratives.train import TrainOptions

    options = dict(options)
    options["embedding_model"] = Settings.from_env(
        embedding_model=options["embedding_model"]
    ).embedding_model
    return TrainOptions(**options)


bootstrap_option = click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Resamples of the examples for 95% intervals (JSON: `intervals`); 0: none.",
)
by_option = click.option(
    "--by",
    metavar="FIELD",
    help='Also report for each value of this key of the examples\' lines (e.g. "kind", '
    '"speaker_role", "place"): where the model codes well and where not.',
)
examples_option = click.option(
    "--examples",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Coded examples, JSON lines: {"text": ..., "codes": [...], "context": ...}.',
)
training_codebook_option = click.option(
    "--codebook",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Codebook YAML [default: data/codebooks/systems-leadership.yaml].",
)


@main.command()
@training_codebook_option
@examples_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@training_options
def train(codebook, examples, out, **options) -> None:
    """Train a classifier from coded examples into the model folder OUT.

    --method linear takes seconds; fine-tuning takes minutes and learned more from written
    passages at every size measured, but on a few dozen real coded passages linear heads were
    level with it or ahead (docs/coding-quality.md, "Training on your own coders'
    passages"). So by default (--method auto) fewer than 200 examples train linear heads and
    more fine-tune; `narratives cross-validate` measures either on your own examples. For the
    six dimensions, --method linear --embedding-model models/systems-leadership/encoder
    starts from the shipped encoder.

    \b
    Example (the shipped default model):
      narratives train --codebook data/codebooks/systems-leadership.yaml \\
        --examples data/training/systems-leadership.jsonl --out models/systems-leadership \\
        --threshold-beta 2 --seed 1 --precision fp32
    """
    from narratives.codebook import load_codebook
    from narratives.examples import load_examples
    from narratives.train import train as train_model

    opts = _train_options(options)
    try:
        cb = load_codebook(Settings.from_env(codebook=codebook).codebook)
        rows, sha = load_examples(examples, cb)
        metrics = train_model(cb, rows, sha, out, opts, log=lambda m: click.echo(m, err=True))
    except _model_errors() as e:
        raise UserError(str(e)) from e
    cal = metrics["calibration_split"]
    click.echo(
        f"Saved {out} ({metrics['calibration']} calibration split, n={cal['n']}: macro-F1 {cal['macro_f1']:.3f}, "
        f"mean kappa {cal['mean_kappa']:.3f}). Measure it on unseen passages with "
        f"`narratives evaluate --model {out} --examples FILE`."
    )


@main.command("codebook")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--examples",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Coded examples (JSON lines) to check against the codebook and count by code.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def codebook_command(file, examples, fmt) -> None:
    """Check a codebook FILE (and coded examples) before training: every problem at once,
    or what it holds.

    Prints each code with its label, how long its definition is, whether it says what
    counts (include) and what does not (exclude), its exemplars and, with --examples, how
    many coded examples have it; then what training will make of thin spots. Exits 1 if the
    codebook or the examples cannot be used. FILE defaults to the shipped codebook (or
    $NARRATIVES_CODEBOOK).

    \b
    Example:
      narratives codebook my-codebook.yaml --examples coded.jsonl
    """
    from narratives.codebook import CodebookError, load_codebook
    from narratives.examples import ExamplesError, describe, load_examples

    path = Settings.from_env(codebook=file).codebook
    try:
        cb = load_codebook(path)
        rows = load_examples(examples, cb)[0] if examples else None
    except (CodebookError, ExamplesError) as e:
        raise UserError(str(e)) from e
    summary = describe(cb, rows)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    kind = (
        "exclusive (one code a passage)"
        if cb.exclusive
        else "multi-label (zero or more codes a passage)"
    )
    click.echo(f"{path}: {cb.name}, version {cb.version}, {kind}, {len(cb.codes)} codes")
    columns = ["code", "label", "definition", "include", "exclude", "exemplars"]
    columns += ["examples"] if rows is not None else []
    table = [
        (
            r["id"],
            r["label"],
            f"{r['definition_words']} words",
            "yes" if r["include"] else "-",
            "yes" if r["exclude"] else "-",
            r["exemplars"],
            *([r["examples"]] if rows is not None else []),
        )
        for r in summary["codes"]
    ]
    click.echo(format_rows(columns, table, "table"), nl=False)
    if rows is not None:
        n = summary["examples"]
        click.echo(
            f"{examples}: {n['n']:,} examples, {n['no_code']:,} with no code, "
            f"{n['with_votes']:,} with votes, {n['with_context']:,} with context"
        )
    for note in summary["notes"]:
        click.echo(f"note: {note}")


@main.command("cross-validate")
@training_codebook_option
@examples_option
@click.option(
    "--k",
    type=click.IntRange(min=2),
    default=5,
    show_default=True,
    help="Folds: train on k-1 of them, code the one left out, k times.",
)
@click.option(
    "--predictions",
    type=click.File("w", encoding="utf-8"),
    help="Write each example with its out-of-fold codes, scores and fold (JSON lines), to "
    "see where the model and your coders disagree.",
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@bootstrap_option
@by_option
@training_options
def cross_validate(codebook, examples, k, predictions, fmt, bootstrap, by, **options) -> None:
    """How well training on your coded examples works, without a separate test set.

    Splits the examples into k folds, trains on k-1 as `train` would (same options) and
    codes the fold left out, k times; every example is coded once by a model that never
    saw it. Reports as `evaluate` does, on all examples pooled, with each fold's macro-F1.
    Compare methods on your own passages before training the model you will use (fine-
    tuning takes k times its training time; --method linear seconds).

    \b
    Example:
      narratives cross-validate --codebook my-codebook.yaml --examples coded.jsonl \\
        --method linear --predictions out-of-fold.jsonl
    """
    from narratives.codebook import load_codebook
    from narratives.evaluate import cross_validate as cross_validate_training
    from narratives.examples import load_examples

    opts = _train_options(options)
    try:
        cb = load_codebook(Settings.from_env(codebook=codebook).codebook)
        rows, sha = load_examples(examples, cb)
        if len(rows) < 2 * k:
            raise ValueError(f"{examples} has {len(rows)} examples: too few for {k} folds")
        report, coded, fold_of = cross_validate_training(
            cb,
            rows,
            opts,
            k,
            bootstrap,
            log=lambda m: click.echo(m, err=True),
            by=(examples, by) if by else None,
        )
    except _model_errors() as e:
        raise UserError(str(e)) from e
    report.update(examples=str(examples), examples_sha256=sha, codebook=cb.ref)
    if report["trained_on"]:
        click.echo(
            f"warning: {report['trained_on']} of {report['n']} passages in {examples} were "
            "coded by a fold's model trained on the same text (a passage on more than one "
            "line): their figures are not an estimate for unseen passages",
            err=True,
        )
    if predictions:
        _write_predictions(predictions, rows, coded, fold_of)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{opts.method}, {k}-fold cross-validation on {report['n']} examples from {examples} "
        f"({report['seconds']:.0f} s)"
    )
    _print_report(report)
    folds = ", ".join(f"{f['macro_f1']:.3f}" for f in report["folds"])
    click.echo(f"macro-F1 of each fold: {folds}")
    _print_groups(report)


model_option = click.option(
    "--model",
    "model",
    help="Trained model folder, or `zero-shot` (then --codebook is needed) [default: "
    "models/systems-leadership, from the working folder or else the project's].",
)
codebook_option = click.option(
    "--codebook",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Codebook YAML (for zero-shot; for a trained model, checked against its own).",
)


def _open_model(model, codebook):
    """The classifier `--model` names; without one, the shipped model (from the working folder
    if it has one, else the project's, as `run` finds it)."""
    from narratives.evaluate import open_classifier

    if model is None:
        model = Settings.from_env().model_dir
    try:
        return open_classifier(model, codebook, log=lambda m: click.echo(m, err=True))
    except _model_errors() as e:
        raise UserError(str(e)) from e


@main.command()
@model_option
@codebook_option
@examples_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@bootstrap_option
@by_option
@click.option(
    "--predictions",
    type=click.File("w", encoding="utf-8"),
    help="Write each example with the model's codes (`predicted`), `scores` and `uncertain` "
    "(JSON lines), to read where the model and your coders disagree.",
)
@click.option(
    "--compare",
    metavar="MODEL",
    help="Another model folder (or zero-shot) of the same codes: its figures, and how much "
    "better --model is on these passages, with a paired bootstrap interval.",
)
def evaluate(model, codebook, examples, fmt, bootstrap, by, predictions, compare) -> None:
    """Measure a classifier against coded examples it was not trained on.

    \b
    Per code precision, recall, F1, Cohen's kappa and support; macro and micro F1;
    Krippendorff's alpha; for exclusive codebooks accuracy and the confusion matrix;
    95% bootstrap intervals (passages resampled) showing how far each figure could move
    on another sample of passages like these; how well calibrated a trained model's
    probabilities are (Brier score, expected calibration error).
    Example:
      narratives evaluate --model models/systems-leadership --examples coded.jsonl
    """
    from narratives.evaluate import evaluate_coded

    classifier = _open_model(model, codebook)
    try:
        other = _open_model(compare, codebook) if compare else None
        report, rows, coded = evaluate_coded(
            classifier, examples, bootstrap, by, other, log=lambda m: click.echo(m, err=True)
        )
    except _model_errors() as e:
        raise UserError(str(e)) from e
    _warn_trained_on(report["trained_on"], report["n"], examples, "this model's")
    if theirs := report.get("comparison"):
        _warn_trained_on(theirs["trained_on"], report["n"], examples, "the --compare model's")
    if predictions:
        _write_predictions(predictions, rows, coded)
    if fmt == "json":
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{report['model_id']} on {report['n']} examples from {examples}")
    _print_report(report)
    _print_groups(report)
    if theirs := report.get("comparison"):
        click.echo(f"\ncompared with {theirs['model_id']}:")
        for key, name in (("macro_f1", "macro-F1"), ("mean_kappa", "mean kappa")):
            d = theirs["difference"][key]
            low, high = d["interval"]
            click.echo(
                f"  {name} {report[key]:.3f} against {theirs[key]:.3f}: {d['difference']:+.3f} "
                f"(95% interval {low:+.3f} to {high:+.3f}; higher in {d['share_better']:.0%} "
                "of resamples)"
            )


def _warn_trained_on(trained_on: int | None, n: int, examples: Path, whose: str) -> None:
    """On stderr, where some of the examples evaluated on were the model's training examples."""
    if trained_on:
        click.echo(
            f"warning: {trained_on} of {n} passages in {examples} were in {whose} training "
            "examples: its figures there are not an estimate for unseen passages (evaluate "
            "it on passages it was not trained on, or see `narratives cross-validate`)",
            err=True,
        )


def _shown(value: float | None, key: str, spans: dict) -> str:
    """A figure with its interval from `spans` (a report's `intervals`), where it has one;
    n/a for a figure that is undefined (None)."""
    if value is None:
        return "n/a"
    if spans.get(key) is None:
        return f"{value:.3f}"
    low, high = spans[key]
    return f"{value:.3f} ({low:.2f}-{high:.2f})"


def _write_predictions(out, examples, coded, folds=None) -> None:
    """Each coded example with what the model decided (`predicted`, `scores`, `uncertain`;
    `fold` for cross-validation), one JSON line each."""
    for i, (example, p) in enumerate(zip(examples, coded, strict=True)):
        line = {"text": example.text, "codes": list(example.codes)}
        if example.id:
            line["id"] = example.id
        line.update(predicted=p.codes, scores=p.scores, uncertain=p.uncertain)
        if folds is not None:
            line["fold"] = folds[i]
        out.write(json.dumps(line, ensure_ascii=False) + "\n")


def _print_groups(report: dict) -> None:
    """A report's `by` groups (`--by`), one row each."""
    if "by" not in report:
        return
    by = report["by"]["field"]
    rows = [
        (
            value,
            g["n"],
            _shown(g["macro_f1"], "macro_f1", g.get("intervals", {})),
            _shown(g["mean_kappa"], "mean_kappa", g.get("intervals", {})),
        )
        for value, g in report["by"]["groups"].items()
    ]
    click.echo(f"\nby {by}:")
    click.echo(format_rows([by, "n", "macro-F1", "mean kappa"], rows, "table"), nl=False)


# A code with fewer examples than this is marked in the table: its figures swing with a
# passage or two, and a bootstrap of so few can collapse to a point (support 3, F1 1.00-1.00).
FEW_SUPPORT = 10


def _print_report(report: dict) -> None:
    """An evaluation report (`evaluate`, `cross-validate`) as a table and a summary line;
    for exclusive codebooks, the confusion matrix."""
    spans = report.get("intervals", {})
    absent = report.get("absent_codes", [])

    def support(c: str, n: int) -> str:
        return f"{n} *" if n < FEW_SUPPORT and c not in absent else str(n)

    rows = [
        (
            c,
            "n/a" if s["precision"] is None else s["precision"],
            "n/a" if s["recall"] is None else s["recall"],
            _shown(s["f1"], "f1", spans.get("per_code", {}).get(c, {})),
            _shown(s["kappa"], "kappa", spans.get("per_code", {}).get(c, {})),
            support(c, s["support"]),
        )
        for c, s in report["per_code"].items()
    ]
    click.echo(
        format_rows(["code", "precision", "recall", "f1", "kappa", "support"], rows, "table"),
        nl=False,
    )
    if any(r[-1].endswith("*") for r in rows):
        trusted = "figures or intervals (an interval can shrink to a point)" if spans else "figures"
        click.echo(
            f"* support under {FEW_SUPPORT}: too few examples to trust these codes' {trusted}; "
            "code more examples of them"
        )
    click.echo(
        f"macro-F1 {_shown(report['macro_f1'], 'macro_f1', spans)}  "
        f"micro-F1 {_shown(report['micro_f1'], 'micro_f1', spans)}  "
        f"mean kappa {_shown(report['mean_kappa'], 'mean_kappa', spans)}  Krippendorff's alpha "
        f"{report['krippendorff_alpha']:.3f}"
        + (
            f"  accuracy {_shown(report['accuracy'], 'accuracy', spans)}"
            if "accuracy" in report
            else ""
        )
    )
    if absent:
        click.echo(
            f"(left out of macro-F1 and mean kappa: {', '.join(absent)}, in none of these "
            "examples and never predicted)"
        )
    if spans:
        click.echo(
            f"(in brackets: {spans['level']:.0%} intervals from {spans['resamples']} bootstrap "
            "resamples of these examples; --bootstrap 0 for none)"
        )
    if confusion := report.get("confusion"):
        labels = confusion["labels"]
        click.echo("\nconfusion matrix: a row for the coders' code, a column for the model's")
        click.echo(
            format_rows(
                ["coders \\ model", *labels],
                [(a, *row) for a, row in zip(labels, confusion["matrix"], strict=True)],
                "table",
            ),
            nl=False,
        )
    if cal := report.get("calibration"):
        click.echo(
            f"probabilities: Brier score {cal['brier']:.3f}, expected calibration error "
            f"{cal['ece']:.3f} (0 when a probability of p comes true p of the time)"
        )
    if band := report.get("abstain"):
        kept = band["confident_macro_f1"]
        rest = "none is kept" if kept is None else f"the rest score macro-F1 {kept:.3f}"
        click.echo(
            f"abstain band: {band['uncertain_decisions']:.0%} of decisions (in "
            f"{band['passages_with_uncertain']:.0%} of passages) go to a human; {rest}; "
            "settled as these examples' coders did, macro-F1 would be "
            f"{band['reviewed_macro_f1']:.3f} (mean kappa {band['reviewed_mean_kappa']:.3f})"
        )


@main.command()
@model_option
@codebook_option
@click.option("--input", "input_file", required=True, type=click.File("r", encoding="utf-8-sig"))
@click.option("--output", "output_file", type=click.File("w", encoding="utf-8"), default="-")
def predict(model, codebook, input_file, output_file) -> None:
    """Code passages from a JSON-lines file ({"text": ...} per line) with a classifier.

    A model trained with --context also reads each line's "context" (the preceding turn).
    Each output line is the input object plus `codes`, `scores` (every code) and
    `uncertain` (codes in the abstain band, for a human to check).
    """
    from narratives.evaluate import predict as predict_codes
    from narratives.examples import jsonl_values, unusable_lines

    classifier = _open_model(model, codebook)
    rows, problems = [], []
    for number, row in jsonl_values(input_file.read(), problems):
        row = {"text": row} if isinstance(row, str) else row  # a bare string is a passage
        text = row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            # An empty passage would still get the likeliest code of an exclusive codebook.
            problems.append(f'line {number}: expected {{"text": ...}} with a non-empty text')
            continue
        rows.append(row)
    if problems:
        raise UserError(unusable_lines(input_file.name, problems, "nothing coded"))
    for row, p in zip(
        rows,
        predict_codes(
            classifier,
            [r["text"] for r in rows],
            [str(r.get("context") or "") for r in rows],
            log=lambda m: click.echo(m, err=True),
        ),
        strict=False,
    ):
        row.update(codes=p.codes, scores=p.scores, uncertain=p.uncertain)
        output_file.write(json.dumps(row, ensure_ascii=False) + "\n")


@main.command()
@click.option(
    "--model",
    "model",
    help="Trained model folder [default: models/systems-leadership, from the working folder or "
    "else the project's].",
)
@click.argument("text")
@click.option("--neighbours", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--context", default="", help="The preceding turn, for a model trained with --context."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def explain(model, text, neighbours, context, fmt) -> None:
    """Show why a passage gets its codes: probabilities and the nearest coded examples.

    \b
    Example:
      narratives explain "We sat with families in the discharge lounge and listened."
    """
    from narratives.classify import ZERO_SHOT
    from narratives.evaluate import explain as explain_passage
    from narratives.model import TrainedClassifier

    if model == ZERO_SHOT:
        raise UserError(
            "explain needs a trained model folder: it shows the coded examples behind each code, "
            "and zero-shot has none (`narratives evaluate --model zero-shot --codebook FILE` "
            "scores zero-shot; `narratives train` makes a model folder)"
        )
    classifier = _open_model(model, None)
    if not isinstance(classifier, TrainedClassifier):
        raise UserError("explain needs a trained model folder (it shows its coded examples)")
    result = explain_passage(classifier, text, neighbours, context)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    click.echo(f"Model {result['model_id']}")
    windows = result["windows"]
    if len(windows) > 1:
        how = (
            "their probabilities averaged"
            if classifier.window_pooling == "mean"
            else "each code by its highest"
        )
        click.echo(
            f"Longer than {classifier.window_words} words (the model's window_words): scored "
            f"by {len(windows)} windows of whole sentences, {how}."
        )
    exclusive = classifier.codebook.exclusive
    if exclusive:
        click.echo("One code per passage (exclusive): the most probable, uncertain under 0.50.")
    width = max(map(len, result["scores"]))
    for code, score in sorted(result["scores"].items(), key=lambda kv: -kv[1]):
        mark = "applied" if code in result["codes"] else ""
        mark += " (uncertain)" if code in result["uncertain"] else ""
        threshold = "" if exclusive else f"  threshold {result['thresholds'][code]:.2f}"
        click.echo(f"  {code:<{width}}  {score:.2f}{threshold}  {mark}".rstrip())
    for code, support in result["nearest_examples"].items():
        click.echo(f"\nNearest coded examples for {code}:")
        if len(windows) > 1:
            click.echo(f"  (scored by window {result['window'][code] + 1}: "
                       f"\"{_clip(windows[result['window'][code]], 80)}\")")  # fmt: skip
        for ex in support:
            # Whole in --format json; a long example's start is enough to recognise it here.
            click.echo(
                f"  [{ex['similarity']:.2f}] {_clip(ex['text'], 240)}  ({', '.join(ex['codes'])})"
            )
        if raised := result["words"].get(code):
            terms = ", ".join(f'"{w["term"]}" (+{w["logit"]:.2f})' for w in raised)
            click.echo(f"  Words that raised it (logit): {terms}")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def format_rows(columns: list[str], rows: list[tuple], fmt: str) -> str:
    """Rows as an aligned table, CSV, JSON (a list of objects) or a Markdown table."""
    if fmt == "json":
        return (
            json.dumps([dict(zip(columns, r, strict=False)) for r in rows], default=str, indent=2)
            + "\n"
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buf.getvalue()
    cells = [["" if v is None else str(v).replace("\n", " ") for v in r] for r in rows]
    if fmt == "md":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        return "\n".join(lines) + "\n"
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


# --- human review and agreement (narratives.review, narratives.human, narratives.agreement) ---


def _existing_db(db: Path | None) -> Settings:
    settings = Settings.from_env(db=db)
    if not settings.db.exists():
        raise UserError(f"{settings.db} does not exist yet; run `narratives run` first")
    return settings


def _codebook_or_none(settings: Settings):
    """`store.database_codebook` of the database, read before the command opens it itself."""
    import duckdb

    from narratives.query import reader_path
    from narratives.store import StoreError, connect, database_codebook

    con = None
    if not settings.codebook_given and reader_path(settings).exists():
        try:
            con = connect(reader_path(settings), read_only=True, lock_timeout=5)
        except (StoreError, duckdb.Error):
            pass  # the file named or shipped, then
    try:
        return database_codebook(con, settings)
    finally:
        if con is not None:
            con.close()


@main.command()
@click.option("--coder", required=True, help="Your name, as recorded on your decisions.")
@click.option("--code", help="Review suggestions of this code only.")
@click.option("--limit", type=click.IntRange(min=1), help="Review at most N suggestions.")
@db_option
def review(coder, code, limit, db) -> None:
    """Accept, reject or change the model's least certain codings, one at a time.

    \b
    Keys: [a]ccept  [r]eject  [c]hange (type another code)  [s]kip  [q]uit.
    Each decision is stored at once; quit any time and carry on later.
    """
    from narratives.review import (
        AlreadyDecidedError,
        ReviewError,
        format_suggestion,
        model_codes,
        record_decision,
        suggestions,
    )
    from narratives.store import StoreError, open_store, publish

    settings = _existing_db(db)
    try:
        with open_store(settings.db) as con:
            items = suggestions(con, coder, code, limit)
            codes = model_codes(con, items[0].model_id) if items else []
    except (ReviewError, StoreError) as e:
        raise UserError(str(e)) from e
    if not items:
        click.echo(f"Nothing to review: {coder} has decided every suggestion.")
        return
    codebook = _codebook_or_none(settings)
    definitions = {c.id: c.definition for c in codebook.codes} if codebook else {}
    done = {"accept": 0, "reject": 0, "change": 0, "skip": 0}
    for number, item in enumerate(items, start=1):
        click.echo("\n" + format_suggestion(item, number, len(items), definitions.get(item.code)))
        key = click.prompt(
            "[a]ccept [r]eject [c]hange [s]kip [q]uit", type=click.Choice(list("arcsq")),
            show_choices=False,
        )  # fmt: skip
        if key == "q":
            break
        decision = {"a": "accept", "r": "reject", "c": "change", "s": "skip"}[key]
        new_code = None
        if decision == "change":
            others = [c for c in codes if c != item.code]
            new_code = click.prompt("Code instead", type=click.Choice(others))
        if decision != "skip":
            try:
                with open_store(settings.db) as con:
                    record_decision(con, item, decision, coder, new_code)
                    publish(con, settings.db)
            except AlreadyDecidedError as e:
                click.echo(f"  not stored: {e}")
                continue
            except (ReviewError, StoreError) as e:
                raise UserError(str(e)) from e
        done[decision] += 1
    click.echo(
        f"{coder}: {done['accept']} accepted, {done['reject']} rejected, "
        f"{done['change']} changed, {done['skip']} skipped."
    )


@main.command("import-codings")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--coder", help="Coder of the rows that name none (a coder column wins).")
@db_option
def import_codings_command(file, coder, db) -> None:
    """Import human codings from CSV (passage_id,code[,coder]) or JSON lines.

    \b
    Importing a file again replaces that coder's codings of the passages it names.
    Exit status: 0 all rows stored; 3 some passages are not in the database (listed).
    """
    from narratives.human import HumanCodingError, import_codings
    from narratives.store import StoreError, open_store, publish

    settings = _existing_db(db)
    codebook = _codebook_or_none(settings)
    try:
        with open_store(settings.db) as con:
            summary = import_codings(con, file, coder, codebook.ids if codebook else None)
            if summary.passages:
                publish(con, settings.db)
    except (HumanCodingError, StoreError) as e:
        raise UserError(str(e)) from e
    unknown = summary.unknown
    listed = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
    if unknown and not summary.passages:
        raise UserError(
            f"none of the {len(unknown)} passages in {file} is in {settings.db} ({listed}); "
            "were they coded in another database?"
        )
    click.echo(
        f"Imported {summary.stored} codings of {summary.passages} passages "
        f"(coder {', '.join(summary.coders)})."
    )
    if summary.no_codes:
        click.echo(f"  {summary.no_codes} passages listed with no code")
    if unknown:
        click.echo(f"  {len(unknown)} passages not in the database, not imported: {listed}")
        sys.exit(3)


@main.command()
@click.option("--coder-a", required=True, help="`model`, `model:<model_id>` or a coder's name.")
@click.option("--coder-b", required=True, help="`model`, `model:<model_id>` or a coder's name.")
@click.option("--code", help="Compare this code only.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@db_option
def agreement(coder_a, coder_b, code, fmt, db) -> None:
    """Agreement of two coders (the model counts as one) on the (passage, code) pairs both
    decided: a review decision decides one pair, an imported coding every code of a passage.

    \b
    Per code: Cohen's kappa, percent agreement, counts; overall: Krippendorff's alpha
    (nominal, each passage x code pair a unit) and the mean kappa.
    """
    from narratives.agreement import AgreementError
    from narratives.agreement import agreement as compute_agreement
    from narratives.query import reader_path
    from narratives.store import StoreError, connect

    settings = _existing_db(db)
    try:
        con = connect(reader_path(settings), read_only=True)
        try:
            report = compute_agreement(con, coder_a, coder_b, code)
        finally:
            con.close()
    except (AgreementError, StoreError) as e:
        raise UserError(str(e)) from e
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    click.echo(f"A: {report.coder_a.label}")
    click.echo(f"B: {report.coder_b.label}")
    click.echo(f"Passages both coded: {report.n_passages}")
    columns = ["code", "kappa", "agreement", "both", "only_a", "only_b", "neither"]
    rows = [
        (c.code, f"{c.kappa:.3f}", f"{100 * c.percent_agreement:.1f}%", c.both, c.only_a,
         c.only_b, c.neither)
        for c in report.per_code
    ]  # fmt: skip
    click.echo(format_rows(columns, rows, "table"), nl=False)

    def number(x):
        return "n/a" if x is None else f"{x:.3f}"

    click.echo(f"Mean kappa: {number(report.mean_kappa)}")
    click.echo(f"Krippendorff's alpha: {number(report.krippendorff_alpha)}")


@main.command("export-training")
@click.option(
    "--coder",
    required=True,
    multiple=True,
    help="Whose passages (decided in full) to export; repeat it to pool several coders.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@db_option
def export_training_command(coder, out, db) -> None:
    """Write the passages a coder decided in full as training examples (JSON lines).

    \b
    Each line: {"text": ..., "codes": [...], "context": <the passage before>, "id": ...};
    train on it with the trainer's examples option. A passage is decided in full when the
    coder imported its coding, or took a review decision on every code; passages reviewed
    on some codes only are skipped (their other codes were not judged) and counted.

    With --coder given more than once, the passages all of them decided in full: "codes" are
    those more than half of them gave, and where they split, "votes" gives each code's share
    of the coders, which fine-tuning learns from.
    """
    from narratives.human import HumanCodingError, export_training, partial_passages
    from narratives.query import reader_path
    from narratives.store import StoreError, connect

    settings = _existing_db(db)
    try:
        con = connect(reader_path(settings), read_only=True)
        try:
            examples = export_training(con, list(coder), out)
            partial = {p for c in coder for p in partial_passages(con, c)}
        finally:
            con.close()
    except (HumanCodingError, StoreError) as e:
        raise UserError(str(e)) from e
    empty = sum(1 for e in examples if not e["codes"])
    click.echo(f"Wrote {len(examples)} examples ({empty} with no code) to {out}")
    if len(coder) > 1:
        split = sum(1 for e in examples if "votes" in e)
        click.echo(
            f"  decided in full by all of {', '.join(coder)}; they split on {split}, written "
            'with "votes"'
        )
    if partial:
        click.echo(
            f"  skipped {len(partial)} passages reviewed on some codes only (not decided in "
            "full); review their other codes to include them"
        )


# --- batch queue for evaluators (flows/queue.py, narratives.queue) ---

DEFAULT_API_URL = "http://127.0.0.1:4200/api"


def api_url_option(f):
    return click.option(
        "--api-url",
        envvar="PREFECT_API_URL",
        default=DEFAULT_API_URL,
        show_default=True,
        help="The Prefect server's API [or $PREFECT_API_URL].",
    )(f)


def _use_prefect(log_level: str = "WARNING") -> None:
    """Prefect's settings, fixed before prefect is imported (the server's URL is passed to
    each call in flows/queue.py)."""
    from flows import configure_prefect

    configure_prefect(Settings.from_env().prefect_home, log_level)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=4200, show_default=True)
def server(host, port) -> None:
    """Start the Prefect server that the batch queue runs on, and keep it running.

    \b
    Its SQLite database lives in .prefect/ (or $NARRATIVES_PREFECT_HOME); the UI is at
    http://127.0.0.1:4200. The same as:
      PREFECT_HOME=.prefect prefect server start --host 127.0.0.1 --port 4200
    """
    import os

    _use_prefect()
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host]
    os.execv(sys.executable, [*command, "--port", str(port)])


@main.command()
@db_option
@api_url_option
@click.option(
    "--dask-address",
    help="Embed and code on this running Dask cluster (tcp://host:8786) "
    "[or $NARRATIVES_DASK_ADDRESS].",
)
@click.option(
    "--runs",
    "concurrent_runs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Batches run at once; their DuckDB writes still take turns.",
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    help="Code every batch with this trained model folder [default: as `narratives run`].",
)
@click.option(
    "--codebook",
    type=click.Path(path_type=Path),
    help="Codebook YAML file [default: the model's own; zero-shot: the shipped one].",
)
def serve(db, api_url, dask_address, concurrent_runs, model_dir, codebook) -> None:
    """Serve the pipeline to the batch queue: run queued batches until stopped (Ctrl-C).

    \b
    Registers the deployment narratives-pipeline/batch-queue on the Prefect server and
    the global concurrency limit that lets one batch at a time write the database.
    """
    import os

    from narratives.codebook import CodebookError
    from narratives.model import ModelError
    from narratives.queue import QueueError, check_scheduler

    settings = Settings.from_env(
        db=db, dask_address=dask_address, model_dir=model_dir, codebook=codebook
    )
    _use_prefect("INFO")  # before flows.pipeline imports prefect
    from flows.pipeline import classifier_for

    try:
        # A model that cannot code by the codebook fails here, not in every batch.
        classifier = classifier_for(settings)
        if settings.dask_address:
            check_scheduler(settings.dask_address)
    except (CodebookError, ModelError, QueueError) as e:
        raise UserError(str(e)) from e
    # Each batch runs in a process of its own, which must reach the same server.
    os.environ["PREFECT_API_URL"] = api_url
    # The runner looks for queued runs every 10 s by default: a batch would wait that long.
    os.environ.setdefault("PREFECT_RUNNER_POLL_FREQUENCY", "5")
    from flows.queue import DEPLOYMENT
    from flows.queue import serve as serve_queue

    on = f" on Dask at {settings.dask_address}" if settings.dask_address else ""
    click.echo(f"Serving {DEPLOYMENT} from {api_url}{on}; stop with Ctrl-C.")
    click.echo(f"Batches load into {settings.db.resolve()} (readers open {settings.read_db}).")
    click.echo(f"Coded by {classifier.model_id} ({classifier.codebook.ref}).")
    try:
        serve_queue(
            settings.db, api_url, settings.dask_address, concurrent_runs, model_dir, codebook
        )
    except QueueError as e:
        raise UserError(str(e)) from e


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--manifest",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of case attributes: file,title,place,project,wave,date,role.",
)
@click.option("--batch", "batch_name", help="A name for the batch [default: the first path's].")
@api_url_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def queue(paths, manifest, batch_name, api_url, fmt) -> None:
    """Queue the files in PATHS as one batch for `narratives serve`; return at once.

    \b
    Prints the batch's run id. The same batch (same files and bytes, manifest and
    parameters) queued again is not processed again: you get the first run's id.
    """
    from narratives.queue import QueueError, describe_batch

    try:
        batch = describe_batch(paths, manifest, batch_name)
        _use_prefect()
        from flows.queue import submit

        run, new = submit(batch, api_url)
    except QueueError as e:
        raise UserError(str(e)) from e
    if fmt == "json":
        click.echo(json.dumps({**run.to_json(), "new": new}, indent=2))
    elif new:
        click.echo(f"Queued batch '{run.batch}' as run {run.run_id}")
        click.echo(f"Follow it with: narratives status {run.run_id}")
    else:
        click.echo(f"Batch '{run.batch}' is already queued as run {run.run_id} ({run.state});")
        click.echo("not queued again (change its files, or `narratives retry` a failed run)")


@main.command()
@click.argument("run_id", required=False)
@api_url_option
@click.option("--wait", is_flag=True, help="Wait until it is done or failed (exit 1: failed).")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def status(run_id, api_url, wait, limit, fmt) -> None:
    """Queued, running, done or failed: one run with its progress and summary, or the
    recent runs (without RUN_ID)."""
    from narratives.queue import QueueError, describe_runs, describe_status

    _use_prefect()
    from flows import queue as batch_queue

    try:
        if run_id is None:
            runs = batch_queue.recent(api_url, limit)
        elif wait:
            runs = [batch_queue.wait(run_id, api_url, timeout=24 * 3600)]
        else:
            runs = [batch_queue.status(run_id, api_url)]
    except QueueError as e:
        raise UserError(str(e)) from e
    if fmt == "json":
        data = [r.to_json() for r in runs]
        click.echo(json.dumps(data if run_id is None else data[0], indent=2, default=str))
    elif run_id is None:
        click.echo(format_rows(*describe_runs(runs), "table"), nl=False)
    else:
        click.echo("\n".join(describe_status(runs[0])))
    if wait and run_id is not None and runs[0].state == "failed":
        sys.exit(1)


@main.command()
@click.argument("run_id")
@click.option(
    "--force",
    is_flag=True,
    help="Also retry a run still marked queued or running because its worker was killed.",
)
@api_url_option
def retry(run_id, force, api_url) -> None:
    """Queue a failed run again, with the same files and parameters.

    Nothing already loaded is duplicated: each document's rows are replaced whole."""
    from narratives.queue import QueueError

    _use_prefect()
    from flows.queue import retry as retry_run

    try:
        run, new = retry_run(run_id, api_url, force)
    except QueueError as e:
        raise UserError(str(e)) from e
    if new:
        click.echo(f"Queued a retry of run {run_id} as run {run.run_id}")
    else:
        click.echo(f"Run {run_id} was already retried as run {run.run_id} ({run.state})")
    click.echo(f"Follow it with: narratives status {run.run_id}")


# --- report and REFI-QDA exchange (narratives.report, narratives.qdpx) ---


@main.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")  # fmt: skip
@db_option
@click.option("--real-names", is_flag=True, help="Keep people's names [default: pseudonyms].")
def report(out, db, real_names) -> None:
    """Write one self-contained HTML page: prevalence by place and wave, change between
    waves, code co-occurrence and the strongest excerpts per code.

    \b
    Example:
      narratives report --out report.html
    """
    from narratives.report import ReportError, write_report

    settings = _existing_db(db)
    try:
        data = write_report(settings, out, real_names)
    except ReportError as e:
        raise UserError(str(e)) from e
    click.echo(
        f"Wrote {out}: {data.documents} documents, {sum(data.totals.values())} participant "
        f"passages, {len(data.places)} places, {len(data.waves)} waves, {len(data.codes)} codes."
    )


@main.group()
def export() -> None:
    """Write the evidence in formats other tools read."""


@export.command("qdpx")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
@click.option("--coder", "coders", multiple=True,
              help="Export only these codings: `model`, `model:<model_id>` or a coder's name "
                   "(repeat for several) [default: all].")  # fmt: skip
def export_qdpx_command(file, db, coders) -> None:
    """Write a REFI-QDA project (.qdpx) for NVivo, ATLAS.ti, MAXQDA or QualCoder.

    \b
    Every document becomes a text source; every coded passage a selection with its codes.
    Example:
      narratives export qdpx evidence.qdpx
    """
    from narratives.qdpx import QdpxError, export_qdpx
    from narratives.query import reader_path
    from narratives.store import StoreError, connect

    settings = _existing_db(db)
    codebook = _codebook_or_none(settings)
    try:
        con = connect(reader_path(settings), read_only=True)
        try:
            s = export_qdpx(con, file, codebook, coders, settings.db.stem)
        finally:
            con.close()
    except (QdpxError, StoreError) as e:
        raise UserError(str(e)) from e
    click.echo(
        f"Wrote {file}: {s.sources} sources, {s.selections} coded passages, {s.codings} "
        f"codings, {s.codes} codes, by {'; '.join(s.users) or 'nobody'}."
    )


@main.command("import-qdpx")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--coder", help="Store every coding as this coder's [default: each coding's user].")
@db_option
def import_qdpx_command(file, coder, db) -> None:
    """Import the codings of a REFI-QDA project (.qdpx) as human codings.

    \b
    Sources are matched to stored documents by their text (else by name), selections to
    the passage with the same span (else the one they overlap most). Importing again
    replaces that coder's codings of the same passages.
    Exit status: 0 every coding stored; 3 some could not be placed (listed).
    """
    from narratives.qdpx import QdpxError, import_qdpx
    from narratives.store import StoreError, open_store, publish

    settings = _existing_db(db)
    codebook = _codebook_or_none(settings)
    try:
        with open_store(settings.db) as con:
            s = import_qdpx(con, file, coder, codebook)
            if s.stored:
                publish(con, settings.db)
    except (QdpxError, StoreError) as e:
        raise UserError(str(e)) from e
    click.echo(
        f"Imported {s.stored} codings of {s.passages} passages from {len(s.matched)} of "
        f"{s.sources} sources (coder {', '.join(s.coders) or 'none'})."
    )
    if s.model_codings:
        click.echo(f"  {s.model_codings} codings by the narratives model skipped (give --coder)")
    if s.unmatched:
        click.echo(f"  sources matching no stored document: {', '.join(s.unmatched)}")
    if s.unplaced:
        click.echo(f"  {s.unplaced} codings on selections that overlap no passage")
    if s.unknown_codes:
        listed = ", ".join(f"{c} ({n})" for c, n in sorted(s.unknown_codes.items()))
        click.echo(f"  codings of codes not in the codebook: {listed}")
    if s.whole_source:
        click.echo(f"  {s.whole_source} codings of whole sources (not passages) skipped")
    if not s.complete:
        sys.exit(3)


# --- evidence for researchers and report authors (narratives.export, narratives.excerpts) ---


@export.command("parquet")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@db_option
@click.option("--with-embeddings", is_flag=True, help="Also export the embedding cache.")
@click.option("--real-names", is_flag=True, help="Keep people's names [default: pseudonyms].")
def export_parquet_command(out_dir, db, with_embeddings, real_names) -> None:
    """Write every table and view as DIR/<name>.parquet, from the published copy.

    \b
    People's names are replaced by pseudonyms such as [Enabler, Kelsham] unless --real-names.
    Example:
      narratives export parquet evidence-parquet/
    """
    from narratives.export import ExportError, export_parquet

    try:
        files = export_parquet(Settings.from_env(db=db), out_dir, with_embeddings, real_names)
    except ExportError as e:
        raise UserError(str(e)) from e
    rows = [(f.name, f.kind, f.rows, str(f.path)) for f in files]
    click.echo(format_rows(["name", "kind", "rows", "file"], rows, "table"), nl=False)


@main.command()
@click.option("--code", required=True, help="The code, e.g. relating.")
@click.option("--place", help="Only documents of this place.")
@click.option("--wave", help="Only documents of this wave.")
@click.option("--role", help="Only documents of this (manifest) role.")
@click.option("--min-score", type=float, help="Only codings scored at least this.")
@click.option("--limit", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--per-document",
    type=click.IntRange(min=1),
    help="At most this many from one document [default: ceil(limit / 3)].",
)
@click.option(
    "--per-speaker",
    type=click.IntRange(min=1),
    help="At most this many from one speaker [default: ceil(limit / 3)].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "csv", "docx", "html", "json"]),
    default="md",
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file [default: print; docx needs --out].",
)
@click.option("--real-names", is_flag=True, help="Keep people's names [default: pseudonyms].")
@db_option
def excerpts(code, place, wave, role, min_score, limit, per_document, per_speaker, fmt, out,
             real_names, db) -> None:  # fmt: skip
    """The strongest passages for a code, exactly as said, each with a citation.

    \b
    Balanced: at most --per-document from one document and --per-speaker from one speaker;
    near-duplicate passages (the same text in two files) appear once.
    Example:
      narratives excerpts --code relating --wave follow-up --limit 5 --format md
    """
    from narratives import excerpts as ex

    if fmt == "docx" and out is None:
        raise UserError("docx is a binary format: give --out FILE.docx")
    try:
        chosen = ex.select_excerpts(
            Settings.from_env(db=db), code, place=place, wave=wave, role=role,
            min_score=min_score, limit=limit, per_document=per_document,
            per_speaker=per_speaker, real_names=real_names,
        )  # fmt: skip
    except ex.ExcerptError as e:
        raise UserError(str(e)) from e
    title = ex.heading(code, place=place, wave=wave, role=role)
    if fmt == "docx":
        ex.write_docx(chosen, out, title)
    else:
        writers = {"md": ex.to_markdown, "csv": ex.to_csv, "json": ex.to_json}
        text = ex.to_html(chosen, title) if fmt == "html" else writers[fmt](chosen)
        if out is None:
            click.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
    if out is not None:
        click.echo(f"Wrote {len(chosen)} excerpts to {out}")
    elif not chosen:
        click.echo(f"No passages coded '{code}' match these filters.", err=True)


if __name__ == "__main__":
    main()
