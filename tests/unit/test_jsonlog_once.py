"""`jsonlog.append_once`: a record is written once, even by processes racing to write it."""

from __future__ import annotations

import multiprocessing

from sensex.core import jsonlog


def _key(record: dict) -> tuple:
    return (record["universe"], record["as_of"])


def test_the_same_record_is_written_once_and_another_is_written(tmp_path):
    path = tmp_path / "log.json"
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-02", "n": 1}, _key) is True
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-02", "n": 2}, _key) is False
    assert jsonlog.append_once(path, {"universe": "nifty50", "as_of": "2022-03-02", "n": 3}, _key) is True
    assert [r["n"] for r in jsonlog.read(path)] == [1, 3]


def _write(path: str, start) -> None:
    start.wait()
    jsonlog.append_once(__import__("pathlib").Path(path), {"universe": "sensex", "as_of": "2022-03-02"}, _key)


def test_processes_racing_to_write_the_same_record_write_it_once(tmp_path):
    path = tmp_path / "log.json"
    context = multiprocessing.get_context("fork")
    start = context.Event()
    workers = [context.Process(target=_write, args=(str(path), start)) for _ in range(8)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=30)
    assert len(jsonlog.read(path)) == 1
