"""What the range forecast adds to `sensex train`: the same preset timed with it on and off.

Every `sensex train` fits the next-session range forecast beside the direction model
(`sensex.models.range_fit`: the ridge model chosen on validation, HAR, EWMA, GARCH(1,1), the
means, the split-conformal intervals, then the test scores with 1,000 block-bootstrap resamples)
unless the preset turns it off (`model: {range_forecast: false}`). The issue's budget: at most 20%
more than training without it.

This times the whole command (a fresh process: imports, panel, network, baselines, range part,
ONNX export, the MLflow run) in a temporary SENSEX_HOME holding the built-in synthetic market
(`sensex data update --source synthetic`: 2010 to the last completed session), alternating on and
off so that a drifting machine affects both alike. Prints one row per setting (median wall and
CPU seconds of `--repeats` runs) and the overhead; also the range part's own seconds as the
command reports them (`range.seconds`: building its data, fitting, scoring), and the within-run
overhead: those seconds over the rest of the same training (`seconds`, train + log). On a shared
machine the A/B wall times move with the neighbours' load (recorded per run: the 1-minute load
average before it); the within-run figure is measured under one load, so it is the robust one.
Writes bench/results/range_cost.json.

    .venv/bin/python bench/range_cost.py                       # quick preset, 3 runs each
    .venv/bin/python bench/range_cost.py --preset full --repeats 1
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

from sensex.models.config import load_config

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET = 0.20  # at most 20% more than training without the range part


def run(env: dict, preset: Path) -> dict:
    args = [sys.executable, "-m", "sensex", "train", "--preset", str(preset), "--json"]
    load = os.getloadavg()[0]
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"range_cost: `sensex train` failed ({status}); rerun it by hand: {' '.join(args)}")
    process.returncode = 0
    report = json.loads(out)
    scored = report.get("range") or {}
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "load_before": load,
            "command_s": report.get("seconds"),
            "range_s": scored.get("seconds"), "range_qlike": (scored.get("metrics") or {}).get("qlike"),
            "ewma_qlike": ((scored.get("baselines") or {}).get("ewma") or {}).get("qlike"),
            "test_auc": report["metrics"].get("test_auc")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", help="quick (default) or full")
    parser.add_argument("--repeats", type=int, default=3, help="runs per setting, alternating (default 3)")
    args = parser.parse_args()
    base = load_config(args.preset).to_dict()
    settings = {"range on": True, "range off": False}
    results: dict = {"benchmark": "range_cost", "preset": args.preset, "cpus": os.cpu_count(), "repeats": args.repeats,
                     "data": "synthetic, 2010 to the last completed session", "runs": {}}
    with tempfile.TemporaryDirectory(prefix="sensex-range-cost-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "SENSEX_HOME": str(work / "home"), "SENSEX_LOG_LEVEL": "WARNING"}
        env.pop("MLFLOW_TRACKING_URI", None)
        subprocess.run([sys.executable, "-m", "sensex", "data", "update", "--source", "synthetic", "--json"], env=env,
                       check=True, capture_output=True)
        presets = {}
        for name, on in settings.items():
            preset = work / f"{args.preset}-{'on' if on else 'off'}.yaml"
            preset.write_text(json.dumps({**base, "model": {**base["model"], "range_forecast": on}}))  # JSON is YAML
            presets[name] = preset
        for repeat in range(args.repeats):
            for name in settings:
                measured = run(env, presets[name])
                results["runs"].setdefault(name, []).append(measured)
                print(f"  {name}, run {repeat + 1}: {measured['wall_s']:.1f} s wall, {measured['cpu_s']:.1f} s CPU"
                      + (f", range part {measured['range_s']:.1f} s" if measured["range_s"] else ""), file=sys.stderr)
    median = {name: {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s")}
              for name, runs in results["runs"].items()}
    on, off = median["range on"]["wall_s"], median["range off"]["wall_s"]
    range_s = statistics.median(r["range_s"] for r in results["runs"]["range on"])
    within = statistics.median(r["range_s"] / (r["command_s"] - r["range_s"]) for r in results["runs"]["range on"])
    results["median"] = median
    results["overhead"] = {"wall": on / off - 1.0, "range_part_s": range_s, "range_part_share_of_on": range_s / on,
                           "within_run": within, "within_budget": within <= BUDGET}
    print(f"\n`sensex train --preset {args.preset}` on the synthetic market ({os.cpu_count()} CPUs, median of"
          f" {args.repeats}, alternating)")
    print("| setting | wall s | CPU s | range part s | load before (each run) |")
    print("|---|---|---|---|---|")
    for name in settings:
        runs = results["runs"][name]
        part = statistics.median(r["range_s"] or 0.0 for r in runs)
        loads = ", ".join(f"{r['load_before']:.1f}" for r in runs)
        print(f"| {name} | {median[name]['wall_s']:.1f} | {median[name]['cpu_s']:.1f} | {part:.1f} | {loads} |")
    overhead = results["overhead"]
    print(f"\nRange part: its own {range_s:.1f} s, +{overhead['within_run'] * 100:.1f}% over the rest of the same run"
          f" (median of {args.repeats}); A/B medians {on - off:+.1f} s ({overhead['wall'] * 100:+.1f}%, at the load"
          f" shown). Budget {BUDGET:.0%}: {'within' if overhead['within_budget'] else 'OVER'} (within-run figure).")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"range_cost{'' if args.preset == 'quick' else '_' + args.preset}.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
