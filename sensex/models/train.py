"""Training: panel -> segments -> scaler -> network with early stopping -> calibration ->
evaluation beside the baselines -> uncertainty -> ONNX bundle. MLflow stays outside (see
`sensex.registry.tracking`).

`ensemble` trains several ConvLSTM seeds on the same segments (a deep ensemble), exports them as
one ONNX graph, and combines them with the baselines by a rule fit on the validation window
(`sensex.models.ensemble`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from sensex.core.errors import ConfigError, DataError
from sensex.features.build import Panel
from sensex.features.indicators import registry_table
from sensex.features.labels import after_open_label
from sensex.features.ranges import RangeData
from sensex.features.windows import fit_scaler, make_windows, model_input
from sensex.models import cluster
from sensex.models.baselines import SP500_RULE_FEATURE, fit_baselines, predict_baselines, sp500_rule_predictions
from sensex.models.bundle import ONNX_FILE, STATE_FILE, BundleMeta, NetworkConfig, file_sha256, write_bundle_json
from sensex.models.calibrate import apply_calibration, fit_platt, prior_shift, shift_probabilities
from sensex.models.config import Config
from sensex.models.convlstm import NETWORKS, build_network
from sensex.models.designs import index_design, latest_session_design, realized_volatility
from sensex.models.ensemble import INPUTS, fit_combiner, seed_spread
from sensex.models.evaluate import metrics_after_open, report
from sensex.models.export import SeedStack, export_onnx, parity_gap
from sensex.models.fitting import FittedNetwork, Progress, ScoredModel, fit_network, network_logits
from sensex.models.member_outputs import member_part, stock_up
from sensex.models.members import member_targets
from sensex.models.portable import gbm_logit, logreg_logit
from sensex.models.range_fit import range_part
from sensex.models.range_fit import summary as range_summary
from sensex.models.segments import Segments, split_segments
from sensex.models.uncertainty import (
    ALPHA,
    FALLBACK_BASELINE,
    Uncertainty,
    conformal_half_width,
    coverage,
    cross_fitted,
    fallback_record,
    intervals,
    judge_skill,
    no_call,
)

log = logging.getLogger(__name__)
ENSEMBLE = "ensemble"
MODEL_KINDS = (*NETWORKS, ENSEMBLE)


def check_usable(panel: Panel) -> None:
    """Refuse, before any training, a panel whose indicators are undefined everywhere."""
    if not panel.available.any():
        raise DataError(
            "Every member's indicators are undefined (NaN): the stored prices are unusable; run `sensex data status`."
        )


def long_run_prior(panel: Panel, segments: Segments) -> float:
    """The calibration's logit offset (`calibrate.prior_shift`): the UP share of every training and
    validation row in place of the validation window's alone."""
    return prior_shift(panel.label[segments.valid], panel.label[np.concatenate([segments.train, segments.valid])])


def fit_fold(panel: Panel, segments: Segments, config: Config, model_kind: str = "convlstm",
             progress: Progress | None = None, on_epoch: Callable[[dict], None] | None = None) -> FittedNetwork:
    """Scaler on the training rows' sessions, network with early stopping on the validation rows,
    Platt calibration on the validation rows. Nothing after the last validation row is read.
    `on_epoch` hears each epoch's history row (tuning reports it to its early-stopping scheduler)."""
    if model_kind not in NETWORKS:
        raise ConfigError(f"Unknown model {model_kind!r}: use one of {', '.join(NETWORKS)}.")
    started = time.perf_counter()
    # Seeded per fit, so a fold's network does not depend on what was trained before it.
    torch.manual_seed(config.train.seed)
    torch.set_num_threads(config.train.threads)
    torch.use_deterministic_algorithms(True)
    window = config.features.window
    first_train_session = panel.dates[segments.train[0] - window + 1]
    scaler = fit_scaler(panel, first_train_session, panel.dates[segments.train[-1]], config.features.clip)
    tensor = model_input(panel, scaler)  # (D, S, C)
    net_config = NetworkConfig(
        n_channels=tensor.shape[2], n_stocks=tensor.shape[1], window=window,
        hidden=config.model.hidden, projection=config.model.projection,
        kernel=config.model.kernel, dropout=config.model.dropout,
        member_outputs=config.model.member_outputs and model_kind == "convlstm",
    )
    network = build_network(model_kind, net_config)
    stock_targets = None
    if net_config.member_outputs:
        targets = member_targets(panel)
        stock_targets = (stock_up(targets), targets.usable.astype(np.float32))
    network, history = fit_network(network, tensor, panel.label, segments, config, progress, stock_targets, on_epoch)
    valid_logits = network_logits(network, tensor, segments.valid, window)
    valid_bounds = [str(panel.dates[segments.valid[0]].date()), str(panel.dates[segments.valid[-1]].date())]
    calibration = fit_platt(valid_logits, panel.label[segments.valid], *valid_bounds)
    calibration = calibration.with_prior(long_run_prior(panel, segments))
    return FittedNetwork(model_kind, network, net_config, scaler, tensor, calibration, history,
                         time.perf_counter() - started)


@dataclass
class TrainingReport:
    """What one training produced: the evaluation beside the baselines, and where the bundle is."""

    model: str
    segments: dict[str, list[str]]
    # {"model": {segment: report}, "baselines": {name: {segment: report}}, "seeds": {...}, "after_open":
    #  model and baselines scored against close > open of the target session}
    evaluation: dict
    history: list[dict]
    onnx_parity_max_abs: float
    fit_seconds: float
    baseline_seconds: dict[str, float]
    seconds: float
    bundle_dir: Path
    weights_file: Path  # torch weights, logged beside the model, never served
    predictions: dict  # segment -> {"label", "probability", "interval", "baselines"}
    example_window: np.ndarray  # (1, T, S, C) for the model signature
    uncertainty: dict | None = None  # `Uncertainty.to_dict()`
    seed_epochs: list[int] | None = None  # ensemble: epochs each seed ran
    seed_seconds: list[float] | None = None  # ensemble: fit seconds of each seed
    ensemble: dict | None = None  # ensemble: seeds, inputs and the combiner (as in BundleMeta.ensemble)
    range_seconds: float | None = None  # fitting and scoring the range forecast; None when it was not fit
    range_note: str | None = None  # why there is no range forecast, when there is none

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def test_summary(self) -> dict:
        return self.evaluation["model"]["test"]

    def test_after_open(self) -> dict:
        return self.evaluation["after_open"]["model"]["test"]


def baseline_logits(portable: dict, panel: Panel, rows: np.ndarray) -> np.ndarray:
    """(N, 2) log-odds of the fitted logistic regression and gradient-boosted trees on `rows`."""
    gbm = portable.get("gbm")
    return np.column_stack([
        logreg_logit(portable["logreg"], index_design(panel)[rows]),
        gbm_logit(gbm, latest_session_design(panel)[rows]) if gbm else np.zeros(len(rows)),
    ])


def _single(panel: Panel, segments: Segments, config: Config, kind: str, progress: Progress | None = None) -> ScoredModel:
    fitted = fit_fold(panel, segments, config, kind, progress)
    rows = {"valid": segments.valid, "test": segments.test}
    valid_y = panel.label[segments.valid]
    crossed = cross_fitted(fit_platt, apply_calibration, fitted.logits(segments.valid), valid_y)
    crossed = shift_probabilities(crossed, fitted.calibration.prior_offset)
    return ScoredModel(fitted.network, fitted, {k: fitted.probabilities(r) for k, r in rows.items()},
                   dict.fromkeys(rows), crossed, fitted.history, fitted.seconds, {})


def in_task(config: Config) -> Config:
    """The config a Ray task fits with (`sensex.models.cluster`): one CPU, one torch thread, no
    fan-out of its own. On 2 cores two one-thread fits side by side get through about 1.4x the
    work of one two-thread fit."""
    return config.with_train(threads=1, workers=1)


def _fit_seeds(panel: Panel, segments: Segments, config: Config, seeds: list[int], done: int,
               progress: Progress | None) -> list[FittedNetwork]:
    """The ConvLSTMs of `seeds[done:]`. With `train.workers` > 1 (or a Ray cluster) each is a Ray
    task of one CPU at one torch thread (`in_task`, `cluster.fan_out`); every fit is seeded and
    deterministic, so the networks are those of `workers: 1, threads: 1`, whichever process or
    node fit them, and a task whose worker dies runs again (tests check both)."""
    todo = [config.with_train(seed=seed) for seed in seeds[done:]]
    workers = config.train.workers
    if not cluster.parallel(workers, len(todo)):
        fits = []
        for number, seeded in enumerate(todo, start=done + 1):
            if progress is not None:
                progress(f"Ensemble seed {number}/{len(seeds)}", None, None)
            fits.append(fit_fold(panel, segments, seeded, "convlstm", progress))
        return fits
    if progress is not None:
        progress(f"Ensemble seeds {done + 1}-{len(seeds)} of {len(seeds)} as Ray tasks", None, None)
    calls = [(panel, segments, in_task(seeded), "convlstm") for seeded in todo]
    return list(cluster.fan_out(fit_fold, calls, workers))


def fit_ensemble(panel: Panel, segments: Segments, config: Config, portable: dict,
                 first: FittedNetwork | None = None, progress: Progress | None = None) -> ScoredModel:
    """K ConvLSTM seeds on the same segments, combined with the baselines on validation.

    `first`, when given, is the ConvLSTM already fit with `config.train.seed` on these segments
    (the walk-forward fits it anyway): it is the first seed, not trained twice."""
    seeds = [config.train.seed + k for k in range(config.model.ensemble_seeds)]
    fits = [first] if first is not None else []
    fits += _fit_seeds(panel, segments, config, seeds, len(fits), progress)
    rows = {"valid": segments.valid, "test": segments.test}
    seed_logits = {k: np.column_stack([f.logits(r) for f in fits]) for k, r in rows.items()}  # (N, K)
    inputs = {k: np.column_stack([seed_logits[k].mean(axis=1), baseline_logits(portable, panel, r)])
              for k, r in rows.items()}  # (N, 3) in INPUTS order
    valid_bounds = [str(panel.dates[segments.valid[0]].date()), str(panel.dates[segments.valid[-1]].date())]
    combiner, crossed = fit_combiner(inputs["valid"], panel.label[segments.valid], *valid_bounds,
                                     long_run_prior(panel, segments))
    seed_probability = {name: {f"seed_{seed}": f.probabilities(r) for seed, f in zip(seeds, fits, strict=True)}
                        for name, r in rows.items()}
    seed_reports = {key: {name: report(panel.label[r], seed_probability[name][key], None, config.train.seed)
                          for name, r in rows.items()} for key in seed_probability["test"]}
    log.info("ensemble of %d seeds: %s rule, weights %s (cross-fitted validation log-loss %s)",
             len(fits), combiner.rule, combiner.weights, combiner.validation_log_loss)
    return ScoredModel(
        SeedStack([f.network for f in fits]), fits[0],
        {k: combiner.probabilities(inputs[k]) for k in rows},
        {k: seed_spread(combiner, seed_logits[k], inputs[k]) for k in rows},
        crossed, fits[0].history, sum(f.seconds for f in fits),
        {"seeds": seeds, "inputs": list(INPUTS), "combiner": combiner.to_dict()},
        [len(f.history) for f in fits], seed_reports, seed_probability, [round(f.seconds, 2) for f in fits],
    )


def _uncertainty(panel: Panel, segments: Segments, scored: ScoredModel, evaluation: dict, baselines: dict) -> Uncertainty:
    """The conformal half-width from cross-fitted validation P(UP), its coverage on the test
    window, the skill verdict, the realized-volatility bands of the training window, and the
    same record for the fallback baseline."""
    test_report = evaluation["model"]["test"]
    half_width = conformal_half_width(scored.valid_crossed, panel.label[segments.valid])
    p_test = scored.probability["test"]
    bounds = intervals(p_test, half_width, scored.spread["test"])
    probability_sd = float(np.std(p_test))
    verdict = judge_skill(test_report["auc"], test_report.get("intervals", {}).get("auc"), probability_sd)
    volatility = realized_volatility(panel)[segments.train]
    volatility = volatility[np.isfinite(volatility)]
    return Uncertainty(
        method="split-conformal" + ("+seed-spread" if scored.spread["test"] is not None else ""),
        alpha=ALPHA, half_width=half_width,
        fit_start=str(panel.dates[segments.valid[0]].date()), fit_end=str(panel.dates[segments.valid[-1]].date()),
        test_coverage=coverage(bounds, panel.label[segments.test]),
        test_no_call_share=float(no_call(bounds).mean()),
        test_probability_sd=probability_sd, skill=verdict.to_dict(),
        volatility_bands=[float(v) for v in np.percentile(volatility, [33.3, 66.7])] if len(volatility) else [],
        fallback=fallback_record(
            baselines["valid"][FALLBACK_BASELINE][0], panel.label[segments.valid],
            baselines["test"][FALLBACK_BASELINE][0], panel.label[segments.test],
            evaluation["baselines"][FALLBACK_BASELINE]["test"]["auc"],
            evaluation["baselines"][FALLBACK_BASELINE]["test"].get("intervals", {}).get("auc")),
    )


def train_model(panel: Panel, config: Config, bundle_dir: Path, model_kind: str = "convlstm",
                data_info: dict | None = None, progress: Progress | None = None,
                sectors: list[str] | None = None, ranges: RangeData | None = None) -> TrainingReport:
    """Train one model (a network or the ensemble) on a prepared panel, evaluate it beside the
    baselines, measure its uncertainty and write its bundle. `sectors` (one per panel symbol)
    names the sectors of the member forecasts ("Unknown" each when not given). `ranges`
    (`features.ranges.range_data` of the same panel) adds the range forecast, fit on the same
    segments and saved in the same bundle, unless the preset turns it off (`model.range_forecast`)."""
    if model_kind not in MODEL_KINDS:
        raise ConfigError(f"Unknown model {model_kind!r}: use one of {', '.join(MODEL_KINDS)}.")
    progress = progress or (lambda description, done, total: None)
    started = time.perf_counter()
    check_usable(panel)
    segments = split_segments(panel, config)
    window = config.features.window
    # Unusable training history is refused with its own sentence before anything is fit (the
    # baselines fit first, and would fail less clearly); fit_fold fits this scaler again.
    fit_scaler(panel, panel.dates[segments.train[0] - window + 1], panel.dates[segments.train[-1]], config.features.clip)
    rows = {"valid": segments.valid, "test": segments.test}
    baseline_seconds: dict[str, float] = {}
    portable = fit_baselines(panel, segments.train, timings=baseline_seconds)
    if model_kind == ENSEMBLE:
        scored = fit_ensemble(panel, segments, config, portable, progress=progress)
    else:
        scored = _single(panel, segments, config, model_kind, progress)
    first, network = scored.first, scored.network
    progress("Evaluating beside the baselines, exporting to ONNX", None, None)

    bounds = segments.bounds(panel)
    seed = config.train.seed
    evaluation: dict = {"model": {}, "baselines": {}}
    predictions: dict = {}
    baselines = {name: predict_baselines(portable, panel, r) for name, r in rows.items()}
    if SP500_RULE_FEATURE in panel.market_feature_names:  # a pre-open panel: the rule it must beat
        last_ret = panel.market[:, panel.market_feature_names.index(SP500_RULE_FEATURE)]
        for name, scored_rule in sp500_rule_predictions(last_ret, panel.label, segments.train, rows).items():
            baselines[name]["sp500_rule"] = scored_rule
    for name, r in rows.items():
        p = scored.probability[name]
        predictions[name] = {"label": panel.label[r], "probability": p,
                             "baselines": {b: scored_b[0] for b, scored_b in baselines[name].items()},
                             "seeds": (scored.seed_probability or {}).get(name, {})}
        evaluation["model"][name] = report(panel.label[r], p, None, seed)
    for baseline in baselines["test"]:
        evaluation["baselines"][baseline] = {name: report(panel.label[r], *baselines[name][baseline], seed)
                                             for name, r in rows.items()}
    if scored.seed_reports:
        evaluation["seeds"] = scored.seed_reports
    uncertainty = _uncertainty(panel, segments, scored, evaluation, baselines)
    predictions["test"]["interval"] = intervals(scored.probability["test"], uncertainty.half_width, scored.spread["test"])
    # The same probabilities against the move after the open: what is left to trade at 09:15.
    after_open = after_open_label(panel.index_open, panel.index_close)
    evaluation["after_open"] = {
        "model": {name: metrics_after_open(after_open, r, predictions[name]["probability"], None, seed)
                  for name, r in rows.items()},
        "baselines": {baseline: {name: metrics_after_open(after_open, r, *baselines[name][baseline], seed)
                                 for name, r in rows.items()}
                      for baseline in baselines["test"]},
    }

    export_network, members = member_part(panel, segments, scored, config, evaluation, sectors)
    if config.model.range_forecast and ranges is not None:
        progress("Fitting the range forecast beside HAR, EWMA and GARCH", None, None)
    range_record, range_report, range_seconds, range_note = range_part(ranges, segments, config)
    if range_report is not None:
        evaluation["range"] = range_report

    bundle_dir.mkdir(parents=True, exist_ok=True)
    weights_file = bundle_dir.parent / f"{bundle_dir.name}-{STATE_FILE}"
    torch.save({"config": first.net_config.to_dict(), "kind": model_kind, "state_dict": network.state_dict()},
               weights_file)
    tensor = first.tensor
    export_onnx(export_network, make_windows(tensor, segments.test[:1], window), bundle_dir / ONNX_FILE)
    gap = parity_gap(export_network, bundle_dir / ONNX_FILE, make_windows(tensor, segments.test[:32], window))
    # MLflow re-serializes the graph when it logs the model: checksum the bytes it will store.
    onnx.save(onnx.load(str(bundle_dir / ONNX_FILE)), str(bundle_dir / ONNX_FILE))

    test = evaluation["model"]["test"]
    meta = BundleMeta(
        kind=model_kind,
        network=first.net_config,
        window=window,
        warmup=config.features.warmup,
        symbols=panel.symbols,
        index_symbol=panel.index_symbol,
        stock_features=panel.stock_feature_names,
        market_features=panel.market_feature_names,
        feature_registry=registry_table(),
        calibration=first.calibration,
        segments=bounds,
        data=data_info or {},
        config=config.to_dict(),
        onnx_sha256=file_sha256(bundle_dir / ONNX_FILE),
        onnx_parity_max_abs=gap,
        test_metrics={k: test[k] for k in ("accuracy", "auc", "brier", "f1", "ece")},
        test_intervals=test.get("intervals", {}),
        test_baselines={name: {k: seg["test"][k] for k in ("accuracy", "auc", "brier")}
                        for name, seg in evaluation["baselines"].items()},
        mode=panel.mode,
        test_metrics_after_open={k: evaluation["after_open"]["model"]["test"][k] for k in ("accuracy", "auc", "brier", "n")},
        baselines=portable,
        ensemble=scored.ensemble,
        uncertainty=uncertainty.to_dict(),
        members=members,
        range=range_record,
        test_range=range_summary(range_report) or {},
    )
    write_bundle_json(bundle_dir, first.scaler, meta)
    return TrainingReport(
        model=model_kind,
        segments=bounds,
        evaluation=evaluation,
        history=scored.history,
        onnx_parity_max_abs=gap,
        fit_seconds=round(scored.fit_seconds, 2),
        baseline_seconds={k: round(v, 3) for k, v in baseline_seconds.items()},
        seconds=round(time.perf_counter() - started, 2),
        bundle_dir=bundle_dir,
        weights_file=weights_file,
        predictions=predictions,
        example_window=make_windows(tensor, segments.test[-1:], window),
        uncertainty=uncertainty.to_dict(),
        seed_epochs=scored.seed_epochs,
        seed_seconds=scored.seed_seconds,
        ensemble=scored.ensemble or None,
        range_seconds=range_seconds,
        range_note=range_note,
    )
