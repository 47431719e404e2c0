"""The JSON Lines reader: the last N records come from the file's tail, torn lines are skipped."""

from __future__ import annotations

import json

from sensex.core import jsonlog


def test_the_last_records_come_from_the_tail_in_order(tmp_path):
    path = tmp_path / "log.json"
    for i in range(5000):
        jsonlog.append(path, {"i": i, "pad": "x" * (i % 97)})
    assert [r["i"] for r in jsonlog.read(path, 3)] == [4997, 4998, 4999]
    assert [r["i"] for r in jsonlog.read(path, 1200)] == list(range(3800, 5000))
    assert [r["i"] for r in jsonlog.read(path)] == list(range(5000))
    assert len(jsonlog.read(path, 10_000)) == 5000


def test_torn_and_corrupt_lines_are_skipped_and_the_limit_still_filled(tmp_path):
    path = tmp_path / "log.json"
    lines = [json.dumps({"i": i}) for i in range(20)]
    lines[17] = "{not json"
    path.write_bytes(("\n".join(lines) + "\n" + '{"i": 20, "torn').encode() + b"\xff")
    assert [r["i"] for r in jsonlog.read(path, 3)] == [16, 18, 19]
    assert len(jsonlog.read(path)) == 19
    assert jsonlog.read(tmp_path / "missing.json", 5) == []
