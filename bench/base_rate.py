"""Which window's share of UP days best predicts the next year's? The question behind the
calibration's prior shift (`sensex.models.calibrate.prior_shift`).

A Platt calibration fit on one validation year builds that year's share of UP sessions into every
probability. This script asks, of the real SENSEX index alone (SENSEX_REAL_DATA/sensex-real/BSESN.csv,
labels "close(t+1) > close(t)", nothing else), how well the share over the last year, the last 3,
the last 5, or every year so far predicts the share of the following year. It uses years up to
2018 only (`--last-target`, default 2018): the fixed split's test window (2019-2021) is left out,
so the choice it supports was not made on test rows.

    .venv/bin/python bench/base_rate.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from real_data import REAL

from sensex.data.sources.csvfiles.directory import load_file, symbol_lookup
from sensex.market.universe import load_universe

ROOT = Path(__file__).resolve().parents[1]
INDEX_FILE = REAL / "BSESN.csv"
WINDOWS = {"last year": 1, "last 3 years": 3, "last 5 years": 5, "every year so far": None}


def yearly_up(path: Path) -> dict[int, np.ndarray]:
    """{year: 0/1 array of 'the next session closed higher'} from the index's CSV file, read and
    cleaned by the CSV source as `sensex data update --source csv` reads it."""
    universe = load_universe()
    rows, _ = load_file(path, universe, symbol_lookup(universe), pd.Timestamp.today())
    rows = rows.sort_values("date")
    closes = rows["close"].to_numpy(dtype=np.float64)
    up = (closes[1:] > closes[:-1]).astype(float)  # labelled by the session it is issued on
    years = rows["date"].dt.year.to_numpy()[:-1]
    return {int(y): up[years == y] for y in np.unique(years)}


def errors(by_year: dict[int, np.ndarray], first_target: int, last_target: int) -> dict[str, dict]:
    """Per window: the share it gives before each target year, that year's share, and the RMSE."""
    out = {}
    for name, span in WINDOWS.items():
        misses = []
        for target in range(first_target, last_target + 1):
            before = [y for y in by_year if y < target and (span is None or y >= target - span)]
            guess = float(np.concatenate([by_year[y] for y in before]).mean())
            misses.append(guess - float(by_year[target].mean()))
        out[name] = {"rmse": float(np.sqrt(np.mean(np.square(misses)))), "mean_abs": float(np.mean(np.abs(misses)))}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-file", default=str(INDEX_FILE))
    parser.add_argument("--first-target", type=int, default=2005, help="first year predicted (default 2005)")
    parser.add_argument("--last-target", type=int, default=2018, help="last year predicted (default 2018: before the test window)")
    args = parser.parse_args()
    path = Path(args.index_file)
    if not path.is_file():
        print(f"base_rate: skipped, the real index file is not at {path}.")
        return 0
    by_year = yearly_up(path)
    if args.first_target - 1 not in by_year or args.last_target not in by_year:
        raise SystemExit(f"base_rate: {path} has years {min(by_year)}-{max(by_year)}: choose targets inside them.")
    table = errors(by_year, args.first_target, args.last_target)
    print(f"Next year's share of UP sessions, predicted {args.first_target}-{args.last_target}"
          f" ({args.last_target - args.first_target + 1} years) from the shares before it:")
    print(f"{'window':<20}{'RMSE':>8}{'mean |error|':>14}")
    for name, row in table.items():
        print(f"{name:<20}{row['rmse']:>8.4f}{row['mean_abs']:>14.4f}")
    best = min(table, key=lambda k: table[k]["rmse"])
    print(f"Lowest RMSE: {best}; the last year alone (what a one-year validation window gives) is"
          f" {table['last year']['rmse'] / table[best]['rmse']:.2f}x its RMSE.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
