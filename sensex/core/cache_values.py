"""What a cache may hold: the data-only encoding every backend stores (`encode`, `decode`) and
the shape each key family must have when read back (`expect`, `conforms`), with the count of
entries refused (`Rejections`). See `sensex.core.cache` for the semantics both backends share."""

from __future__ import annotations

import json
import math
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_DEPTH = 64  # nesting of a cached value: ours go 4 deep; a crafted entry may not exhaust the stack
REJECTED_RECENTLY = 900.0  # seconds `stats()["rejected_recently"]` stays true after a rejected entry

# -- the data-only encoding ------------------------------------------------------------------------
_TAG = "__sensex_type__"
# Column types a cached frame may have; anything else is refused at encode time, and a payload
# naming another type is refused at decode time, so a crafted entry cannot pick a constructor.
_FRAME_DTYPES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16",
                 "uint8", "bool", "object", "string", "category", "datetime64[ns]"}


class CacheEncodingError(TypeError):
    """A value that is not plain data (or a frame the encoding does not cover)."""


def _to_data(value: Any) -> Any:
    # Only a process that imported pandas can hold a frame: the API's forecast path never does.
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
            raise CacheEncodingError("only frames with a default index are cached: reset_index() first")
        columns, dtypes, data = [], [], []
        for name in value.columns:
            column = value[name]
            dtype = str(column.dtype)
            if not isinstance(name, str) or dtype not in _FRAME_DTYPES:
                raise CacheEncodingError(f"column {name!r} of type {dtype} is not cached")
            if dtype == "datetime64[ns]":
                values = column.to_numpy().view("int64").tolist()  # NaT is int64's minimum
            elif dtype in ("float64", "float32"):
                values = [None if v != v else v for v in column.tolist()]  # NaN as null: JSON has no NaN
            else:
                values = column.astype(object).where(column.notna(), None).tolist() if dtype in ("object", "string", "category") else column.tolist()
            columns.append(name)
            dtypes.append(dtype)
            data.append(values)
        return {_TAG: "frame", "columns": columns, "dtypes": dtypes, "data": data}
    if pd is not None and isinstance(value, pd.Timestamp):
        return {_TAG: "timestamp", "value": value.isoformat()}
    if isinstance(value, np.generic):
        return value.item()
    raise CacheEncodingError(f"a {type(value).__name__} is not plain data")


def _from_data(obj: dict) -> Any:
    kind = obj.get(_TAG)
    if kind is None:
        return obj
    import pandas as pd

    if kind == "timestamp":
        return pd.Timestamp(str(obj["value"]))
    if kind == "frame":
        columns, dtypes, data = obj["columns"], obj["dtypes"], obj["data"]
        if not all(isinstance(part, list) for part in (columns, dtypes, data)) \
                or not (len(columns) == len(dtypes) == len(data)) \
                or any(not isinstance(d, str) or d not in _FRAME_DTYPES for d in dtypes) \
                or any(not isinstance(values, list) for values in data):
            raise ValueError("malformed frame entry")
        out = {}
        for name, dtype, values in zip(columns, dtypes, data, strict=True):
            if dtype == "datetime64[ns]":
                out[str(name)] = np.asarray(values, dtype="int64").view("datetime64[ns]")
            else:
                out[str(name)] = pd.Series(values, dtype=dtype if dtype != "category" else "object")
                if dtype == "category":
                    out[str(name)] = out[str(name)].astype("category")
        return pd.DataFrame(out, columns=[str(c) for c in columns])
    raise ValueError(f"unknown cached type {kind!r}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} overflows a float")
    return value


def _too_deep(data: bytes | str, limit: int) -> bool:
    """Whether JSON text nests deeper than `limit` (brackets inside strings count too: that can
    only overestimate, and a real entry is far below the limit)."""
    text = data.encode() if isinstance(data, str) else data
    if text.count(b"[") + text.count(b"{") <= limit:  # a frame, a forecast: cannot be deeper
        return False
    depth = 0
    for match in re.finditer(rb"[\[\]{}]", text):
        depth += 1 if match.group() in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


def encode(value: Any) -> bytes:
    """The JSON bytes of `value`; raises CacheEncodingError for anything that is not data (NaN
    and infinity included, outside a frame's missing values)."""
    try:
        return json.dumps(value, default=_to_data, separators=(",", ":"), allow_nan=False).encode()
    except CacheEncodingError:
        raise
    except (TypeError, ValueError) as error:  # e.g. non-string dict keys, circular references
        raise CacheEncodingError(str(error)) from error


def decode(data: bytes | str) -> Any:
    """The value of `encode`'s bytes; raises ValueError for anything else (NaN, Infinity, a number
    that overflows, nesting deeper than MAX_DEPTH, a malformed frame). Only parses."""
    if _too_deep(data, MAX_DEPTH):
        raise ValueError(f"not a cache entry: nested deeper than {MAX_DEPTH}")
    try:
        return json.loads(data, object_hook=_from_data, parse_constant=_no_constant, parse_float=_finite_float)
    except Exception as error:  # noqa: BLE001 - whatever a crafted entry makes a parser raise, it is not ours
        raise ValueError(f"not a cache entry: {type(error).__name__}: {str(error)[:200]}") from error


# -- what each key family holds -----------------------------------------------------------------------
# A cached value is checked against the shape of its key family before it is returned: JSON that
# decodes but is not what the family holds ("hello", [1, 2, 3], {"a": 1} under a forecast key) is a
# miss. The families are the project's callers' (ModelServer, RealtimeDataFetcher, market_status);
# `expect(prefix, check)` adds a check (the API adds the full Forecast model), and `cached(...,
# expect=check)` applies one to a single call. Checks see decoded values only: finite numbers,
# bounded depth.
Check = Callable[[Any], bool]
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _probability(value: Any) -> bool:
    return _number(value) and 0.0 <= value <= 1.0


def _iso_date(value: Any) -> bool:
    return isinstance(value, str) and _ISO_DATE.fullmatch(value) is not None


def _optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _fields(value: Any, checks: dict[str, Check]) -> bool:
    return isinstance(value, dict) and all(check(value.get(name)) for name, check in checks.items())


def _list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_FORECAST = {"direction": lambda v: v in ("UP", "DOWN"), "probability": _probability,
             "interval": lambda v: isinstance(v, list) and len(v) == 2 and all(_probability(p) for p in v),
             "as_of": _iso_date, "target_date": _iso_date, "model_version": _str, "confidence": _str, "risk": _str,
             "data_source": _str, "note": _str, "skill": _str, "universe": _str, "mode": _str,
             "synthetic": _bool, "stale": _bool, "no_call": _bool,
             "last_bse_session": _optional(_iso_date), "last_sp500_session": _optional(_iso_date),
             "members": _optional(_list_of_dicts), "sectors": _optional(_list_of_dicts)}
_HISTORY_COLUMNS = ("date", "symbol", "open", "high", "low", "close", "adj_close", "volume")


def _is_forecast(value: Any) -> bool:
    return _fields(value, _FORECAST)


def _is_history_frame(value: Any) -> bool:
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(value, pd.DataFrame) or not set(_HISTORY_COLUMNS) <= set(value.columns):
        return False
    numeric = all(pd.api.types.is_numeric_dtype(value[c]) and not pd.api.types.is_bool_dtype(value[c])
                  for c in _HISTORY_COLUMNS[2:])
    return numeric and pd.api.types.is_datetime64_any_dtype(value["date"])


def _is_bar(value: Any) -> bool:
    return isinstance(value, dict) and _iso_date(value.get("date")) and all(
        value[name] is None or _number(value[name]) for name in value if name != "date")


def _is_index_history(value: Any) -> bool:
    return isinstance(value, list) and all(_is_bar(bar) for bar in value)


def _is_overview(value: Any) -> bool:
    if not isinstance(value, dict) or not isinstance(value.get("available"), bool):
        return False
    if not value["available"]:
        return True
    index = value.get("index")
    return (_iso_date(value.get("as_of")) and isinstance(index, dict)
            and all(_number(index.get(k)) for k in ("level", "change", "change_pct"))
            and isinstance(value.get("breadth"), dict)
            and all(_list_of_dicts(value.get(k)) for k in ("top_gainers", "top_losers", "members", "sectors")))


def _is_live(value: Any) -> bool:
    return (isinstance(value, dict) and set(value) == {"live", "reason"}
            and (value["live"] is None or isinstance(value["live"], dict)) and _optional(_str)(value["reason"]))


def _is_drift_history(value: Any) -> bool:
    return isinstance(value, dict) and _list_of_dicts(value.get("points")) and isinstance(value.get("families"), list)


_SHAPES: dict[str, list[Check]] = {
    "forecast:": [_is_forecast],
    "drift-history:": [_is_drift_history],
    "history:": [_is_history_frame],
    "index_history:": [_is_index_history],
    "overview:": [_is_overview],
    "live:": [_is_live],
    "health:": [lambda v: _number(v)],
}
_shapes_lock = threading.Lock()


def expect(prefix: str, check: Check) -> None:
    """Add `check` to what entries under keys starting with `prefix` must pass (idempotent)."""
    with _shapes_lock:
        checks = _SHAPES.setdefault(prefix, [])
        if check not in checks:
            checks.append(check)


def conforms(key: str, value: Any, expected: Check | None = None) -> bool:
    """Whether `value` is of the shape `key`'s family holds (and passes `expected`, when given).
    A check that raises counts as a refusal."""
    with _shapes_lock:
        checks = [check for prefix, found in _SHAPES.items() if key.startswith(prefix) for check in found]
    if expected is not None:
        checks.append(expected)
    try:
        return all(check(value) for check in checks)
    except Exception:  # noqa: BLE001 - a check that cannot even look at the value refuses it
        return False


class Rejections:
    """Entries rejected as unreadable or of the wrong shape: a count and the last one."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self.count = 0
        self.last: tuple[str, str, float] | None = None  # (key, why, when)

    def add(self, key: str, why: str) -> None:
        self.count += 1
        self.last = (key, why, self._clock())

    def stats(self) -> dict:
        last = None
        recently = False
        if self.last is not None:
            key, why, when = self.last
            ago = max(0.0, self._clock() - when)
            last = {"key": key, "reason": why, "seconds_ago": round(ago, 1)}
            recently = ago < REJECTED_RECENTLY
        return {"rejected": self.count, "last_rejected": last, "rejected_recently": recently}


def unwanted(key: str, data: bytes, expected: Check | None) -> tuple[Any, str | None]:
    """(value, None) for a readable entry of the right shape; (None, why) otherwise."""
    try:
        value = decode(data)
    except ValueError as error:
        return None, str(error)
    if not conforms(key, value, expected):
        return None, f"not of the shape its key holds (a {type(value).__name__})"
    return value, None



def hit_rate(hits: int, misses: int) -> float | None:
    total = hits + misses
    return hits / total if total else None
