"""`sensex serve`, `sensex app` and `sensex mlflow`: the long-running services."""

from __future__ import annotations

import logging
import os
import socket
import sys

import typer

from sensex.core.errors import ConfigError
from sensex.interfaces.cli.common import UniverseOption, app, get_settings, use_universe


def PortOption(default: int | None, help: str):  # noqa: N802 - reads like typer.Option at the call site
    return typer.Option(default, min=1, max=65535, help=help)


def check_port_free(address: str, port: int) -> None:
    """Refuse, in one sentence and before anything starts, a port another process listens on (the
    servers would otherwise fail later, deep inside uvicorn or Streamlit, with a traceback)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, port))
        except OSError as exc:
            raise ConfigError(f"Cannot listen on {address}:{port} ({exc.strerror or exc}): stop what uses that port,"
                              " or pass another one with --port.") from None


def _env_port(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{name}={text!r} is not a port: set it to a number from 1 to 65535.")
    return int(text)


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = PortOption(8000, "Port to listen on."),
          workers: int = typer.Option(1, min=1, max=64), universe: str | None = UniverseOption):
    """Run the REST API (FastAPI on uvicorn)."""
    import uvicorn

    from sensex.interfaces.http_limits import MAX_CONNECTIONS, DeadlineH11Protocol

    check_port_free(host, port)
    use_universe(universe)  # the API's workers read it from the environment
    # Slow clients are cut off (a request must arrive within its deadline) and connections beyond
    # the limit get 503 at once, so no client can hold the server's descriptors.
    uvicorn.run("sensex.interfaces.api:create_app", factory=True, host=host, port=port, workers=workers, log_level="info",
                http=DeadlineH11Protocol, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5)


@app.command("app")
def run_app(port: int | None = PortOption(None, "Default: STREAMLIT_SERVER_PORT or 8501"),
            address: str | None = typer.Option(None, help="Default: STREAMLIT_SERVER_ADDRESS or 127.0.0.1"),
            universe: str | None = UniverseOption):
    """Run the Streamlit dashboard."""
    use_universe(universe)  # the universe shown first; the sidebar selector switches to the others
    port = port or _env_port("STREAMLIT_SERVER_PORT", 8501)
    address = address or os.environ.get("STREAMLIT_SERVER_ADDRESS", "127.0.0.1")
    check_port_free(address, port)
    print(f"Dashboard: http://{address}:{port}  (Ctrl-C stops it)", flush=True)
    # `streamlit run sensex/interfaces/app/main.py`, with the first page readied while the browser loads. It
    # serves, it does not develop: no file watcher (0.3-0.4 s of CPU at start, registering every
    # imported module after the first run); `streamlit run sensex/interfaces/app/main.py` reloads on edits.
    # In this process: exec'ing `python -m sensex.interfaces.app.launch` started a second interpreter after
    # this one had imported the CLI (0.2 s more before the dashboard listened).
    from sensex.core import memory
    from sensex.interfaces.app import launch

    # Every script run is a new thread with its own glibc arena; two arenas keep the dashboard
    # about 25 MB smaller (bench/app.py) at no measurable cost in speed.
    memory.limit_arenas()
    launch.main(["--server.port", str(port), "--server.address", address, "--server.headless", "true",
                 "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
                 "--server.fileWatcherType", "none"])


def mlflow_ui(host: str = typer.Option("127.0.0.1", help="Address to listen on."),
              port: int = PortOption(5000, "Port to listen on.")):
    """Open the MLflow UI on the project's runs and registered models."""
    from sensex.registry import tracking

    settings = get_settings()
    if not settings.tracking_uri.startswith(("http://", "https://")):
        check_port_free(host, port)  # before the store is opened: a busy port changes nothing
    experiment_id = tracking.configure(settings)
    try:
        tracking.ensure_experiment_kind(settings)
    except Exception as exc:  # noqa: BLE001 - a read-only store can still be viewed; the URL picks the view
        logging.getLogger("sensex.interfaces.cli").warning("Could not tag the experiment as model training: %s", exc)
    if settings.tracking_uri.startswith(("http://", "https://")):
        base = settings.tracking_uri.rstrip("/")
        print(f"MLFLOW_TRACKING_URI is a tracking server with its own UI: open {tracking.runs_url(base, experiment_id)}")
        return
    url = tracking.runs_url(f"http://{host}:{port}", experiment_id)
    print(f"MLflow UI on {settings.tracking_uri}: {url}  (Ctrl-C stops it)", flush=True)
    args = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", settings.tracking_uri,
            "--default-artifact-root", settings.artifacts_dir.as_uri(),
            "--artifacts-destination", settings.artifacts_dir.as_uri(), "--host", host, "--port", str(port),
            "--workers", "1"]
    # One worker and no GenAI job runners (seven more processes otherwise): this is a local viewer.
    os.execve(sys.executable, args, {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})


app.command("mlflow")(mlflow_ui)
app.command("ui", help="Same as `sensex mlflow`.")(mlflow_ui)
