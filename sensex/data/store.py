"""The only data I/O: the Parquet store under `$SENSEX_HOME/store`.

`ohlcv.parquet` holds the canonical frame sorted by (symbol, date); `meta.json` beside it records
the source, when it was fetched, per-symbol ranges and a content hash. Both are written to a
temporary file and renamed into place, so a crash mid-update never leaves a broken store, and a
failed fetch never replaces or empties what is stored.

The data file is self-describing: the same metadata, with a `write_id` unique to each write, is
in the Parquet file's own key-value metadata (`sensex.meta`). Two files cannot be replaced in
one step, so a crash between the data write and the meta.json write leaves meta.json describing
the previous data; `read_meta` notices (the write ids differ) and rebuilds meta.json from the
data file, so no reader ever sees the old row count, dates, hash or source.

Both files are checked when read. meta.json is derived, so a meta.json that is not what `write`
writes (not JSON, not an object, a field of the wrong type: `[]`, `{"rows": "many"}`) is rebuilt
from the data file, like a stale one. The data file is the source: one that cannot be read
(truncated, garbled, empty) or that does not hold the store's columns is refused with
NoStoreError, one sentence naming it and saying to restore it or import the data again; never
an error of pyarrow's. `problem(store_dir)` says the same for `/health` without raising.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sensex.core.errors import NoStoreError
from sensex.core.processes import is_abandoned, owned_prefix
from sensex.data.store_meta import STAMP_KEY, parse_meta
from sensex.market.schema import COLUMNS, canonicalize, empty_frame

if TYPE_CHECKING:  # imported where the rows are read or written: `read_meta` needs neither
    import pandas as pd

log = logging.getLogger(__name__)

DATA_FILE = "ohlcv.parquet"
META_FILE = "meta.json"
SYNTHETIC = "synthetic"
EMBEDDED_META_KEY = b"sensex.meta"
MAX_META_BYTES = 16 * 1024 * 1024  # meta.json of a 100-symbol store is ~20 KB

# Parsed store (and its embedded metadata) kept per process, keyed on the file's (mtime, size):
# the app and the API read the same 60-session window many times between updates. A process
# serves one store; the bound only stops a long-lived process that visits many homes (tests, a
# notebook) from keeping every one of them.
MEMO_MAX_STORES = 2
_memo: dict[Path, tuple[tuple[int, int], pd.DataFrame]] = {}
_embedded_memo: dict[Path, tuple[tuple[int, int], dict | None]] = {}
_memo_lock = threading.Lock()


def _remember(memo: dict, path: Path, key: tuple[int, int], value) -> None:
    with _memo_lock:
        memo.pop(path, None)
        memo[path] = (key, value)
        while len(memo) > MEMO_MAX_STORES:
            del memo[next(iter(memo))]  # the store used least recently


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Named after this process, so that `sensex registry doctor` can remove what a kill left.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{owned_prefix(path.name)}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def content_hash(frame: pd.DataFrame) -> str:
    """Order-independent fingerprint of the rows; logged with every training run."""
    import pandas as pd

    canonical = canonicalize(frame)
    hashed = pd.util.hash_pandas_object(canonical, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def exists(store_dir: Path) -> bool:
    return (store_dir / DATA_FILE).is_file()


def _stat_key(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def damaged(path: Path, reason: str) -> NoStoreError:
    """The one sentence for a data file that cannot be used."""
    return NoStoreError(f"The store file {path} is damaged ({reason}): restore it from a backup, or move it aside and"
                        " run `sensex data update` to import the data again.")


def embedded_meta(store_dir: Path) -> dict | None:
    """The metadata written inside the data file; None without a data file, for a store written
    before files carried it, or when it is not what `write` writes. Raises NoStoreError when the
    data file is not a readable Parquet file."""
    path = store_dir / DATA_FILE
    key = _stat_key(path)
    if key is None:
        return None
    with _memo_lock:
        hit = _embedded_memo.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(EMBEDDED_META_KEY)
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError, ...: whatever pyarrow says, the file is damaged
        raise damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None
    try:
        meta = parse_meta(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        log.warning("Ignoring the metadata inside %s (%s): it is described from its rows instead.", path, exc)
        meta = None
    if meta is not None:
        meta.pop(STAMP_KEY, None)
    _remember(_embedded_memo, path, key, meta)
    return meta


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:160]


# meta.json as last checked, by its path and file identity: the API reads it on every forecast and
# health check, and checking it (one entry per symbol) cost more than the rest of a cached answer.
# A rewrite is a new file (atomic rename) or a new size and time: checked again. What is kept is
# the checked bytes: each caller gets its own copy from json.loads (callers may change theirs;
# a deepcopy of the parsed dict cost 0.8 ms, twenty times the parse).
_parsed_meta: dict[Path, tuple[tuple, bytes]] = {}


def _read_meta_file(store_dir: Path) -> dict | None:
    """meta.json, or None when it is absent or not what `write` writes (rebuilt by `read_meta`)."""
    path = store_dir / META_FILE
    try:
        info = path.stat()
        if info.st_size > MAX_META_BYTES:
            raise ValueError(f"over {MAX_META_BYTES} bytes")
        identity = (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns)
        held = _parsed_meta.get(path)
        if held is not None and held[0] == identity:
            return json.loads(held[1])  # checked when it was kept: only parsed into a new dict
        raw = path.read_bytes()
        parsed = parse_meta(raw)
        _parsed_meta[path] = (identity, raw)
        return parsed
    except FileNotFoundError:
        return None
    except (OSError, ValueError, UnicodeDecodeError, RecursionError) as exc:  # torn, foreign, unreadable
        log.warning("%s is damaged (%s): it is rebuilt from %s.", path, str(exc)[:120], DATA_FILE)
        return None


def _stamp(store_dir: Path) -> list[int] | None:
    key = _stat_key(store_dir / DATA_FILE)
    return list(key) if key is not None else None


def _write_meta_file(store_dir: Path, meta: dict, stamp: list[int] | None) -> None:
    _atomic_write_bytes(store_dir / META_FILE, json.dumps({**meta, STAMP_KEY: stamp}, indent=2).encode())


def read_meta(store_dir: Path) -> dict | None:
    """The store's metadata, repaired from the data file when meta.json does not describe it.

    While meta.json is stamped for the data file, the data file is not opened (no pyarrow: the
    API's forecast path and /health read this). Otherwise (after a crash, a copy, damage) the
    data file is read whole before meta.json is rewritten and stamped for it: a damaged one raises
    NoStoreError and is never stamped as sound."""
    recorded = _read_meta_file(store_dir)
    recorded_stamp = recorded.pop(STAMP_KEY, None) if isinstance(recorded, dict) else None
    # Taken before the data file is looked at: if an update replaces it meanwhile, a meta.json
    # rewritten below carries the old stamp, so the next read checks again instead of trusting it.
    stamp = _stamp(store_dir)
    if recorded is not None and stamp is not None and recorded_stamp == stamp:
        return recorded
    embedded = embedded_meta(store_dir)
    _verify(store_dir)
    if embedded is None:
        if recorded is None and exists(store_dir):  # an old store that lost meta.json
            embedded = _describe(_read_all(store_dir), "unknown")
        else:
            return recorded
    elif recorded is not None and recorded.get("write_id") == embedded.get("write_id"):
        # Right, but not stamped for this file (a copied home, a store older than the stamp):
        # stamp it, so later reads need not open the data file.
        try:
            _write_meta_file(store_dir, recorded, stamp)
        except OSError:
            pass  # a read-only home reads the data file's metadata each time instead
        return recorded
    log.warning("%s does not describe %s (an update was interrupted): rebuilding it from the data file.",
                META_FILE, DATA_FILE)
    try:
        _write_meta_file(store_dir, embedded, stamp)
    except OSError as exc:  # a read-only home still gets the right answer, just not the repair
        log.warning("Could not rewrite %s (%s).", store_dir / META_FILE, exc)
    return dict(embedded)


def _read_all(store_dir: Path) -> pd.DataFrame:
    path = store_dir / DATA_FILE
    key = _stat_key(path)
    with _memo_lock:
        hit = _memo.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise NoStoreError(f"No data in {store_dir}: run `sensex data update` first.") from None
    except Exception as exc:  # noqa: BLE001 - ArrowInvalid, OSError, ...: whatever pyarrow says, the file is damaged
        raise damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None
    frame = _checked_frame(table.to_pandas(), path)
    _remember(_memo, path, key, frame)
    return frame


def _checked_frame(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """`frame` when it has the store's columns and types (what `write` writes); raises NoStoreError."""
    import pandas as pd

    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise damaged(path, f"it lacks the columns {', '.join(missing)}")
    if not pd.api.types.is_datetime64_dtype(frame["date"]):
        raise damaged(path, "its date column does not hold dates")
    if not (pd.api.types.is_object_dtype(frame["symbol"]) or pd.api.types.is_string_dtype(frame["symbol"])):
        raise damaged(path, "its symbol column does not hold text")
    wrong = [c for c in COLUMNS[2:] if not pd.api.types.is_float_dtype(frame[c])]
    if wrong:
        raise damaged(path, f"the columns {', '.join(wrong)} do not hold numbers")
    return frame


_verified: dict[Path, tuple[int, int]] = {}  # data files read whole without error, by (mtime, size)


def _verify(store_dir: Path) -> None:
    """Read the whole data file with pyarrow (no pandas) and check its columns' types, once per
    version of the file; raises NoStoreError when it is damaged or not the store's."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = store_dir / DATA_FILE
    key = _stat_key(path)
    if key is None:
        return
    with _memo_lock:
        if _verified.get(path) == key:
            return
    try:
        schema = pq.read_table(path).schema
    except FileNotFoundError:
        return
    except Exception as exc:  # noqa: BLE001 - as in _read_all
        raise damaged(path, f"{type(exc).__name__}: {_first_line(exc)}") from None
    missing = [c for c in COLUMNS if c not in schema.names]
    if missing:
        raise damaged(path, f"it lacks the columns {', '.join(missing)}")
    types = {name: schema.field(name).type for name in COLUMNS}
    if not (pa.types.is_timestamp(types["date"]) and (pa.types.is_string(types["symbol"])
                                                      or pa.types.is_large_string(types["symbol"]))
            and all(pa.types.is_floating(types[c]) for c in COLUMNS[2:])):
        raise damaged(path, "its columns do not hold the store's types")
    with _memo_lock:
        _verified.pop(path, None)
        _verified[path] = key
        while len(_verified) > MEMO_MAX_STORES:
            del _verified[next(iter(_verified))]


def problem(store_dir: Path) -> str | None:
    """Why the store cannot be used, as the sentence NoStoreError would carry; None when it can
    or there is no store yet. As lean as `read_meta` (which it calls): `/health` asks it."""
    try:
        read_meta(store_dir)
    except NoStoreError as exc:
        return str(exc)
    return None


def read(
    store_dir: Path,
    symbols: list[str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Stored rows, optionally filtered; raises NoStoreError when nothing is stored."""
    import pandas as pd

    if not exists(store_dir):
        raise NoStoreError(f"No data in {store_dir}: run `sensex data update` first.")
    frame = _read_all(store_dir)
    keep = pd.Series(True, index=frame.index)
    if symbols is not None:
        keep &= frame["symbol"].isin(symbols)
    if start is not None:
        keep &= frame["date"] >= pd.Timestamp(start)
    if end is not None:
        keep &= frame["date"] <= pd.Timestamp(end)
    return frame.loc[keep].reset_index(drop=True) if not keep.all() else frame.copy()


def symbol_ranges(frame: pd.DataFrame) -> dict[str, dict]:
    grouped = frame.groupby("symbol")["date"].agg(["min", "max", "count"])
    return {
        str(sym): {"first": str(r["min"].date()), "last": str(r["max"].date()), "rows": int(r["count"])}
        for sym, r in grouped.iterrows()
    }


def merge(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int, int]:
    """New rows win over stored rows for the same (symbol, date); returns (merged, added, revised)."""
    import pandas as pd

    if old.empty:
        merged = canonicalize(new).drop_duplicates(["symbol", "date"], keep="last")
        return merged.reset_index(drop=True), len(merged), 0
    new = canonicalize(new).drop_duplicates(["symbol", "date"], keep="last")
    keys_old = pd.MultiIndex.from_frame(old[["symbol", "date"]])
    keys_new = pd.MultiIndex.from_frame(new[["symbol", "date"]])
    overlap = keys_new.isin(keys_old)
    added = int((~overlap).sum())
    revised = 0
    if overlap.any():
        stored = old.set_index(["symbol", "date"]).loc[keys_new[overlap]]
        incoming = new.loc[overlap].set_index(["symbol", "date"])
        values = ["open", "high", "low", "close", "adj_close", "volume"]
        same = (stored[values].round(6).fillna(-1).to_numpy() == incoming[values].round(6).fillna(-1).to_numpy()).all(axis=1)
        revised = int((~same).sum())
    merged = pd.concat([old[~keys_old.isin(keys_new)], new], ignore_index=True)
    return canonicalize(merged), added, revised


def _bse_dates(frame: pd.DataFrame) -> pd.Series:
    # Context series trade on other calendars: a US session on a BSE holiday is no BSE session.
    from sensex.market import context

    return frame.loc[~frame["symbol"].isin([s.symbol for s in context.CONTEXT_SERIES]), "date"]


def first_session(frame: pd.DataFrame) -> str | None:
    """First BSE session stored (ISO), context series left out."""
    import pandas as pd

    first = _bse_dates(frame).min()
    return None if pd.isna(first) else str(first.date())


def last_session(frame: pd.DataFrame) -> str | None:
    """Last BSE session stored (ISO), context series left out."""
    import pandas as pd

    last = _bse_dates(frame).max()
    return None if pd.isna(last) else str(last.date())


def _describe(frame: pd.DataFrame, source: str, extra_meta: dict | None = None) -> dict:
    return {
        "source": source,
        "synthetic": source == SYNTHETIC,
        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": len(frame),
        "first_date": first_session(frame),
        "last_date": last_session(frame),
        "content_hash": content_hash(frame),
        "symbols": symbol_ranges(frame),
        "write_id": uuid.uuid4().hex,
        **(extra_meta or {}),
    }


def write(store_dir: Path, frame: pd.DataFrame, source: str, extra_meta: dict | None = None) -> dict:
    """Replace the store atomically with `frame`; returns the new metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = canonicalize(frame)
    meta = _describe(frame, source, extra_meta)
    table = pa.Table.from_pandas(frame[COLUMNS], preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), EMBEDDED_META_KEY: json.dumps(meta).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    # Data first (it carries its own metadata), then meta.json: a crash between the two leaves a
    # meta.json with the old write id, which `read_meta` detects and rebuilds.
    _atomic_write_bytes(store_dir / DATA_FILE, sink.getvalue().to_pybytes())
    _write_meta_file(store_dir, meta, _stamp(store_dir))
    return meta


def touch_meta(store_dir: Path, **fields) -> dict:
    """Update metadata fields (e.g. the last check time) without rewriting the data."""
    stamp = _stamp(store_dir)  # before reading: see read_meta
    meta = read_meta(store_dir) or {}
    meta.update(fields)
    _write_meta_file(store_dir, meta, stamp)
    return meta


def abandoned_temp_files(store_dir: Path) -> list[Path]:
    """Temporary files of writes whose process was killed before the rename."""
    if not store_dir.is_dir():
        return []
    return sorted(p for p in store_dir.glob(".*.tmp") if is_abandoned(p.name))


def read_or_empty(store_dir: Path) -> pd.DataFrame:
    return read(store_dir) if exists(store_dir) else empty_frame()
