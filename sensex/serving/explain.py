"""Why the model says what it says: occlusion and Shapley values on the current window, through
ONNX Runtime.

For each indicator family (and the market context) the family's channels are set to 0, the
training mean after scaling, over the whole window; for each member, the member is marked
absent, as the mask does for a stock without data. The change in P(UP) is that group's
contribution to this forecast. It is a local, model-agnostic explanation: it says what moved
this forecast, not what is true about markets.

The member x family table occludes one indicator family of one member at a time (S x F more
windows, about 300), run in batches of `BATCH` windows to keep memory flat (a batch of 64 is
about 27 MB of float32).

Occlusion removes one group with all the others present, so interacting groups can share or
double-count an effect. Shapley values (`shapley`, with the `shap` package) average a family's
effect over the orders in which families could be added, so the values add up exactly to the
forecast minus the forecast with every family removed.
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


def family_channels(bundle: Bundle) -> dict[str, list[int]]:
    """The window's channels of each indicator family, and the market context's."""
    meta = bundle.meta
    family_of = {row["name"]: row["family"] for row in meta.feature_registry}
    groups: dict[str, list[int]] = {}
    for c, name in enumerate(meta.stock_features):
        groups.setdefault(family_of.get(name, "other"), []).append(c)
    n_stock = len(meta.stock_features)
    groups["market context"] = list(range(n_stock, n_stock + len(meta.market_features)))
    return groups


PERMUTATIONS = 8  # antithetic permutations: each costs 2 x families forecasts


def shapley(bundle: Bundle, window: np.ndarray, tabular: dict | None = None, permutations: int = PERMUTATIONS,
            seed: int = 0) -> dict:
    """Shapley values of the indicator families (and the market context) for the forecast from
    `window` (1, T, S, C), in P(UP): shap's permutation explainer over the families as players,
    a family absent meaning its channels at 0 (the training mean after scaling) in every member.
    The values add up to `probability - base` (every family absent); `seed` fixes the orders."""
    import shap  # imported with an explanation only: it brings numba

    assert window.ndim == 4 and window.shape[0] == 1, "expected (1, T, S, C)"
    groups = family_channels(bundle)
    names, channels = list(groups), list(groups.values())

    def forecast(present: np.ndarray) -> np.ndarray:
        """P(UP) for each row of `present` (n, families): 1 keeps a family, 0 removes it."""
        specs = [(EVERYTHING, [c for keep, chans in zip(row, channels, strict=True) if not keep for c in chans])
                 for row in np.asarray(present) > 0.5]
        return _occluded_probabilities(bundle, window, [(m, c) if c else None for m, c in specs], tabular)

    masker = shap.maskers.Independent(np.zeros((1, len(names))), max_samples=1)
    explainer = shap.explainers.Permutation(forecast, masker, seed=seed)
    result = explainer(np.ones((1, len(names))), max_evals=2 * len(names) * permutations + 1, silent=True)
    values, base = result.values[0], float(np.ravel(result.base_values)[0])
    families = [{"group": g, "shap": float(v)} for g, v in zip(names, values, strict=True)]
    return {
        "probability": round(base + float(values.sum()), 4),
        "base": round(base, 4),
        "families": sorted(families, key=lambda r: -abs(r["shap"])),
        "method": (f"Shapley values (shap, permutation explainer, {permutations} antithetic orders): each family's"
                   " average contribution to P(UP) over the orders families could be added in, from every family"
                   " removed (base); they add up to P(UP) minus the base; positive pushes toward UP"),
    }


def occlusion(bundle: Bundle, window: np.ndarray, sectors: dict[str, str], tabular: dict | None = None,
              by_member: bool = True) -> dict:
    """`window` is (1, T, S, C); returns base probability (rounded as forecasts are), per-group
    deltas, largest first, and with `by_member` the member x indicator-family deltas.

    An ensemble also needs `tabular`, its baselines' inputs for the window's last session; they
    are left as they are, so the deltas show what the window's inputs contribute through the seeds."""
    assert window.ndim == 4 and window.shape[0] == 1, "expected (1, T, S, C)"
    groups = family_channels(bundle)
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
