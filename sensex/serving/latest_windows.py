"""The latest stored session's inputs computed ahead of the first forecast: where the store or the
production model changes, each mode's window is computed once and kept (`window_cache`), so a
running server's next forecast reads it instead of computing features."""

from __future__ import annotations

import logging

from sensex.core.errors import SensexError
from sensex.core.redaction import redact_text
from sensex.core.settings import Settings
from sensex.market.modes import MODES, registered_model
from sensex.market.universe import Universe, load_universe
from sensex.registry.pointer import read_pointer
from sensex.registry.production import load_pointed
from sensex.serving.model_server import ModelServer

log = logging.getLogger(__name__)


def prepare_latest_windows(settings: Settings, universe: Universe | None = None,
                           modes: tuple[str, ...] | None = None) -> list[str]:
    """Compute and keep (`window_cache`) the latest stored session's inputs for each mode's
    production model, so that a running server's next forecast reads them instead of computing
    features: called where the store or the production model changes (`sensex data update`,
    the registry moving the alias; the daily job's forecast does the same). The server's
    forecast path then never imports pandas, pyarrow or TA-Lib. Best effort: returns the modes
    prepared; a mode without a production pointer or without usable data is skipped."""
    universe = universe or load_universe(settings.universe)
    prepared = []
    for mode in modes or MODES:
        try:
            pointer = read_pointer(settings, registered_model(mode, universe.key))
            if pointer is None:
                continue
            _, bundle = load_pointed(settings, pointer)
            ModelServer(settings, universe, mode=mode)._latest_inputs(bundle, None)
        except SensexError as exc:
            log.info("No serving window prepared for the %s model: %s", mode, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - the promotion or update it follows has succeeded: never undo it
            log.warning("No serving window prepared for the %s model (%s: %s): servers compute it themselves.",
                        mode, type(exc).__name__, redact_text(str(exc))[:200])
            continue
        prepared.append(mode)
    return prepared
