"""Loading a script under bench/ as a module, for the tests of its pure functions (bench/ is not a
package: its scripts run as `python bench/NAME.py`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH_DIR = Path(__file__).resolve().parents[1] / "bench"


def load_bench(name: str, module_name: str) -> ModuleType:
    """bench/`name`.py, executed once as the module `module_name`; its sibling imports (`real_data`,
    `model_quality`) resolve as when the script runs, from bench/."""
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    spec = importlib.util.spec_from_file_location(module_name, BENCH_DIR / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The real data's folders, from the benchmarks' one setting (SENSEX_REAL_DATA); tests that read them skip without them.
_REAL_DATA = load_bench("real_data", "bench_real_data")
REAL_SENSEX = _REAL_DATA.REAL  # BSESN.csv and one CSV per member
REAL_GLOBAL = _REAL_DATA.GLOBAL  # GSPC.csv
