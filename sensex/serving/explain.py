"""Why the model says what it says: occlusion on the current window, through ONNX Runtime.

For each indicator family (and the market context) the family's channels are set to 0, the
training mean after scaling, over the whole window; for each member, the member is marked
absent, as the mask does for a stock without data. The change in P(UP) is that group's
contribution to this forecast. It is a local, model-agnostic explanation: it says what moved
this forecast, not what is true about markets.

The member x family table occludes one indicator family of one member at a time (S x F more
windows, about 300), run in batches of `BATCH` windows to keep memory flat (a batch of 64 is
about 27 MB of float32).
"""

from __future__ import annotations

import numpy as np

from sensex.models.bundle import Bundle

BATCH = 8
EVERYTHING = slice(None)


def _occluded_probabilities(bundle: Bundle, window: np.ndarray, specs: list[tuple | None],
                            tabular: dict | None = None) -> np.ndarray:
    """P(UP) of `window` with, for each (member, channels) spec, those cells set to 0 (None: the
    window as it is); the variants are built one batch at a time so memory stays at one batch."""
    out = []
    for start in range(0, len(specs), BATCH):
        batch = np.repeat(window, len(specs[start:start + BATCH]), axis=0)  # (B, T, S, C)
        for row, spec in enumerate(specs[start:start + BATCH]):
            if spec is not None:
                member, channels = spec
                batch[row, :, member, channels] = 0.0
        out.append(bundle.probabilities(batch, tabular))  # an ensemble broadcasts its one row of `tabular`
    return np.concatenate(out) if out else np.zeros(0)


def occlusion(bundle: Bundle, window: np.ndarray, sectors: dict[str, str], tabular: dict | None = None,
              by_member: bool = True) -> dict:
    """`window` is (1, T, S, C); returns base probability (rounded as forecasts are), per-group
    deltas, largest first, and with `by_member` the member x indicator-family deltas.

    An ensemble also needs `tabular`, its baselines' inputs for the window's last session; they
    are left as they are, so the deltas show what the window's inputs contribute through the seeds."""
    assert window.ndim == 4 and window.shape[0] == 1, "expected (1, T, S, C)"
    meta = bundle.meta
    stock_names = meta.stock_features
    n_stock, n_market = len(stock_names), len(meta.market_features)
    family_of = {row["name"]: row["family"] for row in meta.feature_registry}

    groups: dict[str, list[int]] = {}
    for c, name in enumerate(stock_names):
        groups.setdefault(family_of.get(name, "other"), []).append(c)
    groups["market context"] = list(range(n_stock, n_stock + n_market))
    stock_families = [g for g in groups if g != "market context"]
    symbols = bundle.symbols

    specs: list[tuple | None] = [None]  # the window as it is: the base probability
    specs += [(EVERYTHING, channels) for channels in groups.values()]  # a family, every member
    specs += [(s, EVERYTHING) for s in range(len(symbols))]  # a member, mask included: "no data"
    if by_member:
        specs += [(s, groups[family]) for s in range(len(symbols)) for family in stock_families]
    probabilities = _occluded_probabilities(bundle, window, specs, tabular)
    base, rest = float(probabilities[0]), probabilities[1:]
    families = [{"group": g, "delta": float(base - p)} for g, p in zip(groups, rest[: len(groups)], strict=True)]
    n_single = len(groups) + len(symbols)
    members = [{"symbol": sym, "sector": sectors.get(sym, ""), "delta": float(base - p)}
               for sym, p in zip(symbols, rest[len(groups):n_single], strict=True)]
    out = {
        "probability": round(base, 4),
        "families": sorted(families, key=lambda r: -abs(r["delta"])),
        "members": sorted(members, key=lambda r: -abs(r["delta"])),
        "method": "occlusion: delta = P(UP) - P(UP with the group removed); positive pushes toward UP",
    }
    if by_member:
        grid = (base - rest[n_single:]).reshape(len(symbols), len(stock_families))  # (S, F)
        out["member_families"] = {"symbols": symbols, "families": stock_families,
                                  "delta": [[float(v) for v in row] for row in grid]}
    return out
