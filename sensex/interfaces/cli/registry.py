"""`sensex registry ...`: versions, the promotion gate, rollback, repair and drift."""

from __future__ import annotations

import typer

from sensex.interfaces.cli.common import (
    DateOption,
    JsonOption,
    ModeOption,
    UniverseOption,
    command_settings,
    emit,
    pct,
    registry_app,
    writable_home,
)
from sensex.market import dates

GateOption = typer.Option("quick", "--preset", help="Config whose `promotion` section is the gate (quick, full or a YAML file).")


def _registry(preset: str = "quick", mode: str = "close", writes: bool = False, universe: str | None = None):
    from sensex.models.config import load_config
    from sensex.serving import ModelRegistry

    return ModelRegistry(writable_home(universe) if writes else command_settings(universe), promotion=load_config(preset).promotion,
                         mode=mode)


def _version_line(v: dict) -> str:
    m = v.get("metrics", {})
    return (f"v{v['version']} {v['stage']:<10} aliases={','.join(v['aliases']) or '-'} "
            f"test_accuracy={pct(m.get('test_accuracy'))} test_auc={pct(m.get('test_auc'))} run={v['run_id']}")


@registry_app.command("setup")
def registry_setup(preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Register new runs and promote the best version that passes the gate."""
    result = _registry(preset, mode, writes=True, universe=universe).setup_automated_promotion()
    emit(result, as_json, f"{'Promoted' if result['promoted'] else 'Kept'}: {_version_line(result)} ({result['reason']})")


@registry_app.command("list")
def registry_list(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """All registered versions with stage and metrics."""
    versions = _registry(mode=mode, universe=universe).list_all_versions()
    emit({"versions": versions}, as_json, "\n".join(_version_line(v) for v in versions) or "No versions registered.")


@registry_app.command("production")
def registry_production(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """The version serving forecasts."""
    production = _registry(mode=mode, universe=universe).require_production_model()
    emit(production, as_json, _version_line(production))


@registry_app.command("promote")
def registry_promote(version: str, min_accuracy: float | None = typer.Option(None, "--min-accuracy"),
                     preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption,
                     as_json: bool = JsonOption):
    """Promote a version to Production if it passes the gate."""
    from sensex.models.config import check_threshold

    check_threshold(min_accuracy)  # before the registry is opened: a bad number fails in a moment
    result = _registry(preset, mode, writes=True, universe=universe).promote_model_to_production(version, min_accuracy)
    emit(result, as_json, f"Promoted: {_version_line(result)}")


@registry_app.command("rollback")
def registry_rollback(mode: str = ModeOption, universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Put the previous production version back."""
    result = _registry(mode=mode, writes=True, universe=universe).rollback()
    emit(result, as_json, f"Rolled back: {_version_line(result)}")


@registry_app.command("doctor")
def registry_doctor(universe: str | None = UniverseOption, as_json: bool = JsonOption):
    """Repair what a killed promotion or training left: tags, aliases, log events, runs, scratch files."""
    result = _registry(universe=universe).doctor()
    human = "\n".join([f"Production: v{result['production']}" if result["production"] else "No production version.",
                        *[f"  repaired: {c}" for c in result["repairs"]],
                        *[f"  run marked FAILED: {r}" for r in result["failed_runs"]],
                        *[f"  removed: {p}" for p in result["removed"]],
                        *([f"  not repaired: {result['store_problem']}"] if result.get("store_problem") else []),
                        "Registry, log, runs and scratch files agree." if not result["changed"] else "Done."])
    emit(result, as_json, human)


@registry_app.command("drift")
def registry_drift(start: str | None = DateOption("--start", "First session to score (default: the day after the model's test window)"),
                   end: str | None = DateOption("--end", "Last session to score (default: the last stored one)"),
                   sessions: int | None = typer.Option(None, "--sessions", min=20, max=5000,
                                                       help="Latest sessions the feature drift compares with training (default: the preset's promotion.drift_sessions, 60)."),
                   preset: str = GateOption, mode: str = ModeOption, universe: str | None = UniverseOption,
                   as_json: bool = JsonOption):
    """Drift of the production model: performance on unseen sessions, feature PSI, the live record."""
    from sensex.models.config import load_config
    from sensex.serving.model_server import ModelServer

    dates.check_order(start, end)
    result = ModelServer(command_settings(universe), mode=mode).drift(start, end, sessions, load_config(preset).promotion)
    overall = result["severity"].replace("_", " ").upper()  # not_judged: NOT JUDGED
    lines = [f"Drift of v{result['version']} ({result['mode']}): {overall} - {result['recommendation']}"]
    lines += [f"  {part:<12}{_verdict(result[part]):<11}{result[part]['reason']}" for part in ("performance", "features", "live")]
    emit(result, as_json, "\n".join(lines))


def _verdict(part: dict) -> str:
    """A part with too few sessions to judge says so: `ok` would claim a verdict nobody reached."""
    return part["severity"] if part.get("judged", True) else "not judged"
