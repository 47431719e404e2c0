"""The production model as serving gets it: pointer file + local bundle, no MLflow in the process.

`locate(settings, mode)` compares the pointer (`sensex.registry.pointer`) with the registry's
alias (`sensex.registry.probe`, no MLflow) and returns the verified bundle with what the
registry says about it. Only when the pointer is missing, unreadable, disagrees with the alias,
or its bundle fails its checks is the registry asked properly: in a child process
(`python -m sensex.registry.production refresh`) that imports MLflow, fetches the bundle and
rewrites the pointer, so the serving process itself never holds MLflow (seconds, ~100 MB).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass, field

from sensex.core import errors
from sensex.core.errors import CorruptModelError, ModelNotFoundError, NoProductionModel, RegistryUnavailable
from sensex.core.settings import Settings, get_settings
from sensex.market.modes import CLOSE, check_mode, registered_model
from sensex.models.bundle import Bundle, load_bundle
from sensex.registry.pointer import Pointer, read_pointer, registry_identity
from sensex.registry.probe import AliasTarget, production_alias

log = logging.getLogger(__name__)

REFRESH_TIMEOUT_S = 300


@dataclass
class Located:
    info: dict  # what `ModelRegistry.get_production_model` says, plus name and uri
    bundle: Bundle
    pointer: Pointer
    notes: list[str] = field(default_factory=list)  # why serving is degraded though it works


def no_production_model(settings: Settings, mode: str) -> NoProductionModel:
    from sensex.market.universe import DEFAULT_UNIVERSE, load_universe

    universe = load_universe(settings.universe)
    flag = ("" if mode == CLOSE else f" --mode {mode}") + (
        "" if universe.key == DEFAULT_UNIVERSE else f" --universe {settings.universe}")
    where = "" if mode == CLOSE else f" for the {mode} mode"
    if not settings.home.exists():  # most often a mistyped or unset SENSEX_HOME, not a missing model
        return NoProductionModel(f"No production model{where}: SENSEX_HOME {settings.home} does not exist; point"
                                 f" SENSEX_HOME at your home, or create one with `sensex data update`, `sensex"
                                 f" train{flag}` and `sensex registry setup{flag}`.")
    return NoProductionModel(f"No production model{where} in {settings.home}: run `sensex train{flag}` then"
                             f" `sensex registry setup{flag}`.")


def model_name(settings: Settings, mode: str) -> str:
    """The registered model served: per universe (settings.universe) and mode, as the registry names it."""
    from sensex.market.universe import load_universe

    return registered_model(mode, load_universe(settings.universe).key)


def current_target(settings: Settings, mode: str) -> AliasTarget | None:
    """The alias as the registry has it now (cheap; raises RegistryUnavailable)."""
    return production_alias(settings, model_name(settings, mode))


def agrees(pointer: Pointer | None, target: AliasTarget | None, settings: Settings) -> bool:
    return (pointer is not None and target is not None and pointer.version == target.version
            and pointer.run_id == target.run_id and pointer.registry == registry_identity(settings))


def locate(settings: Settings, mode: str | None = None) -> Located:
    mode = check_mode(mode)
    name = model_name(settings, mode)
    notes: list[str] = []
    try:
        pointer = read_pointer(settings, name)
    except CorruptModelError as exc:
        pointer = None
        log.warning("%s", exc)
    try:
        target = current_target(settings, mode)
    except RegistryUnavailable as exc:
        if pointer is None or pointer.registry != registry_identity(settings):
            raise  # nothing known about this registry's production model: say why
        # The registry cannot say otherwise: the last known production keeps serving, saying so.
        notes.append(f"{exc} Serving version {pointer.version} from the production pointer meanwhile.")
        return Located(*load_pointed(settings, pointer), pointer, notes)
    if target is None:
        raise no_production_model(settings, mode)
    if agrees(pointer, target, settings):
        try:
            return Located(*load_pointed(settings, pointer), pointer, notes)
        except ModelNotFoundError as exc:  # CorruptModelError included: the child fetches it again
            if pointer.bundle_dir(settings).exists():  # damaged, not just not fetched yet
                log.warning("The production bundle failed its checks (%s): fetching it again.", exc)
    pointer = refresh(settings, mode)
    if not agrees(pointer, target, settings):  # the alias moved meanwhile: the next check catches up
        notes.append(f"The production alias moved while version {pointer.version} was being loaded.")
    return Located(*load_pointed(settings, pointer), pointer, notes)


def load_pointed(settings: Settings, pointer: Pointer) -> tuple[dict, Bundle]:
    bundle = load_bundle(pointer.bundle_dir(settings))  # verifies model.onnx against model.json
    if bundle.meta.onnx_sha256 and bundle.meta.onnx_sha256 != pointer.sha256:
        raise CorruptModelError(f"The bundle of version {pointer.version} does not match the checksum in the production"
                                " pointer: delete $SENSEX_HOME/cache/models and restart to fetch it again.")
    info = {**(pointer.info or {}), "version": pointer.version, "run_id": pointer.run_id, "name": pointer.model_name,
            "uri": f"models:/{pointer.model_name}@production"}
    return info, bundle


def refresh(settings: Settings, mode: str) -> Pointer:
    """Ask the registry in a child process (MLflow stays out of this one); it fetches the bundle
    and rewrites the pointer. Its one-sentence error is raised here as the same type."""
    env = {**os.environ, "SENSEX_HOME": str(settings.home), "MLFLOW_TRACKING_URI": settings.tracking_uri,
           "SENSEX_UNIVERSE": settings.universe}
    try:
        done = subprocess.run([sys.executable, "-m", "sensex.registry.production", "refresh", mode], env=env,
                              capture_output=True, text=True, timeout=REFRESH_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise RegistryUnavailable(f"Asking the registry for the production model took over {REFRESH_TIMEOUT_S} s:"
                                  " check MLFLOW_TRACKING_URI and the tracking server.") from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        answer = {"error": "ModelNotFoundError", "detail": (done.stderr.strip().splitlines() or ["no answer"])[-1][:300]
                  + " (from the registry refresh: rerun with SENSEX_LOG_LEVEL=DEBUG)."}
    if "error" in answer:
        kind = getattr(errors, answer["error"], ModelNotFoundError)
        raise (kind if isinstance(kind, type) and issubclass(kind, errors.SensexError) else ModelNotFoundError)(
            answer["detail"])
    pointer = read_pointer(settings, model_name(settings, mode))
    if pointer is None:
        raise no_production_model(settings, mode)
    return pointer


def _refresh_main(mode: str) -> int:
    """The child: `ModelRegistry.write_pointer` with MLflow, one JSON line on stdout."""
    from sensex.registry.model_registry import ModelRegistry

    logging.basicConfig(level=os.environ.get("SENSEX_LOG_LEVEL", "WARNING"), stream=sys.stderr)
    try:
        pointer = ModelRegistry(mode=mode).write_pointer()
    except errors.SensexError as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}))
        return 2
    except OSError as exc:
        error = errors.storage_error(exc, ModelRegistry(mode=mode).settings.home)
        print(json.dumps({"error": type(error).__name__, "detail": str(error)}))
        return 2
    except Exception as exc:  # noqa: BLE001 - the parent raises it as one sentence, like the CLI
        log.debug("Unexpected error in the registry refresh", exc_info=True)
        kind = "StorageError" if "readonly database" in str(exc) else "ModelNotFoundError"
        print(json.dumps({"error": kind, "detail": errors.unexpected_sentence(exc, get_settings)}))
        return 2
    print(json.dumps({"version": pointer.version if pointer else None}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "refresh":
        sys.exit(_refresh_main(sys.argv[2]))
    print("usage: python -m sensex.registry.production refresh close|preopen", file=sys.stderr)
    sys.exit(2)
