"""Shared DAG settings: cheap to import (no pandas, torch or pipeline code at DAG-parse time)."""
import os
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset

REPO = Path(__file__).resolve().parents[1]  # the repository (tagger/ is a top-level package)
SETTINGS = os.environ.get("TAGGER_AIRFLOW_SETTINGS", str(REPO / "configs" / "airflow.yaml"))
START = datetime(2026, 1, 1)
DEFAULT_ARGS = {"retries": 2, "retry_delay": timedelta(seconds=30)}

TICKETS = Asset("tagger://workspace/tickets")
LF_PROPOSALS = Asset("tagger://lf_store/proposed")
CHAMPION = Asset("tagger://registry/champion")
DRIFT_ALERT = Asset("tagger://drift/alert")  # drift_watch emits it on an alert; lf_refinement runs on it
