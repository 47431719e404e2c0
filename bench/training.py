"""What `sensex train --preset full --model ensemble` costs on the real data, as a user runs it.

The `full` preset's budget is 10 minutes on a 2-core machine. This times the whole
command (a fresh process: imports, panel, three ConvLSTM seeds, baselines, calibration, ONNX
export, the MLflow run) on the fixed split of bench/model_quality.py, in a temporary SENSEX_HOME
that imports ../shared/data/sensex-real (and GSPC.csv for the pre-open mode). Two settings of the
same preset, run one after the other on the same data, so the comparison is made in one run:

- `workers 2` (the default): the seeds fit in two processes at one torch thread each;
- `workers 1, threads 2` (the baseline): one process, two threads.

Prints one row per (mode, setting): wall and CPU seconds, peak memory, test AUC, and the
baseline's wall over this setting's. Writes bench/results/training.json.

    .venv/bin/python bench/training.py                      # close mode, both settings
    .venv/bin/python bench/training.py --mode close,preopen --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from model_quality import GLOBAL, REAL, RESULTS, SEGMENTS, csv_folder

from sensex.models.config import load_config

SETTINGS = {"workers 2": {"workers": 2, "threads": 1}, "workers 1, threads 2": {"workers": 1, "threads": 2}}
BASELINE = "workers 1, threads 2"
BUDGET_S = 600


def run(env: dict, preset: Path, mode: str) -> dict:
    args = [sys.executable, "-m", "sensex", "train", "--preset", str(preset), "--model", "ensemble", "--mode", mode,
            "--train-end", SEGMENTS["train_end"], "--valid-end", SEGMENTS["valid_end"], "--test-end",
            SEGMENTS["test_end"], "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"training: `sensex train` failed ({status}); rerun it by hand: {' '.join(args)}")
    process.returncode = 0
    report = json.loads(out)
    # The seed workers are the command's children, waited for: their CPU is in the usage too.
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": usage.ru_maxrss / 1024,
            "test_auc": report["metrics"].get("test_auc"), "run_id": report.get("run_id")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="close", help="close, preopen or close,preopen")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting, alternating (default 1)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if not REAL.is_dir() or not (GLOBAL / "GSPC.csv").is_file():
        print(f"training: skipped, the real data is not at {REAL} and {GLOBAL} (it runs on real prices only).")
        return 0
    base = load_config("full").to_dict()
    results: dict = {"benchmark": "training", "preset": "full", "model": "ensemble", "segments": SEGMENTS,
                     "cpus": os.cpu_count(), "baseline": BASELINE, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="sensex-training-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "SENSEX_HOME": str(work / "home")}
        env.pop("MLFLOW_TRACKING_URI", None)
        folder = csv_folder(REAL, GLOBAL, work)
        subprocess.run([sys.executable, "-m", "sensex", "data", "update", "--source", "csv", "--csv-dir", str(folder),
                        "--json"], env=env, check=True, capture_output=True)
        presets = {}
        for name, train in SETTINGS.items():
            preset = work / f"full-{train['workers']}w{train['threads']}t.yaml"
            preset.write_text(json.dumps({**base, "train": {**base["train"], **train}}))  # JSON is YAML
            presets[name] = preset
        for mode in modes:
            for repeat in range(args.repeats):
                for name in SETTINGS:
                    measured = run(env, presets[name], mode)
                    results["runs"].setdefault(f"{mode}|{name}", []).append(measured)
                    print(f"  {mode}, {name}, run {repeat + 1}: {measured['wall_s']:.0f} s wall,"
                          f" {measured['cpu_s']:.0f} s CPU, test AUC {measured['test_auc']:.3f}", file=sys.stderr)
    print(f"\n`sensex train --preset full --model ensemble` on the real fixed split ({os.cpu_count()} CPUs,"
          f" median of {args.repeats}); budget {BUDGET_S} s")
    print("| mode | setting | wall s | CPU s | peak MB | test AUC | baseline wall / this | within budget |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in modes:
        baseline = statistics.median(r["wall_s"] for r in results["runs"][f"{mode}|{BASELINE}"])
        for name in SETTINGS:
            runs = results["runs"][f"{mode}|{name}"]
            wall = statistics.median(r["wall_s"] for r in runs)
            print(f"| {mode} | {name} | {wall:.0f} | {statistics.median(r['cpu_s'] for r in runs):.0f} |"
                  f" {statistics.median(r['peak_rss_mb'] for r in runs):.0f} | {runs[0]['test_auc']:.3f} |"
                  f" {baseline / wall:.2f}x | {'yes' if wall <= BUDGET_S else 'NO'} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(results, indent=2))
    print(f"\nwritten to {RESULTS / 'training.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
