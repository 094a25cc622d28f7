"""narratives: interview transcripts and project reports in, coded evidence in DuckDB out.

The path of a document through the stages, one module each:

    ingest -> segment -> embed -> classify -> store

`flows/pipeline.py` wires them into one Prefect flow; `narratives.cli` is the command line.
"""

__version__ = "0.1.0"
