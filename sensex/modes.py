"""Forecast modes: when a forecast is issued, and so what it may know.

- `close` (the seed's): issued after BSE's close on session t, for close(t+1) > close(t); it uses
  data up to t only.
- `preopen`: issued before BSE opens on t+1 (08:30 IST), same label; it also knows the S&P 500
  sessions that closed before t+1 (`sensex.features.overnight`). Most of what it knows shows in
  the opening gap, so every mode also reports its skill on the move after the open.

Each mode has its own registered model, so promoting one never replaces the other.
"""

from __future__ import annotations

from sensex.errors import ConfigError

CLOSE, PREOPEN = "close", "preopen"
MODES = (CLOSE, PREOPEN)
DEFAULT_MODE = CLOSE
REGISTERED_MODEL = {CLOSE: "sensex-convlstm-model", PREOPEN: "sensex-preopen-model"}


def check_mode(mode: str | None) -> str:
    """The mode, defaulting to `close`; a ConfigError names the choices for anything else."""
    mode = DEFAULT_MODE if mode is None else str(mode).strip().lower()
    if mode not in MODES:
        raise ConfigError(f"Unknown mode {mode!r}: use one of {', '.join(MODES)}.")
    return mode


def registered_model(mode: str | None, universe_key: str = "sensex") -> str:
    """The registered model of a universe's mode. The SENSEX keeps the seed's names; another
    universe gets its own (`nifty50-convlstm-model`), so its promotions never touch the SENSEX's."""
    name = REGISTERED_MODEL[check_mode(mode)]
    return name if universe_key == "sensex" else name.replace("sensex-", f"{universe_key}-", 1)
