"""Serving benchmark: cold start, uncached and cached forecasts, the REST round trip.

Trains the quick model on the synthetic market into a temporary SENSEX_HOME (or uses
--home DIR with a production model already in it), then prints medians against the seed's
quoted figures (cold start 5-10 s, inference 100-200 ms, warm predictions 1-2 s) and writes
bench/results/serving.json.

    .venv/bin/python bench/serving.py [--home DIR] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from timing import timed  # noqa: E402


class NoCache:
    """Forces every forecast to be computed."""

    def get(self, key):
        return None

    def set(self, key, value, ttl):
        pass

    def stats(self):
        return {}



def prepare_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="sensex-bench-serving-"))
    env = {"SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"}
    for args in (["data", "update", "--source", "synthetic"], ["train", "--preset", "quick"], ["registry", "setup"]):
        subprocess.run([sys.executable, "-m", "sensex", *args], env=env, check=True, capture_output=True)
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    home = args.home or prepare_home()

    cold_start = (
        "import time; t = time.perf_counter()\n"
        "from sensex.serving.model_server import ModelServer\n"
        "from sensex.settings import load_settings\n"
        f"server = ModelServer(load_settings({{'SENSEX_HOME': {str(home)!r}}}))\n"
        "server.load_production_model(); server.predict(log_prediction=False)\n"
        "print(time.perf_counter() - t)\n"
    )
    cold = [float(subprocess.run([sys.executable, "-c", cold_start], capture_output=True, text=True,
                                 check=True).stdout.strip().splitlines()[-1]) for _ in range(3)]

    from fastapi.testclient import TestClient

    from sensex.serving.api import create_app
    from sensex.serving.model_server import ModelServer
    from sensex.settings import load_settings

    settings = load_settings({"SENSEX_HOME": str(home)})
    uncached_server = ModelServer(settings, cache=NoCache())
    uncached_server.load_production_model()
    uncached = timed(lambda: uncached_server.predict(log_prediction=False), args.repeats)
    cached_server = ModelServer(settings)
    cached_server.load_production_model()
    cached_server.predict(log_prediction=False)
    hits = timed(lambda: cached_server.predict(log_prediction=False), args.repeats * 10)
    window = uncached_server._latest_inputs(uncached_server.bundle, None).window
    onnx_only = timed(lambda: uncached_server.bundle.probabilities(window), args.repeats * 5)
    with TestClient(create_app(settings)) as client:
        client.post("/predict")
        api = timed(lambda: client.post("/predict"), args.repeats * 5)

    rows = [
        ("cold start: import, load production model, first forecast", cold, 5.0, "seed cold start 5-10 s"),
        ("forecast, uncached (store -> features -> ONNX)", uncached, 1.0, "seed warm prediction 1-2 s"),
        ("ONNX Runtime inference only (1 window)", onnx_only, 0.1, "seed inference 100-200 ms"),
        ("forecast, cache hit", hits, 0.05, "seed cached read 50 ms"),
        ("POST /predict round trip (cached, in-process client)", api, 0.05, "seed cached read 50 ms"),
    ]
    print(f"\nServing benchmark, SENSEX_HOME={home}")
    print(f"{'what':<60} {'median':>10} {'seed figure (baseline)':>28} {'x better':>9}")
    results = []
    for name, samples, seed_low, seed_label in rows:
        median = statistics.median(samples)
        results.append({"what": name, "median_s": median, "min_s": min(samples), "n": len(samples),
                        "seed_figure": seed_label, "seed_low_s": seed_low, "ratio": seed_low / median})
        print(f"{name:<60} {median * 1000:>8.2f}ms {seed_label:>28} {seed_low / median:>8.1f}x")
    out = REPO / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten to {out}; 'x better' divides the low end of the seed's figure by our median")


if __name__ == "__main__":
    main()
