"""What a killed process leaves behind, found and cleared by `sensex registry doctor`: MLflow
runs still marked RUNNING whose process is gone, and scratch files (training scratch folders,
store temporaries, model downloads killed before their rename)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from sensex.core import processes
from sensex.core.settings import Settings
from sensex.data import store

STALE_RUN_HOURS = 24.0  # a RUNNING run of another machine this old is a killed one


def fail_abandoned_runs(client, experiment_id: str) -> list[str]:
    """Mark FAILED the runs still RUNNING whose process is gone: on this machine by pid and start
    time, from another machine (or without owner tags) by age. Returns their ids."""
    failed = []
    for run in client.search_runs([experiment_id], "attributes.status = 'RUNNING'"):
        owner = processes.Owner.from_tags(run.data.tags)
        alive = owner.is_alive() if owner else None
        age_hours = (time.time() * 1000 - run.info.start_time) / 3_600_000
        if alive is False or (alive is None and age_hours > STALE_RUN_HOURS):
            reason = "its process is gone" if alive is False else f"it has been RUNNING for {age_hours:.0f} h"
            client.set_tag(run.info.run_id, "sensex.failed_reason", f"marked FAILED by registry doctor: {reason}")
            client.set_terminated(run.info.run_id, status="FAILED")
            failed.append(run.info.run_id)
    return failed


def remove_abandoned_files(settings: Settings) -> list[Path]:
    """Remove the scratch files of processes that are gone; returns what was removed."""
    removed = []
    for path in processes.abandoned_scratch(settings.home):
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    for path in store.abandoned_temp_files(settings.store_dir):
        path.unlink(missing_ok=True)
        removed.append(path)
    downloads = settings.cache_dir / "models"
    for path in sorted(downloads.glob(".*")) if downloads.is_dir() else []:
        if processes.is_abandoned(path.name):  # a download killed before its rename
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed
