"""bench/load.py's plan and requests: each run asks for new as_of days no earlier run asked for
(else its "computed" forecasts would be cached), and the heavy loops ask for the heavy pages."""

from bench_scripts import load_bench

load = load_bench("load", "bench_load")


def test_each_run_draws_new_days_of_its_own():
    phases = [load.plan(2000, 0.5, 0.1, seed=7, phase=p, phases=3) for p in range(3)]
    days = [{as_of for kind, as_of in plan if kind == "uncached"} for plan in phases]
    assert all(len(d) > 500 for d in days)
    assert not (days[0] & days[1]) and not (days[0] & days[2]) and not (days[1] & days[2])
    assert load.plan(100, 0.5, 0.1, seed=7) == load.plan(100, 0.5, 0.1, seed=7)  # reproducible


def test_a_heavy_request_is_a_plain_get_of_its_route():
    raw = load.request_bytes(8000, "heavy /drift/history", None).decode()
    assert raw.startswith("GET /drift/history HTTP/1.1\r\n") and "Content-Length" not in raw
    assert load.request_bytes(8000, "cached", "2021-12-30").decode().endswith('{"as_of": "2021-12-30"}')
