"""What every command of `sensex` shares: the typer apps, the options, the settings a command
runs with, the one way to print a result (`emit`), and progress on stderr."""

from __future__ import annotations

import json
import os
import shutil
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer

from sensex.market import dates


def get_settings():
    # pydantic-settings costs ~0.15 s to import: `sensex --help` must not pay it (target < 0.3 s).
    from sensex.core.settings import get_settings as settings

    return settings()

app = typer.Typer(add_completion=False, no_args_is_help=True, help="SENSEX next-session direction forecaster.")
data_app = typer.Typer(no_args_is_help=True, help="Fetch, import and check market data.")
registry_app = typer.Typer(no_args_is_help=True, help="MLflow Model Registry: versions, promotion, drift.")
app.add_typer(data_app, name="data")
app.add_typer(registry_app, name="registry")

JsonOption = typer.Option(False, "--json", help="Print one JSON object on stdout.")
UniverseOption = typer.Option(None, "--universe", help="sensex (default) | nifty50 | path to a universe CSV (default: SENSEX_UNIVERSE or sensex).")
ModeOption = typer.Option("close", "--mode", help="close (after BSE's close) | preopen (before BSE opens, with the overnight S&P 500)")
RayAddressOption = typer.Option(None, "--ray-address", help="Run the training fan-out on this Ray cluster (host:port; default: RAY_ADDRESS, else a local Ray instance).")


def use_ray_address(address: str | None) -> None:
    """`--ray-address`: the training fan-out joins that cluster (`sensex.models.cluster`)."""
    if address:
        from sensex.models import cluster

        cluster.use_address(address)


def _package_version() -> str:
    try:
        return version("sensex")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        print(f"sensex {_package_version()}")
        raise typer.Exit()


@app.callback()
def _root(_version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                        help="Print the package version and exit.")) -> None:
    """SENSEX next-session direction forecaster."""


def date_option(name: str):
    """A typer callback that accepts only YYYY-MM-DD and hands the ISO text on."""
    return lambda value: dates.parse_optional(value, name)


def DateOption(name: str, help: str):  # noqa: N802 - reads like typer.Option at the call site
    return typer.Option(None, name, help=f"{help} (YYYY-MM-DD).", callback=date_option(name))


def command_settings(universe: str | None = None):
    """The process settings, with `--universe` (when given) in place of SENSEX_UNIVERSE. The universe
    is loaded once here so a bad name or file fails in a moment with its own sentence."""
    from sensex.market.universe import load_universe

    settings = get_settings()
    if universe is not None:
        settings = settings.model_copy(update={"universe": universe})
    load_universe(settings.universe)
    return settings


def use_universe(universe: str | None) -> None:
    """For commands that start other processes (API, dashboard, daily job): the option becomes
    their SENSEX_UNIVERSE."""
    if universe is not None:
        command_settings(universe)
        os.environ["SENSEX_UNIVERSE"] = universe
        from sensex.core.settings import get_settings as cached_settings

        cached_settings.cache_clear()


# What a writing command needs free beside SENSEX_HOME: a model bundle, its MLflow copy and a
# store rewrite each take a few MB; a disk this full would fail mid-way, after minutes of work.
MIN_FREE_MB = 64


def writable_home(universe: str | None = None):
    """Settings, after checking that the commands that write can: fail in a second, not after
    minutes of training or downloading."""
    from sensex.core.errors import StorageError

    settings = command_settings(universe)
    home = settings.home
    existing = home if home.exists() else next((p for p in home.parents if p.exists()), home)
    database = Path(settings.tracking_uri.removeprefix("sqlite:///")) if settings.tracking_uri.startswith("sqlite:///") else None
    for path in (existing, database):
        if path is not None and path.exists() and not os.access(path, os.W_OK):
            raise StorageError(f"Cannot write {path}: make SENSEX_HOME ({home}) writable, or set SENSEX_HOME to a"
                               " writable directory.")
    free_mb = shutil.disk_usage(existing).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise StorageError(f"The disk holding {home} is full ({free_mb:.0f} MB free, a run needs about {MIN_FREE_MB}"
                           " MB): free some space, or set SENSEX_HOME to a directory on another disk.")
    return settings


# What a command printed on stdout in this run: an error after it (the daily job's failed day)
# then goes to stderr only, so stdout still holds exactly one JSON object.
printed: list[dict] = []


def emit(payload: dict, as_json: bool, human: str) -> None:
    if as_json:
        print(json.dumps(payload, default=str))
    else:
        print(human)
    printed.append(payload)


def pct(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


class Progress:
    """Progress of long work on stderr (rich): one line per stage, a bar with elapsed and remaining
    time when the work is counted (epochs, files). Silent with --json or when stderr is not a
    terminal, so scripts and logs see only their one JSON object and the log lines."""

    def __init__(self, as_json: bool, console=None):
        self.enabled = console is not None or (not as_json and sys.stderr.isatty())
        self._console = console
        self._progress = None
        self._task = None
        self._total = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("remaining"), TimeRemainingColumn(),
                console=self._console or Console(stderr=True), transient=False,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, description: str, done: int | None, total: int | None) -> None:
        """The library's `progress(description, done, total)` callback."""
        if self._progress is None:
            return
        if self._task is not None and total is not None and self._total is not None:
            # The same count goes on (the next epoch or file; an early stop shortens the total).
            self._progress.update(self._task, description=description, completed=done or 0, total=total)
            self._total = total
            return
        # A new stage starts a new line; the line before it is marked done.
        if self._task is not None:
            finished = self._progress.tasks[-1]
            self._progress.update(self._task, total=finished.total or 1, completed=finished.total or 1)
            self._progress.stop_task(self._task)
        self._task = self._progress.add_task(description, total=total, completed=done or 0)
        self._total = total
