"""The MLflow Model Registry, with the original design's Production, Staging and Archived mapped onto MLflow 3 aliases.

Production = alias `production`, Staging = alias `staging`, Archived = version tag
`stage=Archived`; the production it replaced keeps alias `previous` for rollback.
Every promotion, rollback and rejection is appended to `model_promotion_log.json`.

A promotion or rollback runs under `RegistryLock` (one at a time, across processes and
machines) in three steps:
1. prepare: the version to serve gets tags saying what its promotion is (an id, the event, the
   version it replaces);
2. commit: the `production` alias moves to it, one registry write: before it nothing changed
   for readers, after it the promotion has happened;
3. finish: alias `previous`, the stage tags, and the log events carrying the promotion id.
A crash after the commit leaves a state that `doctor()` (`sensex registry doctor`) completes
from the tags of step 1: it moves `previous`, makes the stage tags agree with the aliases and
appends the missing log events marked `reconciled`. It also marks training runs left RUNNING
by a killed process as FAILED and removes the scratch files such processes left.
"""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from datetime import UTC, datetime

from sensex.core import jsonlog
from sensex.core.errors import ModelNotFoundError, NoProductionModel, PromotionRejected
from sensex.core.settings import Settings, get_settings
from sensex.market.modes import CLOSE, REGISTERED_MODEL, check_mode, registered_model
from sensex.market.universe import DEFAULT_UNIVERSE, load_universe
from sensex.models.bundle import Bundle
from sensex.models.config import PromotionConfig, check_threshold
from sensex.registry import cleanup, tracking
from sensex.registry.gate import metric_drift, threshold_failures
from sensex.registry.lock import RegistryLock
from sensex.registry.pointer import Pointer, remove_pointer, write_pointer
from sensex.registry.versions import GATE_METRICS, PREVIOUS, PRODUCTION, STAGING, describe_version  # noqa: F401

log = logging.getLogger(__name__)

MODEL_NAME = REGISTERED_MODEL[CLOSE]  # the original design's name; the pre-open mode has its own (`sensex.market.modes`)
# Step 1's tags on the version being promoted (see the module docstring).
PROMOTION_ID, PROMOTION_EVENT, PROMOTION_REPLACES = "promotion_id", "promotion_event", "promotion_replaces"


class ModelRegistry:
    def __init__(self, settings: Settings | None = None, model_name: str | None = None,
                 promotion: PromotionConfig | None = None, mode: str | None = None):
        self.settings = settings or get_settings()
        self.mode = check_mode(mode)
        self.universe_key = load_universe(self.settings.universe).key
        # One registered model per universe and mode, so promoting a pre-open or a NIFTY 50 model
        # never replaces the SENSEX close one.
        self.model_name = model_name or registered_model(self.mode, self.universe_key)
        self.promotion = promotion or PromotionConfig()
        self._client = None
        self._lock: RegistryLock | None = None

    # -- plumbing -----------------------------------------------------------------------------
    def _mode_flag(self) -> str:
        """The CLI options that name this registry's mode and universe in advice ("" for the defaults)."""
        universe = "" if self.universe_key == DEFAULT_UNIVERSE else f" --universe {self.settings.universe}"
        return ("" if self.mode == CLOSE else f" --mode {self.mode}") + universe

    def _for_mode(self) -> str:
        return "" if self.mode == CLOSE else f" for the {self.mode} mode"

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self.experiment_id = tracking.configure(self.settings)
            self._client = MlflowClient(tracking_uri=self.settings.tracking_uri)
        return self._client

    def lock(self) -> RegistryLock:
        """The promotion lock (reentrant in this process)."""
        if self._lock is None:
            self._lock = RegistryLock(self.client, self.model_name, self.settings.home)
        return self._lock

    def _log_event(self, event_type: str, version: str | None, stage: str, **extra) -> None:
        jsonlog.append(self.settings.logs_dir / jsonlog.PROMOTION_LOG, {
            "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
            "model_name": self.model_name, "version": version, "stage": stage,
            "event_type": event_type, **extra,
        })

    def _ensure_registered_model(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
        except MlflowException:
            self.client.create_registered_model(
                self.model_name, description=f"Next-session {load_universe(self.settings.universe).name} direction (P(UP)), ONNX.")

    def _versions(self):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.search_model_versions(f"name='{self.model_name}'")
        except MlflowException:
            return []

    def _aliases(self) -> dict[str, list[str]]:
        """version -> aliases; search results do not always carry aliases, the registered model does."""
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException:
            return {}
        out: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            out.setdefault(str(version), []).append(alias)
        return out

    def _describe(self, mv, aliases_by_version: dict[str, list[str]] | None = None) -> dict:
        if aliases_by_version is None:
            aliases_by_version = self._aliases()
        return describe_version(self.client, mv, aliases_by_version.get(str(mv.version), []), self.mode)

    def _version_for_alias(self, alias: str):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None

    # -- the registry API of the original design ------------------------------------------------------------------------
    def register_new_runs(self) -> list[str]:
        """Register every finished training run of this mode that has no version yet; returns new versions."""
        import mlflow

        self._ensure_registered_model()
        registered = {mv.run_id for mv in self._versions()}
        runs = self.client.search_runs([self.experiment_id], "attributes.status = 'FINISHED'")
        created = []
        for run in sorted(runs, key=lambda r: r.info.start_time):
            model_uri = run.data.tags.get(tracking.MODEL_URI_TAG)
            if run.info.run_id in registered or "test_auc" not in run.data.metrics or not model_uri:
                continue
            if run.data.tags.get(tracking.MODE_TAG, CLOSE) != self.mode:  # runs before modes were close runs
                continue
            if run.data.tags.get(tracking.UNIVERSE_TAG, DEFAULT_UNIVERSE) != self.universe_key:  # likewise SENSEX runs
                continue
            # MLflow prints its own progress to stderr here ("Registered model ... already exists"),
            # which reads like an error on a fresh home: the command's own summary says what happened.
            with contextlib.redirect_stderr(io.StringIO()):
                mv = mlflow.register_model(model_uri, self.model_name)
            self._describe_gate(str(mv.version), run.data.metrics)
            created.append(str(mv.version))
        return created

    def _describe_gate(self, version: str, metrics: dict, min_accuracy: float | None = None, outcome: str = "") -> None:
        """The version's description in the registry: its test metrics and the gate's verdict."""
        min_accuracy = self.promotion.min_accuracy if min_accuracy is None else min_accuracy
        reasons = self.gate(metrics, min_accuracy)
        scores = ", ".join(f"{label} {metrics[key]:.3f}" for key, label in
                           (("test_accuracy", "accuracy"), ("test_auc", "AUC"), ("test_brier", "Brier"))
                           if metrics.get(key) is not None)
        verdict = f"fails it ({'; '.join(reasons)})" if reasons else "passes it"
        self.client.update_model_version(self.model_name, version, description=(
            f"Test {scores or 'metrics missing'}. Promotion gate (accuracy >= {min_accuracy:.3f}, AUC >="
            f" {self.promotion.min_auc:.3f}): {verdict}.{' ' + outcome if outcome else ''}"))

    def list_all_versions(self) -> list[dict]:
        aliases = self._aliases()
        return [self._describe(mv, aliases) for mv in sorted(self._versions(), key=lambda m: int(m.version))]

    def get_production_model(self) -> dict | None:
        mv = self._version_for_alias(PRODUCTION)
        return self._describe(mv) if mv is not None else None

    def require_production_model(self) -> dict:
        """The production version, or the one error every caller gives when there is none."""
        production = self.get_production_model()
        if production is None:
            flag = self._mode_flag()
            raise NoProductionModel(
                f"No production model{self._for_mode()}: run `sensex train{flag}` then `sensex registry setup{flag}`.")
        return production

    def resolve(self, version: str | int | None = None, run_id: str | None = None) -> dict:
        """Which model a request means: a version, a run, or (neither given) production."""
        if version is not None:
            match = next((v for v in self.list_all_versions() if v["version"] == str(version)), None)
            if match is None:
                raise ModelNotFoundError(f"Version {version} of {self.model_name} does not exist: see `sensex registry list`.")
            return match
        if run_id is not None:
            match = next((v for v in self.list_all_versions() if v["run_id"] == run_id), None)
            return match or {"version": None, "run_id": run_id, "stage": "None", "aliases": [], "metrics": {}}
        return self.require_production_model()

    def load(self, version: str | int | None = None, run_id: str | None = None) -> tuple[dict, Bundle]:
        """The one way to get a model: resolve it, then fetch and verify its bundle."""
        info = self.resolve(version, run_id)
        return {**info, "name": self.model_name}, tracking.fetch_bundle(self.settings, info["run_id"])

    def gate(self, metrics: dict, min_accuracy: float | None = None) -> list[str]:
        """The original design's thresholds on a version's recorded test metrics (the full gate is `judge`)."""
        min_accuracy = self.promotion.min_accuracy if min_accuracy is None else check_threshold(min_accuracy)
        return threshold_failures(metrics, min_accuracy, self.promotion.min_auc)

    # -- the gate that refuses a coin (sensex.registry.gate) ---------------------------------------
    def _panel(self):
        from sensex.features.dataset import load_panel

        return load_panel(self.settings, load_universe(self.settings.universe), mode=self.mode)

    def _gate_data(self):
        """(panel, range data) of the stored data, for the gate (`features.dataset.load_range`)."""
        from sensex.features.dataset import load_range

        return load_range(self.settings, load_universe(self.settings.universe), mode=self.mode)

    def judge(self, version: str, min_accuracy: float | None = None, panel=None, ranges=None):
        """Score a version, current production and the baselines on the same rows (`gate.judge`);
        its range forecast, when it has one, against EWMA on the same sessions."""
        from sensex.models.range_portable import has_range
        from sensex.registry.gate import judge

        candidate = self.load(version=version)[1]
        current = self._version_for_alias(PRODUCTION)
        production = None
        if current is not None and str(current.version) != str(version):
            production = self.load(version=str(current.version))[1]
        if panel is None or (ranges is None and has_range(candidate.meta)):
            loaded, ranges = self._gate_data()
            panel = loaded if panel is None else panel
        return judge(candidate, panel, self.promotion, production, min_accuracy, ranges=ranges)

    def promote_model_to_production(self, version: str | int, min_accuracy: float | None = None,
                                    gate_report=None) -> dict:
        check_threshold(min_accuracy)  # a NaN threshold would pass every version: refuse it first
        version = str(version)
        candidate = next((v for v in self.list_all_versions() if v["version"] == version), None)
        if candidate is None:
            raise ModelNotFoundError(f"Version {version} of {self.model_name} does not exist: see `sensex registry list`.")
        report = gate_report or self.judge(version, min_accuracy)
        if not report.passed:
            self._describe_gate(version, candidate["metrics"], min_accuracy, "Promotion refused.")
            self._log_event("rejected", version, candidate["stage"], reasons=report.failures, gate=report.to_dict())
            raise PromotionRejected(f"Version {version} fails the promotion gate: {'; '.join(report.failures)}."
                                    " Train a better model; until one passes, forecasts come from the baseline.")
        with self.lock():
            self._move_production(version, "promotion")
        # The description is documentation, after the commit point: a crash here loses only it.
        self._describe_gate(version, candidate["metrics"], min_accuracy,
                            f"Promoted to Production on {datetime.now(UTC).date()}.")
        return {**self.get_production_model(), "gate": report.to_dict()}

    def _move_production(self, version: str, event: str) -> None:
        """Prepare, commit, finish (module docstring); the caller holds the lock."""
        current = self._version_for_alias(PRODUCTION)
        replaces = str(current.version) if current is not None else ""
        promotion_id = uuid.uuid4().hex
        for key, value in ((PROMOTION_ID, promotion_id), (PROMOTION_EVENT, event), (PROMOTION_REPLACES, replaces)):
            self.client.set_model_version_tag(self.model_name, version, key, value)
        self.lock().verify()
        self.client.set_registered_model_alias(self.model_name, PRODUCTION, version)  # the commit point
        self._finish(version, event, promotion_id, replaces or None, reconciled=False)

    def _finish(self, version: str, event: str, promotion_id: str, replaces: str | None, reconciled: bool) -> list[str]:
        """Everything after the commit point; idempotent, so `doctor` can run it again.
        Returns what it changed."""
        changes: list[str] = []
        aliases = self._aliases()
        if replaces and replaces != version:
            if PREVIOUS not in aliases.get(replaces, []):
                self.client.set_registered_model_alias(self.model_name, PREVIOUS, replaces)
                changes.append(f"alias previous -> v{replaces}")
        elif not replaces and PREVIOUS in aliases.get(version, []):
            # Rolled back to `previous` with nothing in production before: nothing to go back to.
            self.client.delete_registered_model_alias(self.model_name, PREVIOUS)
            changes.append("alias previous removed")
        changes += self._repair_stage_tags(version)
        logged = {(e.get("event_type"), e.get("promotion_id"))
                  for e in jsonlog.read(self.settings.logs_dir / jsonlog.PROMOTION_LOG)} if reconciled else set()
        mark = {"reconciled": True} if reconciled else {}
        if event == "promotion" and replaces and replaces != version and ("archived", promotion_id) not in logged:
            self._log_event("archived", replaces, "Archived", promotion_id=promotion_id, **mark)
            changes.append(f"logged archived v{replaces}")
        if (event, promotion_id) not in logged:
            extra = {}
            if event == "promotion":
                extra["metrics"] = self._describe(self.client.get_model_version(self.model_name, version))["metrics"]
            self._log_event(event, version, "Production", promotion_id=promotion_id, **extra, **mark)
            changes.append(f"logged {event} v{version}")
        self._sync_pointer()
        return changes

    def write_pointer(self) -> Pointer | None:
        """Make the production pointer (`sensex.registry.pointer`) say what the alias says, with the
        bundle fetched and verified beside it; no pointer when nothing is in production."""
        mv = self._version_for_alias(PRODUCTION)
        if mv is None:
            remove_pointer(self.settings, self.model_name)
            return None
        info = self._describe(mv)
        bundle = tracking.fetch_bundle(self.settings, mv.run_id)
        return write_pointer(self.settings, self.model_name, info["version"], mv.run_id, bundle.meta.onnx_sha256, info)

    def _sync_pointer(self) -> None:
        """After the alias moved. A failure here does not undo the promotion: servers notice the
        pointer disagrees with the alias and rewrite it themselves."""
        try:
            pointer = self.write_pointer()
        except (ModelNotFoundError, OSError) as exc:
            log.warning("The production pointer was not rewritten (%s): servers will refresh it.", exc)
            return
        if pointer is not None:
            self._production_moved()

    def _production_moved(self) -> None:
        """Called once the pointer names a new production version. The registry knows nothing of
        serving; `sensex.serving.ModelRegistry` overrides this to prepare the new model's inputs."""

    def _repair_stage_tags(self, production: str | None) -> list[str]:
        """Exactly one version tagged Production, the one with the alias; others Archived."""
        changes = []
        for mv in self._versions():
            version, stage = str(mv.version), (mv.tags or {}).get("stage")
            if version == production and stage != "Production":
                self.client.set_model_version_tag(self.model_name, version, "stage", "Production")
                changes.append(f"v{version} tagged Production")
            elif version != production and stage == "Production":
                self.client.set_model_version_tag(self.model_name, version, "stage", "Archived")
                changes.append(f"v{version} tagged Archived (was Production without the alias)")
        return changes

    def setup_automated_promotion(self) -> dict:
        """Register new runs; judge every version other than production on rows scored alike
        (`sensex.registry.gate`); promote the passing one with the lowest Brier relative to
        always-UP when it beats production on rows neither trained on (or production's recorded
        promotion metric when no such rows exist)."""
        with self.lock():  # the choice and the promotion see the same production
            return self._setup_automated_promotion()

    def _setup_automated_promotion(self) -> dict:
        new_versions = self.register_new_runs()
        versions = self.list_all_versions()
        if not versions:
            raise ModelNotFoundError(f"No trained model{self._for_mode()} to register: run `sensex train{self._mode_flag()}` first.")
        current = self.get_production_model()
        result = {"registered": new_versions, "candidates": len(versions)}
        panel, ranges = self._gate_data()
        reports = {v["version"]: self.judge(v["version"], panel=panel, ranges=ranges)
                   for v in versions if current is None or v["version"] != current["version"]}
        passing = [v for v in versions if v["version"] in reports and reports[v["version"]].passed]
        if not passing:
            failures = {version: report.failures for version, report in reports.items()}
            self._log_event("rejected", None, "None", reasons=failures,
                            gates={version: report.to_dict() for version, report in reports.items()})
            if current is not None:
                return {**result, **current, "promoted": False, "gates": {k: r.to_dict() for k, r in reports.items()},
                        "reason": f"no other version passes the gate; production version {current['version']} stays"}
            detail = "; ".join(f"v{version}: {', '.join(items)}" for version, items in failures.items())
            raise PromotionRejected(f"No version passes the promotion gate ({detail}). Forecasts come from the"
                                    " logistic-regression baseline, labelled as such, until a trained model passes.")

        def excess(v: dict) -> tuple[float, int]:
            report = reports[v["version"]]
            return report.candidate["brier"] - report.baselines["always_up"]["brier"], -int(v["version"])

        best = min(passing, key=excess)
        report = reports[best["version"]]
        if current is not None:
            metric = self.promotion.metric
            if report.beats_production is False or (
                report.beats_production is None
                and current["metrics"].get(metric, float("-inf")) >= best["metrics"].get(metric, float("-inf"))):
                why = ("on the same unseen sessions its Brier is not below production's" if report.beats_production
                       is False else f"production is already the best by {metric}")
                return {**result, **current, "promoted": False, "gate": report.to_dict(),
                        "reason": f"version {best['version']} passes the gate but {why}"}
        promoted = self.promote_model_to_production(best["version"], gate_report=report)
        return {**result, **promoted, "promoted": True,
                "reason": "passes the gate with the lowest Brier relative to always-UP on its test window"
                          + (" and beats production on the same unseen sessions" if report.beats_production else "")}

    def rollback(self) -> dict:
        with self.lock():
            previous = self._version_for_alias(PREVIOUS)
            if previous is None:
                raise ModelNotFoundError("There is no previous production version to roll back to.")
            self._move_production(str(previous.version), "rollback")
        return self.get_production_model()

    # -- repair -----------------------------------------------------------------------------------
    def doctor(self) -> dict:
        """Make the registry, the promotion log, runs and scratch files agree after a crash;
        idempotent: a second run changes nothing (`changed` false)."""
        with self.lock():
            changes: list[str] = []
            production = self._version_for_alias(PRODUCTION)
            version = str(production.version) if production is not None else None
            if production is None:
                changes += self._repair_stage_tags(None)
            else:
                tags = production.tags or {}
                promotion_id = tags.get(PROMOTION_ID)
                if promotion_id:
                    changes += self._finish(version, tags.get(PROMOTION_EVENT, "promotion"), promotion_id,
                                            tags.get(PROMOTION_REPLACES) or None, reconciled=True)
                else:  # promoted before promotions carried ids: compare with the last logged event
                    changes += self._repair_stage_tags(version)
                    events = [e for e in jsonlog.read(self.settings.logs_dir / jsonlog.PROMOTION_LOG)
                              if e.get("event_type") in ("promotion", "rollback")]
                    if not events or str(events[-1].get("version")) != version:
                        self._log_event("promotion", version, "Production", reconciled=True)
                        changes.append(f"logged promotion v{version}")
            self._sync_pointer()  # servers read the pointer: make it say what the alias says
            failed_runs = cleanup.fail_abandoned_runs(self.client, self.experiment_id)
            removed = [str(p) for p in cleanup.remove_abandoned_files(self.settings)]
        return {
            "model_name": self.model_name, "production": version, "repairs": changes,
            "failed_runs": failed_runs, "removed": removed,
            "changed": bool(changes or failed_runs or removed),
        }

    def evaluate_model_drift(self, current_metrics: dict) -> dict:
        """Compare live metrics (e.g. from `sensex evaluate` on new sessions) with the production
        model's test metrics; drift when accuracy or AUC fall, or Brier rises, beyond tolerance."""
        production = self.require_production_model()
        return {"version": production["version"],
                **metric_drift(production["metrics"], current_metrics, self.promotion.drift_tolerance)}

    def fallback_bundle(self) -> tuple[dict, Bundle] | None:
        """The newest registered version whose bundle carries its fitted baselines: where the
        labelled baseline forecast comes from while no version is in production."""
        for version in sorted(self._versions(), key=lambda mv: -int(mv.version)):
            try:
                info, bundle = self.load(version=str(version.version))
            except ModelNotFoundError:
                continue
            if bundle.meta.baselines and bundle.meta.uncertainty.get("fallback"):
                return info, bundle
        return None

    def production_model_uri(self) -> str:
        return f"models:/{self.model_name}@{PRODUCTION}"
