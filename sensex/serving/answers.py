"""The JSON bytes the API sends for the heavy views (an explanation, a drift report, the drift
history), kept in this process by the key that names everything they are made of.

Why: those views are cached (`core.cache`), but a cache hit still decodes the stored JSON into
Python objects and FastAPI walks them again to encode the response: 1-3 ms of pure Python per
request (measured on `/explain` and `/drift/history`), all of it under the interpreter lock. A
dashboard crowd asking for them hundreds of times a second then delays everything else the API
process does, `/health` and cached forecasts included. Here a repeated request costs a dict
lookup: the key names the model version and its ONNX digest, the store's content and, for
drift, the prediction log's size and time, so any change that could change the answer misses.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_ANSWERS = 64  # a few views x a few parameter sets; the oldest goes first


class Answers:
    """A bounded map of key -> JSON bytes, each kept for the `ttl` it was made with."""

    def __init__(self, size: int = MAX_ANSWERS, clock: Callable[[], float] = time.monotonic) -> None:
        self._size, self._clock = size, clock
        self._kept: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def peek(self, key: str) -> bytes | None:
        """The bytes kept under `key`, or None (absent or expired)."""
        with self._lock:
            entry = self._kept.get(key)
            if entry is None or entry[0] <= self._clock():
                return None
            self._kept.move_to_end(key)
            return entry[1]

    def get(self, key: str, make: Callable[[], object], ttl: float, still: Callable[[], str] | None = None) -> bytes:
        """The bytes kept under `key`, else `make()` encoded and kept `ttl` seconds. `still()`, when given, is
        the key computed again after `make`: when it differs (a model swapped in meanwhile) the
        answer is returned but not kept under the old key."""
        kept = self.peek(key)
        if kept is not None:
            return kept
        body = encode(make())
        if still is not None and still() != key:
            return body
        with self._lock:
            self._kept[key] = (self._clock() + ttl, body)
            self._kept.move_to_end(key)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return body

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def encode(value: object) -> bytes:
    """JSON as Starlette's JSONResponse writes it (no NaN: the views never hold one)."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
