"""The production pointer: a small JSON file naming the version the `production` alias points at.

    $SENSEX_HOME/registry/<model name>.json
    {"model_name", "version", "run_id", "sha256" (model.onnx), "bundle" (relative to SENSEX_HOME),
     "registry" (which tracking store it describes), "written_at"}

The registry writes it when the alias moves (promotion, rollback, `registry doctor`); the model
server reads it so that a forecast never imports MLflow. MLflow stays the source of truth: the
server compares the pointer with the alias (`registry_probe`) and refreshes a pointer that is
missing, unreadable or disagrees. Paths are relative, so a moved or copied home keeps working and
reads its own bundle copy, never the original home's.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sensex.core.errors import CorruptModelError
from sensex.core.redaction import redact_url
from sensex.core.settings import Settings

POINTER_DIR = "registry"
HOME_REGISTRY = "home"  # the default sqlite store inside SENSEX_HOME, wherever the home now lives


@dataclass(frozen=True)
class Pointer:
    model_name: str
    version: str
    run_id: str
    sha256: str
    bundle: str  # relative to SENSEX_HOME
    registry: str
    written_at: str = ""
    info: dict = field(default_factory=dict)  # the registry's description: stage, metrics, created, ...

    def bundle_dir(self, settings: Settings) -> Path:
        return settings.home / self.bundle


def registry_identity(settings: Settings) -> str:
    """Which tracking store a pointer describes: the home's own database is `home` (so a copied
    home's pointer stays valid), anything else its URI without secrets."""
    if settings.tracking_uri == f"sqlite:///{settings.home / 'mlflow.db'}":
        return HOME_REGISTRY
    return redact_url(settings.tracking_uri)


def pointer_path(settings: Settings, model_name: str) -> Path:
    return settings.home / POINTER_DIR / f"{model_name}.json"


def bundle_relative(settings: Settings, run_id: str) -> str:
    """Where `tracking.fetch_bundle` keeps a run's model, relative to the home."""
    return (settings.cache_dir / "models" / run_id).relative_to(settings.home).as_posix()


def read_pointer(settings: Settings, model_name: str) -> Pointer | None:
    """The pointer, None when absent; a damaged one raises CorruptModelError with a sentence."""
    path = pointer_path(settings, model_name)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        raw = json.loads(text.decode())
        pointer = Pointer(**{key: str(raw[key]) for key in ("model_name", "version", "run_id", "sha256", "bundle",
                                                             "registry")}, written_at=str(raw.get("written_at", "")),
                          info=raw["info"] if isinstance(raw.get("info"), dict) else {})
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise CorruptModelError(f"The production pointer {path} is unreadable ({type(exc).__name__}): it is"
                                " rewritten from the registry; run `sensex registry production` to check.") from None
    if Path(pointer.bundle).is_absolute() or ".." in Path(pointer.bundle).parts or pointer.model_name != model_name:
        raise CorruptModelError(f"The production pointer {path} names a bundle outside SENSEX_HOME or another model:"
                                " it is rewritten from the registry.")
    return pointer


def write_pointer(settings: Settings, model_name: str, version: str, run_id: str, sha256: str,
                  info: dict | None = None) -> Pointer:
    """Write atomically (a reader sees the old pointer or the new one, never half of one)."""
    pointer = Pointer(model_name, str(version), run_id, sha256, bundle_relative(settings, run_id),
                      registry_identity(settings), datetime.now(UTC).isoformat(timespec="seconds"), dict(info or {}))
    path = pointer_path(settings, model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(asdict(pointer), indent=1))
    os.replace(scratch, path)
    return pointer


def remove_pointer(settings: Settings, model_name: str) -> None:
    pointer_path(settings, model_name).unlink(missing_ok=True)
