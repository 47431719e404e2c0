"""Where the benchmarks find the real market data: one setting, `SENSEX_REAL_DATA`, a folder
holding `sensex-real/` (the SENSEX and its members) and `global/` (the S&P 500). By default the
folder `shared/data` beside the repository, as CI lays it out. The files are never copied into
the project: benchmarks import them into a temporary SENSEX_HOME, and skip, saying so, without them."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("SENSEX_REAL_DATA") or REPO.parent / "shared" / "data")
REAL = ROOT / "sensex-real"  # BSESN.csv and one CSV per member, as yfinance saved them
GLOBAL = ROOT / "global"  # GSPC.csv


def shown(path: Path) -> str:
    """How a results file names a data folder: relative to SENSEX_REAL_DATA, never a machine's path."""
    try:
        return f"SENSEX_REAL_DATA/{Path(path).resolve().relative_to(ROOT.resolve())}"
    except ValueError:
        return Path(path).name
