"""The store's metadata as `sensex.data.store` writes it (meta.json, and the same inside the data
file), checked field by field when read: anything else is refused with ValueError, and the store
rebuilds meta.json from the data file."""

from __future__ import annotations

import json
import math
import re

# In meta.json only: the data file's [mtime_ns, size] when meta.json was written for it. While
# they still match, meta.json describes the data file and `read_meta` trusts it without opening
# the Parquet file (no pyarrow: the API's forecast path reads the metadata on every request).
STAMP_KEY = "data_file_stamp"
MAX_META_DEPTH = 16  # meta.json nests 3 deep
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _optional_date(value) -> bool:
    return value is None or (isinstance(value, str) and _ISO_DATE.fullmatch(value) is not None)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _symbol_range(value) -> bool:
    return (isinstance(value, dict) and _optional_date(value.get("first")) and _optional_date(value.get("last"))
            and _count(value.get("rows", 0)))


# What the store's `_describe` writes, by field; a field absent is fine (older stores), one of another type is not.
_META_FIELDS = {
    "source": lambda v: isinstance(v, str), "synthetic": lambda v: isinstance(v, bool),
    "fetched_at": lambda v: isinstance(v, str), "checked_at": lambda v: isinstance(v, str), "rows": _count,
    "first_date": _optional_date, "last_date": _optional_date, "content_hash": lambda v: isinstance(v, str),
    "write_id": lambda v: isinstance(v, str),
    "symbols": lambda v: isinstance(v, dict) and all(_symbol_range(r) for r in v.values()),
    STAMP_KEY: lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(_count(x) for x in v)),
}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_meta(raw: bytes) -> dict:
    """meta.json's (or the embedded) metadata; raises ValueError when it is not what `write` writes."""
    depth = 0
    for match in re.finditer(rb"[\[\]{}]", raw):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > MAX_META_DEPTH:
            raise ValueError(f"nested deeper than {MAX_META_DEPTH}")
    meta = json.loads(raw, parse_constant=_no_constant)
    if not isinstance(meta, dict):
        raise ValueError(f"a JSON {type(meta).__name__}, not an object")
    wrong = [name for name, check in _META_FIELDS.items() if name in meta and not check(meta[name])]
    if wrong:
        raise ValueError(f"{', '.join(wrong)} of the wrong type")
    if any(isinstance(v, float) and not math.isfinite(v) for v in meta.values()):
        raise ValueError("a number that is not finite")
    return meta
