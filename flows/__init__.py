"""Prefect flows: thin wiring over the `narratives` library.

Call `configure_prefect()` before anything imports prefect: it fixes the settings measured to
matter here (a project-local PREFECT_HOME, no telemetry, a start-up timeout long enough for a
cold ephemeral server). With no PREFECT_API_URL, flows run locally with no server to set up.
"""

from __future__ import annotations

import os
from pathlib import Path


def configure_prefect(home: Path | str = ".prefect", log_level: str = "WARNING") -> None:
    """Set Prefect's environment unless the user already has (their values win)."""
    os.environ.setdefault("PREFECT_HOME", str(Path(home).resolve()))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", log_level)
    # The flow's own lines (files read, each chunk embedded and loaded) are the progress a
    # user follows on stderr; task-level chatter stays at `log_level`.
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_FLOW_RUNS_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
