"""Forecast modes: when a forecast is issued, and so what it may know.

- `close`: issued after BSE's close on session t, for close(t+1) > close(t); it uses
  data up to t only.
- `preopen`: issued before BSE opens on t+1 (08:30 IST), same label; it also knows the S&P 500
  sessions that closed before t+1 (`sensex.features.overnight`). Most of what it knows shows in
  the opening gap, so every mode also reports its skill on the move after the open.

Each mode has its own registered model, so promoting one never replaces the other.
"""

from __future__ import annotations

from enum import StrEnum

from sensex.core.errors import ConfigError


class Mode(StrEnum):
    """A forecast mode. A str, so it prints, compares and serializes as `close` / `preopen`."""

    CLOSE = "close"
    PREOPEN = "preopen"

    @property
    def waits_for_overnight(self) -> bool:
        """True when its forecast needs data that closes overnight (the S&P 500 for `preopen`)."""
        return self is Mode.PREOPEN


CLOSE, PREOPEN = Mode.CLOSE, Mode.PREOPEN
MODES = tuple(Mode)
DEFAULT_MODE = CLOSE
REGISTERED_MODEL = {CLOSE: "sensex-convlstm-model", PREOPEN: "sensex-preopen-model"}


def check_mode(mode: str | None) -> Mode:
    """The mode, defaulting to `close`; a ConfigError names the choices for anything else."""
    text = DEFAULT_MODE.value if mode is None else str(mode).strip().lower()
    try:
        return Mode(text)
    except ValueError:
        raise ConfigError(f"Unknown mode {text!r}: use one of {', '.join(MODES)}.") from None


def registered_model(mode: str | None, universe_key: str = "sensex") -> str:
    """The registered model of a universe's mode. The SENSEX keeps the original names; another
    universe gets its own (`nifty50-convlstm-model`), so its promotions never touch the SENSEX's."""
    name = REGISTERED_MODEL[check_mode(mode)]
    return name if universe_key == "sensex" else name.replace("sensex-", f"{universe_key}-", 1)
