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

import click

from narratives.settings import Settings

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
@click.option("--codebook", type=click.Path(path_type=Path), help="Codebook YAML file.")
@click.option(
    "--model",
    "model_dir",
    type=click.Path(path_type=Path),
    help="Trained model folder [default: models/systems-leadership; zero-shot if absent].",
)
@click.option("--embedding-model", help="Sentence-transformers model name or folder.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("-v", "--verbose", is_flag=True, help="Show Prefect's log lines while running.")
def run(paths, manifest, db, codebook, model_dir, embedding_model, fmt, verbose) -> None:
    """Ingest, segment, embed, code and store the files in PATHS (files or folders).

    \b
    Exit status: 0 all files loaded; 3 some files rejected (the rest loaded, see the
    summary and the run_errors table); 1 the run failed and stored nothing new.
    """
    summary = _run_pipeline(paths, manifest, db, codebook, model_dir, embedding_model, verbose)
    if fmt == "json":
        click.echo(json.dumps(summary.to_json(), indent=2))
    else:
        _print_summary(summary)
    sys.exit(summary.exit_code)


def _run_pipeline(paths, manifest, db, codebook, model_dir, embedding_model, verbose):
    from narratives.codebook import CodebookError
    from narratives.embed import EmbeddingModelError
    from narratives.ingest import ManifestError
    from narratives.records import RunSummary
    from narratives.settings import SettingsError
    from narratives.store import StoreError

    settings = Settings.from_env()
    from flows import configure_prefect

    configure_prefect(settings.prefect_home, "INFO" if verbose else "WARNING")
    from flows.pipeline import pipeline

    try:
        result = pipeline(
            paths=[str(p) for p in paths],
            manifest=str(manifest) if manifest else None,
            db=str(db) if db else None,
            embedding_model=embedding_model,
            model_dir=str(model_dir) if model_dir else None,
            codebook=str(codebook) if codebook else None,
        )
    except (CodebookError, EmbeddingModelError, ManifestError, SettingsError, StoreError) as e:
        raise UserError(str(e)) from e
    return RunSummary.from_json(result)


def _print_summary(s) -> None:
    click.echo(f"Run {s.run_id}: {s.status}")
    click.echo(f"  documents loaded : {s.documents}" + (f" ({s.unchanged} unchanged, skipped)" if s.unchanged else ""))
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


def format_rows(columns: list[str], rows: list[tuple], fmt: str) -> str:
    """Rows as an aligned table, CSV, JSON (a list of objects) or a Markdown table."""
    if fmt == "json":
        return json.dumps([dict(zip(columns, r)) for r in rows], default=str, indent=2) + "\n"
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
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
