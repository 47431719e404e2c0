"""Why the model says what it says: occlusion on the current window, through ONNX Runtime.

For each indicator family (and the market context) the family's channels are set to 0, the
training mean after scaling, over the whole window; for each member, the member is marked
absent, as the mask does for a stock without data. The change in P(UP) is that group's
contribution to this forecast. It is a local, model-agnostic explanation: it says what moved
this forecast, not what is true about markets.
"""

from __future__ import annotations

import numpy as np

from sensex.models.bundle import Bundle


def occlusion(bundle: Bundle, window: np.ndarray, sectors: dict[str, str], tabular: dict | None = None) -> dict:
    """`window` is (1, T, S, C); returns base probability and per-group deltas, largest first.

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

    variants = []
    for channels in groups.values():
        occluded = window.copy()
        occluded[..., channels] = 0.0
        variants.append(occluded)
    symbols = bundle.symbols
    for s in range(len(symbols)):
        absent = window.copy()
        absent[:, :, s, :] = 0.0  # every channel of that member, mask included: "no data"
        variants.append(absent)
    probabilities = bundle.probabilities(np.concatenate([window] + variants, axis=0), tabular)  # one batched run
    base, rest = float(probabilities[0]), probabilities[1:]
    families = [{"group": g, "delta": float(base - p)} for g, p in zip(groups, rest[: len(groups)], strict=True)]
    members = [{"symbol": sym, "sector": sectors.get(sym, ""), "delta": float(base - p)}
               for sym, p in zip(symbols, rest[len(groups):], strict=True)]
    return {
        "probability": base,
        "families": sorted(families, key=lambda r: -abs(r["delta"])),
        "members": sorted(members, key=lambda r: -abs(r["delta"])),
        "method": "occlusion: delta = P(UP) - P(UP with the group removed); positive pushes toward UP",
    }
