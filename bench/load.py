"""Load test of one `sensex serve` process on loopback: latency, errors, throughput, memory.

Builds a synthetic SENSEX_HOME with a tiny trained model (or uses --home DIR that has a
production model), starts `sensex serve` on 127.0.0.1, and sends --requests requests at
--concurrency keep-alive connections from a lean asyncio client, mixed as:
- `POST /predict` for the latest session, or for a few hot dates: cached after the first;
- `POST /predict` with a distinct `as_of` (a calendar day never asked before): computed;
- `GET /health` and `GET /predictions?limit=50`.
The uncached share of the forecasts is --uncached (default 0.10); --other (default 0.10) of all
requests go to /health and /predictions, half each. Reads the server's resident memory
(VmRSS in /proc/PID/status) after a warm-up of one request of each kind and after the load, prints a table and
writes bench/results/load.json.

Bounded: loopback only, a fixed number of requests, a per-request timeout and an overall
deadline (--max-seconds) after which nothing more is sent.

    .venv/bin/python bench/load.py                      # 1,000 requests, about a minute
    .venv/bin/python bench/load.py --requests 20000     # the issue's figure
    .venv/bin/python bench/load.py --requests 20000 --replicas 2 --redis-url redis://127.0.0.1:6379/0

With --replicas N, N `sensex serve` processes share the home and the Redis cache; the client's
connections go to them in turn (16 each for two, as a load balancer keeping connections alive
would spread them) and the memory of each is reported.

Heavy pages beside the forecasts: the same mixed load runs first alone (the baseline of this
run), then --runs times with --heavy-loops connections (default 6) beside it, each asking in turn
for /drift, /drift/history, /explain and /market until the mixed load is done. The table compares
the cached /predict and /health p99 with and without them, and the server's memory after each run
(flat: the last heavy run's resident memory within 5% of the first's).

    .venv/bin/python bench/load.py --requests 2400 --concurrency 48 --heavy-loops 6 --runs 2

With --rate R the mixed load is an open loop instead of --concurrency connections: request i is
due at i / R seconds and its latency counts from then (docs/benchmarks.md, "Load", says why the
latency targets are judged that way). The resident memory of the server's worker processes
(forecast inputs, heavy views) is reported beside the server's own.

    .venv/bin/python bench/load.py --requests 2400 --rate 50 --heavy-loops 6 --runs 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
HISTORY = ("2008-01-01", "2021-12-31")  # fixed: results do not depend on today
FIRST_AS_OF = "2010-01-01"  # a window plus the indicators' warm-up after HISTORY's start
WARM_UP_AS_OF = "2009-12-31"  # back-dated once before measuring; before every date the load asks for
TINY = """
name: tiny
model: {hidden: 4, projection: 4, dropout: 0.0}
train: {epochs: 2, patience: 1, max_train_windows: 200, valid_sessions: 60, test_sessions: 60, batch_size: 32}
promotion: {min_accuracy: 0.0, min_auc: 0.0, min_probability_sd: 0.0, brier_below_always_up: false, auc_above_naive: false,
            range_beats_ewma: false, not_worse_than_baselines: false}
"""  # the gate is opened: this bench measures the serving path of a trained model, not its quality


def run_cli(home: Path, *args: str) -> None:
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    for name in ("SENSEX_REDIS_URL", "MLFLOW_TRACKING_URI", "SENSEX_API_URL"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "sensex", *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"`sensex {' '.join(args)}` failed: {done.stderr.strip()[-2000:]}")


def prepare_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="sensex-bench-load-")) / "home"
    home.mkdir()
    config = home.parent / "tiny.yaml"
    config.write_text(TINY)
    print(f"Preparing {home}: synthetic data {HISTORY[0]}..{HISTORY[1]}, a tiny model ...", flush=True)
    run_cli(home, "data", "update", "--source", "synthetic", "--start", HISTORY[0], "--end", HISTORY[1])
    run_cli(home, "train", "--preset", str(config))
    run_cli(home, "registry", "setup", "--preset", str(config))
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def resident_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of `pid`, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def children_mb(pid: int) -> float:
    """VmRSS of `pid`'s child processes (the API's worker processes for forecast inputs and heavy
    views), in MB: they hold memory for the server too."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if int(fields.get("PPid", "0").strip()) == pid and "VmRSS" in fields:
            total += int(fields["VmRSS"].split()[0]) / 1024
    return total


def start_server(home: Path, port: int, redis_url: str | None) -> subprocess.Popen:
    env = {**os.environ, "SENSEX_HOME": str(home), "SENSEX_LOG_LEVEL": "WARNING"}
    env.pop("SENSEX_REDIS_URL", None)
    if redis_url:
        env["SENSEX_REDIS_URL"] = redis_url
        env["SENSEX_REDIS_PREFIX"] = f"sensex-bench-{os.getpid()}:"
    log = open(home.parent / f"serve-{port}.log", "w")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen([sys.executable, "-m", "sensex", "serve", "--host", HOST, "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The server exited at start: see {log.name}")
        try:
            if httpx.get(f"http://{HOST}:{port}/version", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("The server did not answer within 120 s")


def plan(n: int, uncached_share: float, other_share: float, seed: int, phase: int = 0,
         phases: int = 1) -> list[tuple[str, str | None]]:
    """(kind, as_of) per request; kinds: cached, uncached, health, predictions. Each of `phases`
    runs draws its new as_of days from its own share of the calendar, so none is cached before."""
    rng = random.Random(seed + phase)
    days = pd.date_range(FIRST_AS_OF, "2021-12-27", freq="D").strftime("%Y-%m-%d").tolist()[::-1]
    fresh_days = iter(days[phase::phases])
    hot = [None, "2021-12-30", "2021-12-29", "2021-12-28"]
    out = []
    for _ in range(n):
        draw = rng.random()
        if draw < other_share / 2:
            out.append(("health", None))
        elif draw < other_share:
            out.append(("predictions", None))
        elif rng.random() < uncached_share:
            day = next(fresh_days, None)  # each calendar day once; past the supply it would be cached
            out.append(("uncached", day) if day else ("cached", rng.choice(hot)))
        else:
            out.append(("cached", rng.choice(hot)))
    return out


HEAVY_ROUTES = ("/drift", "/drift/history", "/explain", "/market")


def request_bytes(port: int, kind: str, as_of: str | None) -> bytes:
    """One HTTP/1.1 request, keep-alive, as a client library would send it."""
    if kind.startswith("heavy "):
        head, body = f"GET {kind.removeprefix('heavy ')}", b""
    elif kind == "health":
        head, body = "GET /health", b""
    elif kind == "predictions":
        head, body = "GET /predictions?limit=50", b""
    else:
        head, body = "POST /predict", json.dumps({"as_of": as_of} if as_of else {}).encode()
    lines = [f"{head} HTTP/1.1", f"Host: {HOST}:{port}", "Accept: application/json"]
    if head.startswith("POST"):
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep_alive) of one response; bodies come with a Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            body += (await reader.readexactly(size + 2))[:size]
            if size == 0:
                break
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def exchange(port: int, streams: tuple | None, kind: str, as_of: str | None,
                   timeout: float) -> tuple[object, bool | None, tuple | None]:
    """One request on a kept-alive connection (`streams`, or a new one): (status, cached, the
    connection to reuse or None)."""
    status, cached = None, None
    reader, writer = streams or (None, None)
    try:
        if writer is None:
            reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(request_bytes(port, kind, as_of))
        status, body, keep_alive = await asyncio.wait_for(read_response(reader), timeout)
        if kind in ("cached", "uncached") and status == 200:
            cached = json.loads(body).get("cached")
        if not keep_alive:
            writer.close()
            writer = None
    except TimeoutError:
        status = "timeout"
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        status = f"error: {type(exc).__name__}"
    if isinstance(status, str) and writer is not None:
        writer.close()  # a connection left mid-response cannot carry the next request
        writer = None
    return status, cached, (reader, writer) if writer is not None else None


async def drive(requests: list[tuple[str, str | None]], ports: list[int], concurrency: int, timeout: float,
                deadline: float, heavy_loops: int = 0, rate: float | None = None) -> list[dict]:
    """Send `requests` over `concurrency` keep-alive connections (spread over `ports` in turn),
    each sending its next request when its last answer is read: a closed loop, like the thread
    pool it replaced, but the client costs tens of microseconds a request, so the latencies
    measured are the server's (32 httpx threads in one process were slower than the server).

    With `rate`, an open loop instead: request i is due at i / rate seconds, sent on an idle
    connection (a new one when none is idle, as many users would), and its latency counts from
    when it was due, so a server that falls behind is charged for the wait (no coordinated
    omission). A closed loop at a concurrency the server cannot absorb measures its queue
    (latency = connections / throughput); an open loop below capacity measures its latency."""
    queue = iter(enumerate(requests))
    results: list[dict] = []
    mixed_done = asyncio.Event()

    def heavy(number: int):
        """The heavy routes in turn, until the mixed load is done."""
        turn = number
        while not mixed_done.is_set():
            yield None, (f"heavy {HEAVY_ROUTES[turn % len(HEAVY_ROUTES)]}", None)
            turn += 1

    async def connection(number: int, source=None) -> None:
        port = ports[number % len(ports)]
        streams = None
        for _, (kind, as_of) in source or queue:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            status, cached, streams = await exchange(port, streams, kind, as_of, timeout)
            results.append({"kind": kind, "status": status, "seconds": time.perf_counter() - started, "cached": cached})
        if streams is not None:
            streams[1].close()

    async def open_loop() -> None:
        idle: list[tuple] = []
        begin = time.perf_counter()

        async def one(number: int, kind: str, as_of: str | None) -> None:
            due = begin + number / rate
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if time.monotonic() > deadline:
                return
            streams = idle.pop() if idle else None
            port = ports[number % len(ports)]
            status, cached, kept = await exchange(port, streams, kind, as_of, timeout)
            if streams is not None and isinstance(status, str) and status.startswith("error"):
                # The server closed that idle connection (its keep-alive timeout) as this request
                # went out: sent again on a new one, as HTTP clients do.
                status, cached, kept = await exchange(port, None, kind, as_of, timeout)
            streams = kept
            results.append({"kind": kind, "status": status, "seconds": time.perf_counter() - due, "cached": cached})
            if streams is not None:
                idle.append(streams)

        await asyncio.gather(*(one(number, kind, as_of) for number, (kind, as_of) in enumerate(requests)))
        for streams in idle:
            streams[1].close()

    async def mixed() -> None:
        if rate:
            await open_loop()
        else:
            await asyncio.gather(*(connection(number) for number in range(concurrency)))
        mixed_done.set()

    await asyncio.gather(mixed(), *(connection(number, heavy(number)) for number in range(heavy_loops)))
    return results


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--uncached", type=float, default=0.10, help="share of forecasts with a new as_of")
    parser.add_argument("--other", type=float, default=0.10, help="share of requests to /health and /predictions")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="overall deadline")
    parser.add_argument("--home", type=Path, default=None, help="a SENSEX_HOME with a production model")
    parser.add_argument("--redis-url", default=None, help="serve with this Redis cache (own key prefix)")
    parser.add_argument("--replicas", type=int, default=1, help="API processes behind a round-robin client")
    parser.add_argument("--heavy-loops", type=int, default=6, help="connections asking for the heavy pages beside the load")
    parser.add_argument("--runs", type=int, default=2, help="runs with the heavy loops, after one without")
    parser.add_argument("--rate", type=float, default=None,
                        help="an open loop: requests per second offered, latency counted from when each was due")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.replicas > 1 and not args.redis_url:
        raise SystemExit("--replicas needs --redis-url: replicas share their forecasts through Redis.")

    home = args.home or prepare_home()
    servers: list[subprocess.Popen] = []
    clients: list[httpx.Client] = []
    try:
        for _ in range(args.replicas):
            port = free_port()
            servers.append(start_server(home, port, args.redis_url))
            clients.append(httpx.Client(base_url=f"http://{HOST}:{port}", timeout=args.timeout,
                                        limits=httpx.Limits(max_connections=args.concurrency,
                                                            max_keepalive_connections=args.concurrency)))
        for number, client in enumerate(clients):
            # One request of each kind first, so "before" is a server that has done each kind of
            # work once (the latest window, the held store a back-dated forecast reads, the log
            # tail): growth after that is what the load adds, not what the first request loads.
            client.post("/predict", json={})
            # (a date of its own for each replica: another's answer would come from Redis)
            warm_up = (pd.Timestamp(WARM_UP_AS_OF) - pd.Timedelta(days=number)).strftime("%Y-%m-%d")
            client.post("/predict", json={"as_of": warm_up})
            client.get("/health")
            client.get("/predictions", params={"limit": 50})
        before = [resident_mb(server.pid) for server in servers]
        ports = [int(client.base_url.port) for client in clients]
        phases = [0] + [args.heavy_loops] * args.runs  # the mixed load alone first: this run's baseline
        runs = []
        for number, heavy_loops in enumerate(phases):
            requests = plan(args.requests, args.uncached, args.other, args.seed, number, len(phases))
            wall = time.perf_counter()
            results = asyncio.run(drive(requests, ports, args.concurrency, args.timeout,
                                        time.monotonic() + args.max_seconds, heavy_loops, args.rate))
            wall = time.perf_counter() - wall
            time.sleep(1.0)  # let the servers finish what they were doing before reading memory
            runs.append({"heavy_loops": heavy_loops, "results": results, "wall": wall,
                         "rss": [resident_mb(server.pid) for server in servers],
                         "workers_rss": [children_mb(server.pid) for server in servers]})
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.terminate()
            server.wait(timeout=30)

    def group(results: list[dict], name: str, keep) -> dict:
        rows = [r for r in results if keep(r)]
        ok = [r["seconds"] * 1000 for r in rows if r["status"] == 200]
        return {"name": name, "count": len(rows),
                "5xx": sum(1 for r in rows if isinstance(r["status"], int) and r["status"] >= 500),
                "timeouts": sum(1 for r in rows if r["status"] == "timeout"),
                "errors": sum(1 for r in rows if isinstance(r["status"], str) and r["status"] != "timeout"),
                "other_status": sum(1 for r in rows if isinstance(r["status"], int) and r["status"] != 200 and r["status"] < 500),
                "p50_ms": percentile(ok, 50), "p99_ms": percentile(ok, 99),
                "mean_ms": statistics.fmean(ok) if ok else None}

    def groups_of(results: list[dict]) -> list[dict]:
        out = [
            group(results, "predict, cached", lambda r: r["kind"] in ("cached", "uncached") and r["cached"] is True),
            group(results, "predict, computed", lambda r: r["kind"] in ("cached", "uncached") and r["cached"] is False),
            group(results, "predict, failed", lambda r: r["kind"] in ("cached", "uncached") and r["cached"] is None),
            group(results, "GET /health", lambda r: r["kind"] == "health"),
            group(results, "GET /predictions", lambda r: r["kind"] == "predictions"),
        ]
        out += [group(results, f"GET {route}", lambda r, k=f"heavy {route}": r["kind"] == k)
                for route in HEAVY_ROUTES if any(r["kind"] == f"heavy {route}" for r in results)]
        return out + [group(results, "all", lambda r: True)]

    def fmt(value) -> str:
        return "-" if value is None else f"{value:.1f}"

    reported = []
    for number, run in enumerate(runs):
        sent, wall, groups = len(run["results"]), run["wall"], groups_of(run["results"])
        label = "alone (baseline)" if not run["heavy_loops"] else f"with {run['heavy_loops']} heavy loops"
        offered = f"offered at {args.rate:g} req/s (open loop)" if args.rate else f"at concurrency {args.concurrency}"
        print(f"\nRun {number + 1}, {label}: {sent} requests {offered} in {wall:.1f} s"
              f" = {sent / wall:.1f} req/s; forecasts {args.uncached:.0%} new as_of, {args.other:.0%} other routes")
        print(f"{'':20} {'count':>6} {'5xx':>5} {'t/o':>5} {'err':>5} {'4xx':>5} {'p50 ms':>9} {'p99 ms':>9}")
        for g in groups:
            print(f"{g['name']:20} {g['count']:>6} {g['5xx']:>5} {g['timeouts']:>5} {g['errors']:>5} {g['other_status']:>5}"
                  f" {fmt(g['p50_ms']):>9} {fmt(g['p99_ms']):>9}")
        rss = [round(r["VmRSS"], 1) for r in run["rss"]]
        workers = [round(w, 1) for w in run["workers_rss"]]
        print(f"resident memory after the run: {rss} MB (before any load: {[round(b['VmRSS'], 1) for b in before]});"
              f" its worker processes: {workers} MB")
        reported.append({"heavy_loops": run["heavy_loops"], "requests_sent": sent, "wall_seconds": round(wall, 2),
                         "throughput_rps": round(sent / wall, 1) if wall else None, "groups": groups,
                         "rss_mb_after": rss, "peak_rss_mb": [round(r["VmHWM"], 1) for r in run["rss"]],
                         "workers_rss_mb_after": workers})

    def p99(run: dict, name: str) -> float | None:
        return next((g["p99_ms"] for g in run["groups"] if g["name"] == name), None)

    comparison = {}
    if len(reported) > 1:
        alone, heavy = reported[0], reported[1:]
        print("\nWith the heavy loops beside it, against the same load alone (this run's baseline):")
        for name, target in (("predict, cached", 50.0), ("GET /health", 20.0)):
            worst = max((p99(r, name) or 0.0) for r in heavy)
            base = p99(alone, name)
            comparison[name] = {"p99_ms_alone": base, "p99_ms_with_heavy": worst, "target_ms": target}
            ratio = f"{worst / base:.2f}x" if base else "-"
            print(f"  {name:16} p99 {fmt(base)} ms alone, {fmt(worst)} ms with heavy loops ({ratio});"
                  f" target <= {target:.0f} ms: {'met' if worst <= target else 'MISSED'}")
        first, last = heavy[0]["rss_mb_after"], heavy[-1]["rss_mb_after"]
        growth = [round(b / a, 3) for a, b in zip(first, last, strict=True)]
        first_workers, last_workers = heavy[0]["workers_rss_mb_after"], heavy[-1]["workers_rss_mb_after"]
        comparison["memory"] = {"first_heavy_run_mb": first, "last_heavy_run_mb": last, "ratio": growth,
                                "workers_first_heavy_run_mb": first_workers, "workers_last_heavy_run_mb": last_workers}
        print(f"  memory after the first heavy run {first} MB, after the last {last} MB ({growth}x;"
              f" flat means within 1.05x); worker processes {first_workers} -> {last_workers} MB")
    summary = {
        "requests_per_run": args.requests, "concurrency": None if args.rate else args.concurrency,
        "rate_offered": args.rate, "heavy_loops": args.heavy_loops,
        "uncached_share_of_forecasts": args.uncached, "other_share": args.other, "replicas": args.replicas,
        "rss_mb_before": [round(b["VmRSS"], 1) for b in before], "redis": bool(args.redis_url),
        "cpus": os.cpu_count(), "runs": reported, "comparison": comparison,
    }
    out = REPO / "bench" / "results" / "load.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1))
    print(f"wrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
