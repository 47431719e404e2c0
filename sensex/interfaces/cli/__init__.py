"""`sensex`: a thin shell over the library (`sensex.jobs`, the registry, the model server).

Every command takes `--json` and then prints exactly one JSON object on stdout; logs go to
stderr; an error is one line on stderr (`error: ...`) and a non-zero exit, never a traceback:
exit 2 for a usage error or a SensexError, 1 for an unwritable SENSEX_HOME, 130 on Ctrl-C.
Long commands show progress on stderr when it is a terminal and `--json` is off.
One module per command group; importing them registers their commands on `app`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings

import typer

from sensex.core.errors import SensexError, storage_error, unexpected_sentence
from sensex.core.redaction import install_log_redaction

# isort: off
# Registers the commands, in the order `sensex --help` lists them.
from sensex.interfaces.cli import models, forecasts, services, data, registry  # noqa: F401
from sensex.interfaces.cli import backtest  # noqa: F401
from sensex.interfaces.cli import tuning  # noqa: F401
# isort: on
from sensex.interfaces.cli import common
from sensex.interfaces.cli.common import Progress, app, get_settings

__all__ = ["Progress", "app", "main", "run"]


def _quiet_libraries() -> None:
    # Only third-party noise, by category and module; every other warning still shows. torch's
    # TorchScript exporter warns that an LSTM exported with a dynamic batch may fail at another
    # batch size, but training measures ONNX-vs-torch parity on a batch of 32 and reports it
    # (`onnx_parity_max_abs`, about 4e-8 for the LSTM): the warning is noise here.
    warnings.filterwarnings("ignore", message="Exporting a model to ONNX with a batch_size other than 1",
                            category=UserWarning, module=r"torch\.onnx\.")
    debugging = os.environ.get("SENSEX_LOG_LEVEL", "").upper() == "DEBUG"
    for name in ("mlflow", "alembic", "urllib3", "yfinance", "httpx", "onnxscript"):
        # Their errors reach the user as our one-line sentence; MLflow would also print a traceback.
        logging.getLogger(name).setLevel(logging.DEBUG if debugging else logging.CRITICAL)
    # MLflow sets its loggers' level again when it is imported (later, lazily): from this variable.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "DEBUG" if debugging else "CRITICAL")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is now, so log lines print above a live progress bar."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _click_exceptions():
    """Typer 0.2x vendors click as `typer._click`; older typers use click itself."""
    try:
        from typer._click import exceptions
    except ImportError:  # pragma: no cover - depends on the installed typer
        from click import exceptions
    return exceptions


def _usage_sentence(exc) -> str:
    """Click's message as one line, with where to look for the right usage."""
    message = " ".join(exc.format_message().split()).rstrip(".")
    ctx = getattr(exc, "ctx", None)
    command = ctx.command_path if ctx is not None else "sensex"
    return f"{message}: see `{command} --help`."


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Every failure becomes one `error:` line on stderr and,
    with `--json`, an `{"error", "exit_code"}` object on stdout unless the command printed its own."""
    click_errors = _click_exceptions()
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    common.printed.clear()

    def error(message: str, code: int) -> int:
        print(f"error: {message}", file=sys.stderr, flush=True)
        if as_json and not common.printed:  # scripts read stdout: one JSON object, even on failure
            print(json.dumps({"error": message, "exit_code": code}), flush=True)
        return code

    try:
        result = app(args=argv, prog_name="sensex", standalone_mode=False)
    except click_errors.NoArgsIsHelpError:
        return 0  # `sensex` alone (or `sensex data`): typer has printed the help
    except click_errors.UsageError as exc:
        return error(_usage_sentence(exc), 2)
    except click_errors.ClickException as exc:
        return error(" ".join(exc.format_message().split()), exc.exit_code)
    except SensexError as exc:
        return error(str(exc), exc.exit_code)
    except OSError as exc:  # a read-only, full or broken SENSEX_HOME (or a path a user gave)
        exc_error = storage_error(exc, get_settings().home)
        return error(str(exc_error), exc_error.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        return error("interrupted.", 130)
    except Exception as exc:  # a bug or a library's own error: still one line, the traceback at DEBUG
        logging.getLogger(__name__).debug("Unexpected error", exc_info=True)
        return error(unexpected_sentence(exc, get_settings), 1)
    # Without standalone mode typer returns an Exit's code (--help, --version, Ctrl-C in a prompt).
    return result if isinstance(result, int) else 0


def main() -> None:
    logging.basicConfig(level=os.environ.get("SENSEX_LOG_LEVEL", "INFO"), handlers=[_StderrHandler()],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    install_log_redaction()
    sys.exit(run())
