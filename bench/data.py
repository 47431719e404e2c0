"""Data-layer benchmark: import, no-op update, window read, cache hit.

Prints a table of medians over repeats with the target of issue #3 and a baseline measured in
the same run, and writes bench/results/data.json. Uses the real SENSEX files (SENSEX_REAL_DATA/sensex-real, see real_data.py) when present,
otherwise the synthetic market (said in the output).

    .venv/bin/python bench/data.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import pandas as pd
from real_data import REAL

from sensex.core.cache import MemoryCache, cached
from sensex.core.settings import load_settings
from sensex.data import store
from sensex.data.ingest import update_store
from sensex.data.sources import synthetic
from sensex.market.universe import load_universe

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from timing import timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    universe = load_universe()
    offline = lambda: False  # noqa: E731 - the benchmark never touches the network
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="sensex-bench-"))

    def add(name, samples, target, baseline_name, baseline_samples=None, baseline_value=None):
        median = statistics.median(samples)
        base = statistics.median(baseline_samples) if baseline_samples else baseline_value
        rows.append({"benchmark": name, "median_s": median, "min_s": min(samples), "target_s": target,
                     "meets_target": median < target, "baseline": baseline_name, "baseline_s": base,
                     "speedup_vs_baseline": (base / median) if base else None})

    if REAL.is_dir():
        data_label = f"real CSV files in {REAL}"
        homes = iter(range(10_000))

        def import_all():
            settings = load_settings({"SENSEX_HOME": str(work / f"import{next(homes)}")})
            update_store(settings, universe, "csv", csv_dir=REAL, yahoo_reachable=offline)

        import_all()  # warm the calendar and imports once, as a running service would be
        # Baseline: pandas' own multi-row-header reader, no validation, no store.
        def naive_import():
            for path in sorted(REAL.glob("*.csv")):
                pd.read_csv(path, header=[0, 1], index_col=0)

        add("import 31 CSV files into an empty store (incl. quality report)", timed(import_all, args.repeats), 3.0,
            "pd.read_csv of each file, nothing else", timed(naive_import, args.repeats))
        settings = load_settings({"SENSEX_HOME": str(work / "main")})
        update_store(settings, universe, "csv", csv_dir=REAL, yahoo_reachable=offline)
        frame = store.read(settings.store_dir)
    else:
        data_label = "SYNTHETIC market (real data directory not found)"
        settings = load_settings({"SENSEX_HOME": str(work / "main")})
        frame = synthetic.generate(universe, "2010-01-01", "2021-12-31")
        store.write(settings.store_dir, frame, "csv")

    # No-op update: the source returns only sessions the store already has (Yahoo's overlap window).
    last = frame["date"].max()
    overlap = frame[frame["date"] > last - pd.Timedelta(days=10)].copy()
    from sensex.data.sources import yahoo

    def fake_fetch(universe, start, end, **kwargs):
        return yahoo.YahooFetch(frame=overlap, failed={}, seconds=0.0)

    original = yahoo.fetch
    yahoo.fetch = fake_fetch
    try:
        noop = lambda: update_store(settings, universe, "yfinance", end=str(last.date()), yahoo_reachable=lambda: True)  # noqa: E731
        noop()
        before = store.read_meta(settings.store_dir)["content_hash"]
        samples = timed(noop, args.repeats)
        assert store.read_meta(settings.store_dir)["content_hash"] == before
    finally:
        yahoo.fetch = original
    full_rewrite = lambda: store.write(settings.store_dir, frame, "csv")  # noqa: E731
    add("incremental update with nothing new", samples, 0.5, "rewriting the whole store", timed(full_rewrite, args.repeats))

    # The 60-session window for all 30 members + index, as the model server reads it.
    def window_read():
        data = store.read(settings.store_dir, start=last - pd.Timedelta(days=100))
        dates = sorted(data.loc[data["symbol"] == "SENSEX", "date"].unique())[-60:]
        return data[data["date"] >= dates[0]]

    def cold_read():
        store._memo.clear()
        return window_read()

    window_read()
    add("read the 60-session window, 31 symbols", timed(window_read, args.repeats * 20), 0.020,
        "cold read (Parquet decode, no memo)", timed(cold_read, args.repeats))

    cache = MemoryCache()
    cached(cache, "window", 3600, window_read)
    hit = lambda: cached(cache, "window", 3600, window_read)  # noqa: E731
    add("cache hit (memory backend)", timed(hit, args.repeats * 200), 0.001,
        "the original design's quoted cached read (50 ms)", baseline_value=0.050)

    print(f"\nData-layer benchmark on {data_label}; {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'benchmark':<62} {'median':>10} {'target':>8} {'ok':>4}  {'baseline':<40} {'base':>9} {'x':>7}")
    for r in rows:
        print(f"{r['benchmark']:<62} {r['median_s'] * 1000:>8.3f}ms {r['target_s'] * 1000:>6.0f}ms {'yes' if r['meets_target'] else 'NO':>4}  "
              f"{r['baseline']:<40} {r['baseline_s'] * 1000:>7.3f}ms {r['speedup_vs_baseline']:>6.1f}x")
    out = REPO / "bench" / "results" / "data.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"data": data_label, "repeats": args.repeats, "rows": rows}, indent=1))
    print(f"\nwritten to {out}")
    sys.exit(0)


if __name__ == "__main__":
    main()
