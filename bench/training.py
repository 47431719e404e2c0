"""What training's fan-out costs on the real data, as a user runs it: Ray against one process and
against the process pool Ray replaced, and `sensex tune` on the quick preset.

Each measurement is a whole command in a fresh process (imports, panel, fits, ONNX export, the
MLflow run) in a temporary SENSEX_HOME that imports ../shared/data/sensex-real (and GSPC.csv), run
one after the other on the same data, so the comparison is made in one run:

- `sensex train --preset full --model ensemble` on the fixed split of bench/model_quality.py (three
  ConvLSTM seeds);
- `sensex evaluate --walk-forward --preset walkforward --model convlstm` over `--walk-forward-span`
  (one ConvLSTM refit per 12-month block);

each in three settings of the same preset:

- `ray` (the default, `train.workers: 2`): the seeds or blocks as Ray tasks on a local instance of
  two CPUs, one torch thread each;
- `pool`: the same fits in the spawned `ProcessPoolExecutor` of two workers that Ray replaced
  (git history: `models/train.py: spawned_pool`), put back in place of `cluster.fan_out` by this
  script (`--as-pool`), so nothing else differs;
- `one process` (the baseline): `train.workers: 1, threads: 2`.

Wall seconds, CPU seconds and peak memory are those of the command's whole process tree (Ray's
workers are the command's grandchildren), sampled from /proc every half second. Then
`sensex tune --trials 4 --preset quick` (its wall time against a 5-minute budget, and its best
trial's validation log-loss against the quick preset's own, scored alike).

Prints one table; writes bench/results/training.json.

    .venv/bin/python bench/training.py                      # close mode, everything
    .venv/bin/python bench/training.py --parts ensemble --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from model_quality import GLOBAL, REAL, RESULTS, SEGMENTS, csv_folder

SETTINGS = {"ray": {"workers": 2, "threads": 1}, "pool": {"workers": 2, "threads": 1},
            "one process": {"workers": 1, "threads": 2}}
BASELINE = "one process"
POOL = "pool"
BUDGET_S = 600  # the full preset's ensemble on 2 cores
TUNE_BUDGET_S = 300
WALK_FORWARD_SPAN = ("2018-01-01", "2021-12-31")
PAGE = os.sysconf("SC_PAGE_SIZE")
TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> dict[int, tuple[float, int]]:
    """{pid: (CPU seconds, resident bytes)} of `root` and every descendant alive now."""
    parents: dict[int, int] = {}
    stats: dict[int, tuple[float, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        stats[pid] = ((int(fields[11]) + int(fields[12])) / TICK, int(fields[21]) * PAGE)
    out, frontier = {}, {root}
    while frontier:
        out.update({pid: stats[pid] for pid in frontier if pid in stats})
        frontier = {pid for pid, parent in parents.items() if parent in frontier and pid not in out}
    return out


def measured(args: list[str], env: dict) -> tuple[dict, dict]:
    """Run a command; (its JSON output, wall / CPU / peak memory of its process tree)."""
    cpu: dict[int, float] = {}
    peak = [0]
    started = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            tree = _tree(process.pid)
            for pid, (seconds, _) in tree.items():
                cpu[pid] = max(cpu.get(pid, 0.0), seconds)
            peak[0] = max(peak[0], sum(rss for _, rss in tree.values()))
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out = process.stdout.read()
    process.wait()
    wall = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"training bench: `{' '.join(args)}` failed ({process.returncode}); rerun it by hand.")
    return json.loads(out), {"wall_s": round(wall, 1), "cpu_s": round(sum(cpu.values()), 1),
                             "peak_rss_mb": round(peak[0] / 2**20)}


def command(setting: str, words: list[str]) -> list[str]:
    if setting == POOL:
        return [sys.executable, str(Path(__file__).resolve()), "--as-pool", *words, "--json"]
    return [sys.executable, "-m", "sensex", *words, "--json"]


def pool_fan_out(function, calls, cpus: int):
    """`cluster.fan_out` as it was before Ray: a spawned ProcessPoolExecutor of `cpus` workers (spawn,
    not fork: a forked child of a process that has started torch's thread pool can hang)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from sensex.models import cluster

    if not cluster.parallel(cpus, len(calls)):
        for call in calls:
            yield function(*call)
        return
    with ProcessPoolExecutor(max_workers=min(cpus, len(calls)), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(function, *call) for call in calls]
        for future in futures:
            yield future.result()


def as_pool(argv: list[str]) -> None:
    """`sensex ARGS` with the pool in place of Ray (the `pool` setting)."""
    from sensex.interfaces import cli
    from sensex.models import cluster

    cluster.fan_out = pool_fan_out
    sys.argv = ["sensex", *argv]
    cli.main()


def preset_file(work: Path, name: str, setting: str) -> Path:
    from sensex.models.config import load_config

    base = load_config(name).to_dict()
    path = work / f"{name}-{setting.replace(' ', '-')}.yaml"
    path.write_text(json.dumps({**base, "train": {**base["train"], **SETTINGS[setting]}}))  # JSON is YAML
    return path


def tune_part(env: dict, work: Path) -> dict:
    """`sensex tune --trials 4 --preset quick`, and the quick preset scored as the trials are."""
    output = work / "tuned.yaml"
    result, cost = measured([sys.executable, "-m", "sensex", "tune", "--trials", "4", "--preset", "quick",
                             "--output", str(output), "--json"], env)
    preset = next((t for t in result["trials"] if t["preset"]), None)
    preset_score = preset["valid_log_loss"] if preset else None
    if preset_score is None:  # the preset's own trial was stopped by ASHA: score it whole, alike
        script = ("import json, sys\nfrom sensex.core.settings import get_settings\n"
                  "from sensex.features.dataset import load_panel\nfrom sensex.jobs import tuning\n"
                  "from sensex.market.universe import load_universe\nfrom sensex.models.config import load_config\n"
                  "from sensex.models.segments import split_segments\nfrom sensex.models.train import in_task\n"
                  "config = load_config('quick'); panel = load_panel(get_settings(), load_universe('sensex'))\n"
                  "s = split_segments(panel, config)\n"
                  "w = tuning.Window(panel.dates[s.train[-1]], panel.dates[s.valid[0]], panel.dates[s.valid[-1]], len(s.valid))\n"
                  "print(json.dumps(tuning.score_config(tuning.until(panel, int(s.valid[-1])), in_task(config), 'convlstm', w)))\n")
        scored = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        preset_score = json.loads(scored.stdout.strip().splitlines()[-1])["valid_log_loss"]
    return {**cost, "trials": result["trials"], "best": result["best"], "preset_valid_log_loss": preset_score,
            "best_no_worse": result["best"]["valid_log_loss"] <= preset_score + 1e-12,
            "within_budget": cost["wall_s"] <= TUNE_BUDGET_S, "validation": result["validation"]}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-pool":
        as_pool(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="close", help="close, preopen or close,preopen")
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting, alternating (default 1)")
    parser.add_argument("--parts", default="ensemble,walk-forward,tune", help="any of ensemble, walk-forward, tune")
    parser.add_argument("--walk-forward-span", default=",".join(WALK_FORWARD_SPAN), help="start,end of the walk-forward")
    parser.add_argument("--settings", default=",".join(SETTINGS), help="any of ray, pool, one process")
    parser.add_argument("--merge", action="store_true",
                        help="add these runs to bench/results/training.json instead of replacing it")
    args = parser.parse_args()
    settings = [s.strip() for s in args.settings.split(",") if s.strip() in SETTINGS]
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    span = args.walk_forward_span.split(",")
    if not REAL.is_dir() or not (GLOBAL / "GSPC.csv").is_file():
        print(f"training: skipped, the real data is not at {REAL} and {GLOBAL} (it runs on real prices only).")
        return 0
    load = os.getloadavg()
    results: dict = {"benchmark": "training", "preset": "full", "model": "ensemble", "segments": SEGMENTS,
                     "cpus": os.cpu_count(), "baseline": BASELINE, "pool": POOL, "load_average_before": list(load),
                     "walk_forward": {"preset": "walkforward", "model": "convlstm", "span": span}, "runs": {}}
    if args.merge and (RESULTS / "training.json").is_file():
        kept = json.loads((RESULTS / "training.json").read_text())
        results = {**kept, "runs": kept.get("runs", {}), "load_average_before": [kept.get("load_average_before"), list(load)]}
    with tempfile.TemporaryDirectory(prefix="sxtb-") as tmp:  # short: Ray's socket paths live under the home
        work = Path(tmp)
        env = {**os.environ, "SENSEX_HOME": str(work / "home"), "SENSEX_LOG_LEVEL": "WARNING"}
        for name in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS"):
            env.pop(name, None)
        folder = csv_folder(REAL, GLOBAL, work)
        subprocess.run([sys.executable, "-m", "sensex", "data", "update", "--source", "csv", "--csv-dir", str(folder),
                        "--json"], env=env, check=True, capture_output=True)
        jobs = []
        for mode in modes:
            if "ensemble" in parts:
                jobs.append((mode, ["train", "--preset", "{full}", "--model", "ensemble", "--mode", mode,
                                    "--train-end", SEGMENTS["train_end"], "--valid-end", SEGMENTS["valid_end"],
                                    "--test-end", SEGMENTS["test_end"]], "full", lambda r: r["metrics"]["test_auc"]))
            if "walk-forward" in parts:
                jobs.append((f"walk-forward {mode}", ["evaluate", "--walk-forward", "--preset", "{walkforward}",
                                                      "--model", "convlstm", "--mode", mode, "--start", span[0],
                                                      "--end", span[1]], "walkforward", lambda r: r["metrics"]["auc"]))
        for what, words, preset, auc in jobs:
            for repeat in range(args.repeats):
                for setting in settings:
                    path = preset_file(work, preset, setting)
                    filled = [str(path) if w == f"{{{preset}}}" else w for w in words]
                    report, cost = measured(command(setting, filled), env)
                    cost |= {"test_auc": auc(report), "run_id": report.get("run_id")}
                    results["runs"].setdefault(f"{what}|{setting}", []).append(cost)
                    _write(results)  # what is measured is kept, should a later run fail
                    print(f"  {what}, {setting}, run {repeat + 1}: {cost['wall_s']:.0f} s wall, {cost['cpu_s']:.0f} s CPU,"
                          f" AUC {cost['test_auc']:.4f}", file=sys.stderr)
        if "tune" in parts:
            results["tune"] = tune_part(env, work)
    results["load_average_after"] = list(os.getloadavg())

    print(f"\nTraining's fan-out on the real data ({os.cpu_count()} CPUs, median of {args.repeats}; load average"
          f" {load[0]:.1f} before): `sensex train --preset full --model ensemble` (fixed split) and"
          f" `sensex evaluate --walk-forward --preset walkforward` ({span[0]}..{span[1]})")
    print("| what | setting | wall s | CPU s | peak MB (tree) | AUC | one process / this | pool / this |")
    print("|---|---|---|---|---|---|---|---|")
    for key, runs in results["runs"].items():
        what, setting = key.split("|")
        wall = statistics.median(r["wall_s"] for r in runs)

        def ratio(other: str, what: str = what, wall: float = wall) -> str:
            measured = results["runs"].get(f"{what}|{other}")
            return f"{statistics.median(r['wall_s'] for r in measured) / wall:.2f}x" if measured else "-"

        print(f"| {what} | {setting} | {wall:.0f} | {statistics.median(r['cpu_s'] for r in runs):.0f} |"
              f" {statistics.median(r['peak_rss_mb'] for r in runs):.0f} | {runs[0]['test_auc']:.4f} |"
              f" {ratio(BASELINE)} | {ratio(POOL)} |")
    if "tune" in results:
        t = results["tune"]
        print(f"\n`sensex tune --trials 4 --preset quick`: {t['wall_s']:.0f} s wall (budget {TUNE_BUDGET_S} s:"
              f" {'met' if t['within_budget'] else 'MISSED'}), {t['cpu_s']:.0f} s CPU; best trial's validation"
              f" log-loss {t['best']['valid_log_loss']:.4f} against the quick preset's {t['preset_valid_log_loss']:.4f}"
              f" ({'no worse' if t['best_no_worse'] else 'WORSE'}); validation {t['validation'][0]}..{t['validation'][1]}")
    _write(results)
    print(f"\nwritten to {RESULTS / 'training.json'}")
    return 0


def _write(results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
