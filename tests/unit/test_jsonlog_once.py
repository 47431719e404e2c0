"""`jsonlog.append_once`: a record is written once, even by processes racing to write it."""

from __future__ import annotations

import json
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


def test_records_another_writer_appended_meanwhile_count(tmp_path):
    """The keys are kept between appends; what another process appended since is read, not missed."""
    path = tmp_path / "log.json"
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-02"}, _key) is True
    jsonlog.append(path, {"universe": "sensex", "as_of": "2022-03-03"})  # another writer, not through append_once
    with path.open("ab") as handle:
        handle.write(b"not json\n")  # a foreign line among them is skipped
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-03"}, _key) is False
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-04"}, _key) is True
    assert [r["as_of"] for r in jsonlog.read(path)] == ["2022-03-02", "2022-03-03", "2022-03-04"]


def test_a_replaced_or_emptied_log_is_read_again(tmp_path):
    path = tmp_path / "log.json"
    record = {"universe": "sensex", "as_of": "2022-03-02"}
    assert jsonlog.append_once(path, record, _key) is True
    path.write_bytes(b"")  # emptied (same file)
    assert jsonlog.append_once(path, record, _key) is True
    replacement = tmp_path / "new.json"
    replacement.write_bytes(path.read_bytes())
    replacement.replace(path)  # a new file holding the same record
    assert jsonlog.append_once(path, record, _key) is False
    assert len(jsonlog.read(path)) == 1


def test_only_the_last_records_are_looked_at(tmp_path):
    path = tmp_path / "log.json"
    for day in range(1, 6):
        assert jsonlog.append_once(path, {"universe": "sensex", "as_of": f"2022-03-0{day}"}, _key, recent=3) is True
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-01"}, _key, recent=3) is True
    assert jsonlog.append_once(path, {"universe": "sensex", "as_of": "2022-03-05"}, _key, recent=3) is False


def test_a_log_rewritten_in_place_is_read_again_not_taken_for_appended_records(tmp_path):
    """The same inode holding other records (a deleted log's inode reused by the next file, or a
    log rewritten in place): its records are not appended ones, and the old keys do not count."""
    path = tmp_path / "log.json"
    logged = {"universe": "sensex", "as_of": "2021-12-31"}
    assert jsonlog.append_once(path, logged, _key) is True
    with open(path, "r+b") as handle:  # same inode, longer, without the logged record
        others = [{"universe": "sensex", "as_of": f"2021-11-{day:02d}", "note": "x" * 40} for day in range(15, 20)]
        handle.write(b"".join((json.dumps(r) + "\n").encode() for r in others))
    assert jsonlog.append_once(path, logged, _key) is True  # not in this file: written
    assert [r["as_of"] for r in jsonlog.read(path)][-1] == "2021-12-31"
    assert jsonlog.append_once(path, logged, _key) is False
