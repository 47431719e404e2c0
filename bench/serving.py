"""Serving benchmark: the project's API and CLI beside `mlflow models serve`, same registered version.

One run, one SENSEX_HOME (the quick model on the synthetic market, trained here unless --home
names a home with a production model), as a new user would meet it:

- `sensex serve` (a real process over HTTP): process start to the first 200 of `GET /health` and
  of `POST /predict`; resident memory (VmRSS) after 500 forecasts; cached `POST /predict`
  latency p50/p99; uncached latency p50/p99 (every request a distinct `as_of`, so each is
  computed: store tail, features, ONNX); resident memory again after those;
- `sensex predict --json` as a whole process: wall time and peak memory;
- `mlflow models serve -m models:/NAME/VERSION --env-manager local`: process start to the first
  200 of `/ping`, resident memory of its process tree, `/invocations` latency for one window.

Prints a table with the issue's targets and the ratio to MLflow's figure, writes
bench/results/serving.json. Timings belong here, never in tests.

    .venv/bin/python bench/serving.py [--home DIR] [--forecasts 500] [--uncached 100]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL = "sensex-convlstm-model"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_home(env: dict) -> None:
    for args in (["data", "update", "--source", "synthetic"], ["train", "--preset", "quick"], ["registry", "setup"]):
        subprocess.run([sys.executable, "-m", "sensex", *args, "--json"], env=env, check=True, capture_output=True)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (mlflow serve runs workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def wait_for(method: str, url: str, started: float, process: subprocess.Popen, timeout: float = 180, **kwargs) -> float:
    """Seconds from `started` to the first 200 of `url` (polled every 5 ms)."""
    with httpx.Client(timeout=30) as client:
        while time.perf_counter() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"{url}: the server exited with {process.returncode}")
            try:
                if client.request(method, url, **kwargs).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.005)
    raise RuntimeError(f"{url} gave no 200 within {timeout} s")


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return statistics.median(ordered) * 1000, p99 * 1000


def timed_requests(client: httpx.Client, requests: list[tuple[str, str, dict]]) -> list[float]:
    out = []
    for method, url, kwargs in requests:
        started = time.perf_counter()
        response = client.request(method, url, **kwargs)
        out.append(time.perf_counter() - started)
        response.raise_for_status()
    return out


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def bench_predict_cli(env: dict, runs: int = 5) -> dict:
    walls, peaks = [], []
    for _ in range(runs):
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "sensex", "predict", "--json"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        walls.append(time.perf_counter() - started)
        peaks.append(usage.ru_maxrss / 1024)
        assert status == 0 and json.loads(out)["model_version"], out
        process.returncode = 0
    return {"wall_s": statistics.median(walls), "wall_all_s": walls, "peak_rss_mb": statistics.median(peaks)}


def bench_api(env: dict, as_of_dates: list[str], forecasts: int) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--port", str(port)], env=env,
                               stdout=log, stderr=log)
    try:
        health = wait_for("GET", f"{base}/health", started, process)
        first_forecast = wait_for("POST", f"{base}/predict", started, process)
        with httpx.Client(base_url=base, timeout=30) as client:
            cached = timed_requests(client, [("POST", "/predict", {})] * forecasts)
            rss_cached = rss_mb(process.pid)
            uncached = timed_requests(client, [("POST", "/predict", {"json": {"as_of": day}}) for day in as_of_dates])
            version = client.get("/version").json()["model_version"]
        rss_after = rss_mb(process.pid)
    finally:
        stop(process)
    return {"start_to_health_s": health, "start_to_forecast_s": first_forecast, "version": version,
            "rss_after_cached_mb": rss_cached, "rss_after_uncached_mb": rss_after, "forecasts": forecasts,
            "cached_ms": percentiles(cached), "uncached_ms": percentiles(uncached), "uncached_n": len(uncached)}


def bench_mlflow(env: dict, version: str, window: list, requests: int = 50) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tempfile.TemporaryFile()
    started = time.perf_counter()
    # mlflow runs `uvicorn` by name: the interpreter's own bin directory goes first on PATH.
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"}
    process = subprocess.Popen([sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}/{version}",
                                "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=log, start_new_session=True)
    try:
        ping = wait_for("GET", f"{base}/ping", started, process)
        body = {"inputs": window}
        with httpx.Client(base_url=base, timeout=60) as client:
            client.post("/invocations", json=body).raise_for_status()
            latency = timed_requests(client, [("POST", "/invocations", {"json": body})] * requests)
        memory = rss_mb(process.pid)
    finally:
        try:
            os.killpg(process.pid, 15)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
    return {"start_to_ping_s": ping, "rss_mb": memory, "invocations_ms": percentiles(latency), "n": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--forecasts", type=int, default=500)
    parser.add_argument("--uncached", type=int, default=100)
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="sensex-bench-serving-")) / "home"
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    env.pop("MLFLOW_TRACKING_URI", None)
    if args.home is None:
        prepare_home(env)

    from sensex.core.settings import load_settings
    from sensex.data import store
    from sensex.market.schema import INDEX_SYMBOL
    from sensex.serving.model_server import ModelServer

    settings = load_settings({"SENSEX_HOME": str(home)})
    meta = store.read_meta(settings.store_dir)
    index = store.read(settings.store_dir, symbols=[INDEX_SYMBOL])
    sessions = [str(d.date()) for d in index["date"].iloc[-(args.uncached + 1):-1]]  # distinct, never the latest
    server = ModelServer(settings)
    server.load_production_model()
    version = server.model_info["version"]
    window = server._latest_inputs(server.bundle, None).window.tolist()

    predict = bench_predict_cli(env)
    api = bench_api(env, sessions, args.forecasts)
    assert api["version"] == version, (api["version"], version)
    mlflow = bench_mlflow({**env, "MLFLOW_TRACKING_URI": settings.tracking_uri}, version, window)

    rows = [
        ("process start to first 200 (/health; mlflow: /ping)", f"{api['start_to_health_s']:.2f} s",
         f"{mlflow['start_to_ping_s']:.2f} s", mlflow["start_to_ping_s"] / api["start_to_health_s"], "<= 1.0 s"),
        ("process start to first forecast (POST /predict)", f"{api['start_to_forecast_s']:.2f} s", "-", None, "-"),
        (f"resident memory after load and {api['forecasts']} forecasts", f"{api['rss_after_cached_mb']:.0f} MB",
         f"{mlflow['rss_mb']:.0f} MB", mlflow["rss_mb"] / api["rss_after_cached_mb"], "<= 150 MB"),
        (f"resident memory after {api['uncached_n']} more, uncached", f"{api['rss_after_uncached_mb']:.0f} MB",
         "-", None, "-"),
        ("POST /predict, cached, p50 / p99", "{:.1f} / {:.1f} ms".format(*api["cached_ms"]), "-", None,
         "<= 2 / 5 ms"),
        ("POST /predict, uncached (distinct as_of), p50 / p99", "{:.0f} / {:.0f} ms".format(*api["uncached_ms"]),
         "{:.0f} / {:.0f} ms one window on /invocations".format(*mlflow["invocations_ms"]),
         mlflow["invocations_ms"][0] / api["uncached_ms"][0], "<= 30 / 60 ms"),
        ("`sensex predict --json`, whole process (peak memory)",
         f"{predict['wall_s']:.2f} s ({predict['peak_rss_mb']:.0f} MB)", "-", None, "<= 1.5 s"),
    ]
    print(f"\nServing benchmark, version {version} of {MODEL}, SENSEX_HOME={home}, data {meta.get('source')}"
          f" to {meta.get('last_date')}")
    print("| figure | `sensex serve` | `mlflow models serve` (same version) | mlflow / sensex | target |")
    print("|---|---|---|---|---|")
    for name, ours, theirs, ratio, target in rows:
        print(f"| {name} | {ours} | {theirs} | {'-' if ratio is None else f'{ratio:.1f}x'} | {target} |")
    out = REPO / "bench" / "results" / "serving.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"version": version, "home": str(home), "api": api, "predict_cli": predict,
                               "mlflow_models_serve": mlflow}, indent=1))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
