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
from sensex.market.schema import COLUMNS, canonicalize, empty_frame

if TYPE_CHECKING:  # imported where the rows are read or written: `read_meta` needs neither
    import pandas as pd

log = logging.getLogger(__name__)

DATA_FILE = "ohlcv.parquet"
META_FILE = "meta.json"
SYNTHETIC = "synthetic"
EMBEDDED_META_KEY = b"sensex.meta"
# In meta.json only: the data file's [mtime_ns, size] when meta.json was written for it. While
# they still match, meta.json describes the data file and `read_meta` trusts it without opening
# the Parquet file (no pyarrow: the API's forecast path reads the metadata on every request).
STAMP_KEY = "data_file_stamp"

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


def embedded_meta(store_dir: Path) -> dict | None:
    """The metadata written inside the data file; None without a data file or for a store
    written before files carried it."""
    path = store_dir / DATA_FILE
    key = _stat_key(path)
    if key is None:
        return None
    with _memo_lock:
        hit = _embedded_memo.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    import pyarrow.parquet as pq

    raw = (pq.read_schema(path).metadata or {}).get(EMBEDDED_META_KEY)
    meta = json.loads(raw) if raw else None
    _remember(_embedded_memo, path, key, meta)
    return meta


def _read_meta_file(store_dir: Path) -> dict | None:
    try:
        return json.loads((store_dir / META_FILE).read_text())
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # torn or foreign: rebuilt below when the data file can say what it holds


def _stamp(store_dir: Path) -> list[int] | None:
    key = _stat_key(store_dir / DATA_FILE)
    return list(key) if key is not None else None


def _write_meta_file(store_dir: Path, meta: dict, stamp: list[int] | None) -> None:
    _atomic_write_bytes(store_dir / META_FILE, json.dumps({**meta, STAMP_KEY: stamp}, indent=2).encode())


def read_meta(store_dir: Path) -> dict | None:
    """The store's metadata, repaired from the data file when meta.json does not describe it."""
    recorded = _read_meta_file(store_dir)
    recorded_stamp = recorded.pop(STAMP_KEY, None) if isinstance(recorded, dict) else None
    # Taken before the data file is looked at: if an update replaces it meanwhile, a meta.json
    # rewritten below carries the old stamp, so the next read checks again instead of trusting it.
    stamp = _stamp(store_dir)
    if recorded is not None and stamp is not None and recorded_stamp == stamp:
        return recorded
    embedded = embedded_meta(store_dir)
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

    frame = pq.read_table(path).to_pandas()
    _remember(_memo, path, key, frame)
    return frame


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
