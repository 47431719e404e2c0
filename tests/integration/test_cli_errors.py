"""Every CLI failure is one `error:` line on stderr with the right exit code, never a traceback.

Most cases run in-process through `sensex.interfaces.cli.run`, the function the `sensex` entry point calls
(typer's CliRunner would go through typer's own standalone mode, which the entry point does not
use); a subset runs as `python -m sensex` to prove the real process behaves the same.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from conftest import read_only
from rich.console import Console

from sensex.core.settings import get_settings, load_settings
from sensex.interfaces import cli

pytestmark = pytest.mark.integration


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sensex(home: Path, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "SENSEX_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "sensex", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def assert_one_line_error(code: int, out: str, err: str, expected_code: int, says: str) -> str:
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    assert code == expected_code, (code, lines[0])
    return lines[0]


USAGE_ERRORS = [
    (["nosuch"], "No such command 'nosuch'", "see `sensex --help`"),
    (["evaluate"], "Missing option '--start'", "see `sensex evaluate --help`"),
    (["predict", "--asof", "X"], "No such option: --asof", "see `sensex predict --help`"),
    (["registry", "promote", "1", "--min-accuracy", "abc"], "Invalid value for '--min-accuracy'", "--help`"),
    (["registry", "promote"], "Missing argument 'version'", "see `sensex registry promote --help`"),
    (["serve", "--port", "http"], "Invalid value for '--port'", "--help`"),
    (["serve", "--port", "99999"], "Invalid value for '--port'", "see `sensex serve --help`"),
    (["mlflow", "--port", "99999"], "Invalid value for '--port'", "see `sensex mlflow --help`"),
    (["app", "--port", "0"], "Invalid value for '--port'", "see `sensex app --help`"),
    (["evaluate", "--start"], "Option '--start' requires an argument", "--help`"),
]


@pytest.mark.parametrize(("args", "says", "hint"), USAGE_ERRORS, ids=[" ".join(a) for a, _, _ in USAGE_ERRORS])
def test_usage_errors_are_one_line_and_exit_2(capsys, args, says, hint):
    line = assert_one_line_error(*run_cli(capsys, *args), 2, says)
    assert hint in line


BAD_VALUES = [
    (["predict", "--as-of", "2026-13-01"], "--as-of 2026-13-01 is not a real date: the month must be 01 to 12"),
    (["predict", "--as-of", "yesterday"], "--as-of 'yesterday' is not a date in YYYY-MM-DD form"),
    (["predict", "--as-of", "01/02/2026"], "--as-of '01/02/2026' is not a date in YYYY-MM-DD form: write 2026-02-01 for"
     " 1 February 2026 (day first) or write 2026-01-02 for 2 January 2026 (month first)"),
    (["predict", "--as-of", "2026-02-30"], "February 2026 has 28 days"),
    (["data", "update", "--start", "2026-13-45"], "--start 2026-13-45 is not a real date"),
    (["data", "update", "--source", "synthetic", "--start", "2021-03-01", "--end", "2021-02-01"],
     "--start 2021-03-01 is after --end 2021-02-01"),
    (["data", "update", "--source", "synthetic", "--end", "2030-01-01"],
     "--end 2030-01-01 is after the last completed BSE session"),
    (["evaluate", "--start", "2021-03-01", "--end", "2021-02-01"], "--start 2021-03-01 is after --end 2021-02-01"),
    (["evaluate", "--start", "2021-01-01", "--end", "31/12/2021"], "--end '31/12/2021' is not a date"),
    (["train", "--train-end", "2020-02-30"], "--train-end 2020-02-30 is not a real date"),
    (["train", "--train-end", "2021-06-30", "--valid-end", "2021-01-31"], "--train-end 2021-06-30 is after --valid-end"),
    (["registry", "drift", "--start", "01/02/2026"], "--start '01/02/2026' is not a date"),
    (["registry", "promote", "1", "--min-accuracy", "1.5"], "--min-accuracy 1.5 is not a threshold"),
    (["registry", "promote", "1", "--min-accuracy", "nan"], "--min-accuracy nan is not a threshold"),
    (["registry", "promote", "1", "--min-accuracy", "-0.1"], "--min-accuracy -0.1 is not a threshold"),
]


@pytest.mark.parametrize(("args", "says"), BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_values_are_refused_before_any_work(capsys, args, says):
    assert_one_line_error(*run_cli(capsys, *args), 2, says)
    # Nothing was fetched, trained or written.
    assert not (get_settings().store_dir / "ohlcv.parquet").exists()


def test_bare_sensex_and_bare_groups_print_help_and_exit_0(capsys):
    for args in ([], ["data"], ["registry"], ["--help"]):
        code, out, err = run_cli(capsys, *args)
        assert code == 0 and "Usage" in out and "Traceback" not in out + err and "error" not in err


def test_version(capsys):
    try:
        expected = version("sensex")
    except PackageNotFoundError:
        expected = "unknown"
    assert run_cli(capsys, "--version") == (0, f"sensex {expected}\n", "")


# -- as-of against the stored data (trained home: synthetic 2018-06-01 .. 2021-12-31) -----------

@pytest.fixture
def trained_env(trained_home, monkeypatch):
    monkeypatch.setenv("SENSEX_HOME", str(trained_home["settings"].home))
    get_settings.cache_clear()
    return trained_home["settings"]


@pytest.mark.parametrize(("as_of", "says"), [
    ("1990-01-01", "--as-of 1990-01-01 is before the first stored session 2018-06-01"),
    ("2099-01-01", "--as-of 2099-01-01 is after the next session"),
    ("2022-06-01", "--as-of 2022-06-01 is after the last stored session 2021-12-31: run `sensex data update`"),
    ("2018-06-15", "index sessions are stored up to 2018-06-15 and the model needs"),
])
def test_as_of_outside_the_stored_data_says_which_side(capsys, trained_env, as_of, says):
    line = assert_one_line_error(*run_cli(capsys, "predict", "--as-of", as_of), 2, says)
    if as_of == "1990-01-01":
        assert "data update`" not in line.split(":")[0]


def test_a_stored_as_of_still_forecasts(capsys, trained_env):
    code, out, err = run_cli(capsys, "predict", "--as-of", "2021-12-15", "--json")
    forecast = json.loads(out)
    assert code == 0 and forecast["as_of"] == "2021-12-15" and forecast["logged"] is True
    assert forecast["as_of_notice"] is None  # the day asked for: nothing to say


def test_a_weekend_as_of_says_which_session_the_forecast_is_from(capsys, own_home, monkeypatch):
    # A copy of the shared home: the look-backs it logs would otherwise be other tests' newest records.
    monkeypatch.setenv("SENSEX_HOME", str(own_home.home))
    get_settings.cache_clear()
    code, out, err = run_cli(capsys, "predict", "--as-of", "2021-12-18")  # a Saturday
    assert code == 0
    first = out.splitlines()[0]
    assert first == ("2021-12-18 is a Saturday, not a session: this forecast is from the last stored session"
                     " before it, 2021-12-17.")
    code, out, err = run_cli(capsys, "predict", "--as-of", "2021-12-19", "--json")
    assert json.loads(out)["as_of"] == "2021-12-17" and "a Sunday" in json.loads(out)["as_of_notice"]


# -- the real process ------------------------------------------------------------------------------

SUBPROCESS_CASES = [
    ([], 0, None),
    (["--version"], 0, None),
    (["nosuch"], 2, "No such command 'nosuch'"),
    (["evaluate"], 2, "Missing option '--start'"),
    (["predict", "--asof", "X"], 2, "No such option: --asof"),
    (["registry", "promote", "1", "--min-accuracy", "abc"], 2, "Invalid value for '--min-accuracy'"),
    (["predict", "--as-of", "01/02/2026"], 2, "is not a date in YYYY-MM-DD form"),
    (["data", "update", "--start", "2026-13-45"], 2, "is not a real date"),
]


@pytest.mark.parametrize(("args", "code", "says"), SUBPROCESS_CASES, ids=[" ".join(a) or "bare" for a, _, _ in SUBPROCESS_CASES])
def test_python_m_sensex(tmp_path, args, code, says):
    out = sensex(tmp_path / "home", *args, timeout=60)
    if says is None:
        assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr and out.stdout
    else:
        assert_one_line_error(out.returncode, out.stdout, out.stderr, code, says)


# -- a read-only or full SENSEX_HOME -------------------------------------------------------------

@pytest.fixture
def home_copy(trained_home, tmp_path) -> Path:
    """A private copy of the trained home with the production model already in its cache."""
    home = tmp_path / "home"
    shutil.copytree(trained_home["settings"].home, home, symlinks=True)
    from sensex.serving.model_server import ModelServer

    ModelServer(load_settings({"SENSEX_HOME": str(home)})).load_production_model()
    return home


@pytest.mark.slow
def test_read_only_home_still_forecasts_and_says_the_log_was_not_written(home_copy):
    log = home_copy / "logs" / "prediction_log.json"
    before = log.read_text() if log.exists() else ""
    with read_only(home_copy):
        out = sensex(home_copy, "predict", "--json")
        human = sensex(home_copy, "predict", "--as-of", "2021-12-10")
    assert out.returncode == 0 and "Traceback" not in out.stdout + out.stderr
    forecast = json.loads(out.stdout)
    assert forecast["direction"] in ("UP", "DOWN") and forecast["logged"] is False
    warning = [line for line in out.stderr.splitlines() if "WARNING" in line]
    assert len(warning) == 1 and "not written to the prediction log" in warning[0] and str(home_copy) in warning[0]
    assert human.returncode == 0 and "not written to the prediction log" in human.stdout
    assert (log.read_text() if log.exists() else "") == before


@pytest.mark.slow
def test_read_only_home_refuses_updates_training_and_promotion_with_the_path(home_copy, tiny_config):
    with read_only(home_copy):
        results = {
            "update": sensex(home_copy, "data", "update", "--source", "synthetic"),
            "train": sensex(home_copy, "train", "--preset", str(tiny_config)),
            "setup": sensex(home_copy, "registry", "setup", "--preset", str(tiny_config)),
        }
    for name, out in results.items():
        line = assert_one_line_error(out.returncode, out.stdout, out.stderr, 1, f"Cannot write {home_copy}")
        assert "make SENSEX_HOME" in line and "writable" in line, name


@pytest.mark.slow
def test_read_only_home_without_a_cached_model_says_where_it_cannot_write(home_copy):
    shutil.rmtree(home_copy / "cache")
    with read_only(home_copy):
        out = sensex(home_copy, "predict")
    line = assert_one_line_error(out.returncode, out.stdout, out.stderr, 1, "Cannot create files in")
    assert str(home_copy) in line


@pytest.mark.slow
def test_logs_path_taken_by_a_file_loses_the_log_line_not_the_forecast(home_copy):
    # Works as any user: the log directory cannot be created because a file has its name.
    shutil.rmtree(home_copy / "logs", ignore_errors=True)
    (home_copy / "logs").write_text("not a directory")
    out = sensex(home_copy, "predict", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["logged"] is False
    assert "not written to the prediction log" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to simulate a full disk")
def test_full_disk_loses_the_log_line_not_the_forecast(home_copy):
    log = home_copy / "logs" / "prediction_log.json"
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    log.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    out = sensex(home_copy, "predict", "--json")
    assert out.returncode == 0 and json.loads(out.stdout)["logged"] is False
    assert "is full: free some space" in out.stderr and "Traceback" not in out.stderr


# -- progress ------------------------------------------------------------------------------------

def _tiny_fit(epochs: int, patience: int, progress, learning_rate: float = 1e-3):
    from sensex.models.bundle import NetworkConfig
    from sensex.models.config import Config, FeatureConfig, TrainConfig
    from sensex.models.convlstm import build_network
    from sensex.models.fitting import fit_network
    from sensex.models.segments import Segments

    rng = np.random.default_rng(0)
    tensor = rng.standard_normal((80, 4, 3)).astype(np.float32)  # (D, S, C)
    tensor[..., -1] = 1.0  # the mask channel: every member available
    label = (rng.random(80) > 0.5).astype(np.float64)
    config = Config(features=FeatureConfig(window=5), train=TrainConfig(epochs=epochs, patience=patience, batch_size=16,
                                                                        learning_rate=learning_rate))
    network = build_network("convlstm", NetworkConfig(n_channels=3, n_stocks=4, window=5, hidden=2, projection=2))
    segments = Segments(train=np.arange(10, 50), valid=np.arange(50, 65), test=np.arange(65, 80))
    return fit_network(network, tensor, label, segments, config, progress)


def test_training_reports_epoch_n_of_n():
    calls = []
    _, history = _tiny_fit(3, 10, lambda *call: calls.append(call))
    assert calls == [("Training epoch", 1, 3), ("Training epoch", 2, 3), ("Training epoch", 3, 3)]
    assert len(history) == 3


def test_early_stopping_closes_the_count():
    calls = []
    # A learning rate too small to move the validation loss: epoch 2 does not improve, patience 1 stops.
    _tiny_fit(5, 1, lambda *call: calls.append(call), learning_rate=1e-12)
    assert calls == [("Training epoch", 1, 5), ("Stopped early after epoch 2/5", 2, 2)]


def test_progress_shows_stages_epochs_elapsed_and_remaining_on_a_terminal():
    buffer = StringIO()
    with cli.Progress(as_json=False, console=Console(file=buffer, force_terminal=True, width=160)) as progress:
        progress("Reading the store", None, None)
        _tiny_fit(3, 10, progress)
        progress("Logging the run to MLflow", None, None)
    text = buffer.getvalue()
    for expected in ("Reading the store", "Training epoch", "3/3", "elapsed", "remaining", "Logging the run to MLflow"):
        assert expected in text


def test_progress_is_off_with_json_or_without_a_terminal():
    assert cli.Progress(as_json=True).enabled is False
    assert cli.Progress(as_json=False).enabled is sys.stderr.isatty()


def test_csv_import_reports_each_file(tmp_path, market):
    folder = tmp_path / "csv"
    folder.mkdir()
    for symbol, name in (("RELIANCE", "RELIANCE.csv"), ("SENSEX", "BSESN.csv")):
        rows = market[market["symbol"] == symbol].rename(columns=str.title).rename(columns={"Adj_Close": "Adj Close"})
        rows.drop(columns="Symbol").to_csv(folder / name, index=False)
    from sensex.data.sources.csvfiles import load_directory
    from sensex.market.universe import load_universe

    calls = []
    load_directory(folder, load_universe(), progress=lambda *call: calls.append(call))
    assert calls == [("Importing BSESN.csv", 0, 2), ("Importing RELIANCE.csv", 1, 2), ("Imported 2 CSV files", 2, 2)]


def test_json_output_has_no_progress(tmp_path):
    out = sensex(tmp_path / "home", "data", "update", "--source", "synthetic", "--start", "2021-01-01",
                 "--end", "2021-03-31", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["source"] == "synthetic"
    assert "elapsed" not in out.stderr and "remaining" not in out.stderr


@pytest.mark.parametrize("command", [["serve"], ["app"], ["mlflow"]])
def test_a_busy_port_is_refused_in_one_sentence_before_anything_starts(capsys, command):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = assert_one_line_error(*run_cli(capsys, *command, "--port", str(port)), 2, f"Cannot listen on 127.0.0.1:{port}")
    assert "pass another one with --port" in line


def test_a_bad_streamlit_port_in_the_environment_is_one_sentence(capsys, monkeypatch):
    monkeypatch.setenv("STREAMLIT_SERVER_PORT", "abc")
    assert_one_line_error(*run_cli(capsys, "app"), 2, "STREAMLIT_SERVER_PORT='abc' is not a port")


def test_with_json_an_error_is_also_one_json_object_on_stdout(capsys):
    code, out, err = run_cli(capsys, "predict", "--json", "--as-of", "2026-13-01")
    assert code == 2 and json.loads(out) == {"error": err.strip().removeprefix("error: "), "exit_code": 2}
    code, out, err = run_cli(capsys, "predict", "--as-of", "2026-13-01")  # without --json: stdout stays empty
    assert code == 2 and out == ""


def test_a_universe_option_reaches_the_processes_a_command_starts(monkeypatch):
    """`serve` and `app` hand --universe to their worker processes through SENSEX_UNIVERSE; the
    process's cached settings must follow (this raised AttributeError on a plain function)."""
    from sensex.core.settings import get_settings
    from sensex.interfaces.cli.common import use_universe

    monkeypatch.delenv("SENSEX_UNIVERSE", raising=False)
    get_settings.cache_clear()
    use_universe("nifty50")
    try:
        assert os.environ["SENSEX_UNIVERSE"] == "nifty50" and get_settings().universe == "nifty50"
    finally:
        # Not monkeypatch.delenv: it would record "nifty50" as the value to restore at teardown,
        # leaking the universe into every later test.
        os.environ.pop("SENSEX_UNIVERSE", None)
        get_settings.cache_clear()


def test_a_missing_home_is_named_not_blamed_on_a_missing_model(tmp_path):
    home = tmp_path / "no-such-home"
    out = sensex(home, "predict")
    line = assert_one_line_error(out.returncode, out.stdout, out.stderr, 2, f"SENSEX_HOME {home} does not exist")
    assert "point SENSEX_HOME at your home" in line and not home.exists()  # nothing created by a read
