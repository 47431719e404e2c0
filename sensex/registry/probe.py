"""Which version the `production` alias points at, and which versions are registered, asked
without importing MLflow.

MLflow takes seconds to import and holds ~100 MB; the model server only needs one row. So:
- `sqlite:///...` (the default, SENSEX_HOME/mlflow.db): the alias table, read-only through sqlite3;
- `http(s)://` (an `mlflow server`): its REST API, `GET /api/2.0/mlflow/registered-models/alias`;
- anything else (a database URL given directly): MLflow's client, imported only then.
Tests check each answer against MLflow's own (`tests/integration/test_serving_pointer.py`).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sensex.core.errors import ModelNotFoundError, RegistryUnavailable
from sensex.core.redaction import redact_url
from sensex.core.settings import Settings

ALIAS = "production"
DELETED = "Deleted_Internal"  # MLflow's mark on a deleted version it keeps in the table
HTTP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class AliasTarget:
    version: str
    run_id: str


def production_alias(settings: Settings, model_name: str) -> AliasTarget | None:
    """The production version and its run; None when no version holds the alias. Raises
    RegistryUnavailable when the store cannot be asked, ModelNotFoundError when the alias
    points at a version that does not exist."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return _from_sqlite(Path(uri.removeprefix("sqlite:///")), model_name)
    if uri.startswith(("http://", "https://")):
        return _from_rest(uri.rstrip("/"), model_name)
    return _from_mlflow(uri, model_name)


def registered_versions(settings: Settings, model_name: str) -> list[AliasTarget] | None:
    """Every registered version of `model_name` (newest first), or None when only MLflow could say
    (another store, or the store cannot be read: the caller then asks MLflow and gets its error).
    An empty list means nothing is registered: no production model and no labelled baseline, which
    the dashboard learns without importing MLflow (seconds and ~100 MB in its process)."""
    uri = settings.tracking_uri
    if uri.startswith("sqlite:///"):
        return _versions_from_sqlite(Path(uri.removeprefix("sqlite:///")), model_name)
    if uri.startswith(("http://", "https://")):
        return _versions_from_rest(uri.rstrip("/"), model_name)
    return None


def _versions_from_sqlite(path: Path, model_name: str) -> list[AliasTarget] | None:
    if not path.is_file():
        return []  # nothing was ever registered in this home
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT version, run_id FROM model_versions WHERE name = ? AND COALESCE(current_stage, '') != ?"
                              " ORDER BY version DESC", (model_name, DELETED)).fetchall()
        finally:
            db.close()
    except sqlite3.Error as exc:
        return [] if "no such table" in str(exc) else None
    return [AliasTarget(str(version), str(run_id or "")) for version, run_id in rows]


def _credentials() -> dict:
    """What MLflow's own client sends to a server behind authentication, from MLflow's variables:
    MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (basic auth) or MLFLOW_TRACKING_TOKEN."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return {"auth": (user, password)}
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return {"headers": {"Authorization": f"Bearer {token}"}} if token else {}


def _versions_from_rest(base: str, model_name: str) -> list[AliasTarget] | None:
    import httpx

    try:
        response = httpx.get(f"{base}/api/2.0/mlflow/model-versions/search", **_credentials(),
                             params={"filter": f"name='{model_name}'", "max_results": 1000}, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    found = [AliasTarget(str(v["version"]), str(v.get("run_id") or ""))
             for v in response.json().get("model_versions") or [] if v.get("version")]
    return sorted(found, key=lambda target: -int(target.version))


def _missing_version(model_name: str, version: str) -> ModelNotFoundError:
    return ModelNotFoundError(f"The production alias of {model_name} points at version {version}, which does not"
                              f" exist: promote an existing version with `sensex registry promote N`.")


def _from_sqlite(path: Path, model_name: str) -> AliasTarget | None:
    if not path.is_file():
        return None  # nothing was ever registered in this home
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
                             (model_name, ALIAS)).fetchone()
            found = row and db.execute("SELECT run_id FROM model_versions WHERE name = ? AND version = ?",
                                       (model_name, row[0])).fetchone()
        finally:
            db.close()
    except sqlite3.Error as exc:
        if "no such table" in str(exc):
            return None  # a database MLflow has not set up yet
        raise RegistryUnavailable(f"The MLflow database {path} cannot be read ({exc}): check the file and its"
                                  " permissions.") from None
    if row is None:
        return None
    if found is None:
        raise _missing_version(model_name, str(row[0]))
    return AliasTarget(str(row[0]), str(found[0]))


def _from_rest(base: str, model_name: str) -> AliasTarget | None:
    import httpx

    url = f"{base}/api/2.0/mlflow/registered-models/alias"
    try:
        response = httpx.get(url, params={"name": model_name, "alias": ALIAS}, timeout=HTTP_TIMEOUT_S,
                             **_credentials())
    except httpx.HTTPError as exc:
        raise RegistryUnavailable(f"The MLflow tracking server at {redact_url(base)} does not answer"
                                  f" ({type(exc).__name__}): start it or check MLFLOW_TRACKING_URI.") from None
    if response.status_code in (401, 403):
        raise RegistryUnavailable(f"The MLflow tracking server at {redact_url(base)} refused the request (HTTP"
                                  f" {response.status_code}): set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
                                  " to an account it knows.")
    if response.status_code == 404 or "RESOURCE_DOES_NOT_EXIST" in response.text:
        return None  # no such model or alias
    if response.status_code != 200:
        raise RegistryUnavailable(f"The MLflow tracking server at {redact_url(base)} answered HTTP"
                                  f" {response.status_code}: check the server and MLFLOW_TRACKING_URI.")
    version = response.json().get("model_version") or {}
    if not version.get("version"):
        return None
    return AliasTarget(str(version["version"]), str(version.get("run_id") or ""))


def _from_mlflow(uri: str, model_name: str) -> AliasTarget | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        version = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias(model_name, ALIAS)
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")) or "not found" in str(exc).lower():
            return None
        raise RegistryUnavailable(f"The tracking store {redact_url(uri)} cannot be asked for the production model"
                                  f" ({str(exc)[:120]}): check MLFLOW_TRACKING_URI.") from None
    return AliasTarget(str(version.version), str(version.run_id))
