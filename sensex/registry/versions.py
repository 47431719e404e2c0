"""A registered version as the registry's commands show it: its stage (from the MLflow 3 aliases
and the `stage` tag) and the test metrics of its run."""

from __future__ import annotations

from datetime import UTC, datetime

from sensex.market.modes import CLOSE
from sensex.registry import tracking

PRODUCTION, STAGING, PREVIOUS = "production", "staging", "previous"
GATE_METRICS = ("test_accuracy", "test_auc", "test_brier", "test_f1", "test_ece",
                "baseline_always_up_test_accuracy", "baseline_logreg_test_auc", "baseline_always_up_test_brier")


def stage(aliases: list[str], tags: dict) -> str:
    """The original design's stage: Production and Staging are aliases, Archived a version tag."""
    if PRODUCTION in aliases:
        return "Production"
    if STAGING in aliases:
        return "Staging"
    return "Archived" if tags.get("stage") == "Archived" else "None"


def describe_version(client, mv, aliases: list[str], default_mode: str) -> dict:
    """Version, run, stage, aliases, the run's test and gate metrics, kind, mode, data source, creation time."""
    run = client.get_run(mv.run_id) if mv.run_id else None
    metrics = {k: v for k, v in (run.data.metrics.items() if run else []) if k in GATE_METRICS or k.startswith("test_")}
    aliases = sorted(aliases)
    return {
        "version": str(mv.version), "run_id": mv.run_id, "stage": stage(aliases, mv.tags or {}), "aliases": aliases,
        "metrics": metrics,
        "model_kind": (run.data.tags.get("model_kind") if run else None),
        "mode": (run.data.tags.get(tracking.MODE_TAG, CLOSE) if run else default_mode),
        "data_source": (run.data.tags.get("data_source") if run else None),
        "created": datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).isoformat(timespec="seconds"),
    }
