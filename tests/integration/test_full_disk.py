"""A full disk: every command fails within seconds in one sentence that names the disk's path,
and leaves no partial file behind; reading commands still answer."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from conftest import TINY_CONFIG

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def full_home(trained_home, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        home = disk / "home"
        shutil.copytree(trained_home["settings"].home, home)
        # Other tests log forecasts in the shared home: this one's must be new, so it has to be written.
        (home / "logs" / "prediction_log.json").unlink(missing_ok=True)
        (disk / "tiny.yaml").write_text(TINY_CONFIG)
        for name, block in (("filler", "1M"), ("filler-pages", "4k")):  # take every byte left
            subprocess.run(["dd", "if=/dev/zero", f"of={disk / name}", f"bs={block}"], capture_output=True)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _sensex(home, *args):
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "sensex", *args], env=env, capture_output=True, text=True, timeout=300)
    return done, time.monotonic() - started


def _partial_files(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*")
                  if p.name.endswith((".tmp", ".partial")) or p.name.startswith((".tmp", ".scratch")))


@pytest.mark.parametrize("args", [["registry", "promote", "1"], ["registry", "doctor"], ["registry", "rollback"],
                                  ["train", "--preset", "TINY"], ["data", "update", "--source", "synthetic"]])
def test_a_writing_command_fails_fast_in_one_sentence_naming_the_full_disk(full_home, args):
    args = [str(full_home.parent / "tiny.yaml") if a == "TINY" else a for a in args]
    before = _partial_files(full_home)
    done, seconds = _sensex(full_home, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[-1].startswith("error: ") and "full" in lines[-1] and str(full_home) in lines[-1], lines[-1]
    assert seconds < 60, seconds
    assert _partial_files(full_home) == before


def test_a_forecast_still_comes_from_a_full_disk_and_says_it_was_not_logged(full_home):
    done, seconds = _sensex(full_home, "predict", "--json")
    assert done.returncode == 0, done.stderr[-1000:]
    forecast = json.loads(done.stdout)
    assert forecast["logged"] is False and forecast["direction"] in ("UP", "DOWN")
    assert "full" in done.stderr and "Traceback" not in done.stderr
