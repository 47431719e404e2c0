"""Dockerfile and compose.yaml, tested without Docker (it cannot run here): the compose file against
the Compose Specification's JSON schema, every command, option, target and path they name against
this repository and package. What this cannot show (images build, containers start) is said in docs/operations.md."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from importlib import resources
from pathlib import Path

import pytest
import typer
import yaml
from conftest import REPO

COMPOSE = REPO / "compose.yaml"
DOCKERFILE = REPO / "Dockerfile"
# Variables the application reads (DESIGN.md's contract) and the services' own.
SENSEX_ENV = {"SENSEX_HOME", "MLFLOW_TRACKING_URI", "SENSEX_DATA_SOURCE", "SENSEX_CSV_DIR", "SENSEX_REDIS_URL",
              "SENSEX_REDIS_PREFIX", "SENSEX_API_URL", "SENSEX_LOG_LEVEL", "SENSEX_RELOAD_SECONDS", "STREAMLIT_SERVER_PORT",
              "STREAMLIT_SERVER_ADDRESS",
              # MLflow's client credentials for a tracking server behind authentication.
              "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _compose_schema() -> dict:
    pytest.importorskip("check_jsonschema", reason="check-jsonschema (dev extras) vendors the Compose Specification schema")
    path = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text())


def test_compose_file_validates_against_the_compose_specification_schema(compose):
    import jsonschema

    schema = _compose_schema()
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    # The check can fail: a typo in a service key is caught by the same schema.
    broken = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"], "helthcheck": {}}}}
    assert any(True for _ in validator.iter_errors(broken))


def test_compose_runs_the_topology_of_the_issue(compose):
    services = compose["services"]
    assert {"postgres", "redis", "mlflow", "api-1", "api-2", "dashboard", "bootstrap", "daily"} <= set(services)
    for api in ("api-1", "api-2"):
        env = services[api]["environment"]
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and env["SENSEX_REDIS_URL"].startswith("redis://redis:")
        assert "api" in services[api]["networks"]["default"]["aliases"]
    assert services["dashboard"]["environment"]["SENSEX_API_URL"] == "http://api:8000"
    assert services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert "@postgres:5432/" in services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    # Every named volume is declared; published ports stay on loopback.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in compose["volumes"], f"{name}: volume {source} not declared"
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_compose_environment_is_the_applications_own(compose):
    from sensex.core.settings import load_settings

    for name in ("api-1", "api-2", "dashboard", "bootstrap", "daily"):
        env = compose["services"][name]["environment"]
        assert set(env) <= SENSEX_ENV, f"{name}: unknown variables {set(env) - SENSEX_ENV}"
        resolved = {k: re.sub(r"\$\{\w+:[-?]([^}]*)\}", r"\1", str(v)) for k, v in env.items()}  # compose's defaults
        settings = load_settings(resolved)
        assert str(settings.home) == "/data" and settings.tracking_uri == "http://mlflow:5000"


# Ray's own variables on the Ray services (`sensex.models.cluster`, docs/operations.md "Training on a Ray cluster").
RAY_ENV = {"RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED"}


def test_compose_ray_services_are_real_ray_commands_on_the_train_image(compose):
    from ray.scripts.scripts import start

    head, worker = compose["services"]["ray-head"], compose["services"]["ray-worker"]
    for name, service in (("ray-head", head), ("ray-worker", worker)):
        assert service["build"]["target"] == "train" and service["profiles"] == ["ray"], name
        assert service["command"][:2] == ["ray", "start"] and "--block" in service["command"]
        start.make_context("start", list(service["command"][2:]))  # Ray's own CLI parses it (nothing runs)
        env = service["environment"]
        assert set(env) <= SENSEX_ENV | RAY_ENV, f"{name}: unknown variables {set(env) - SENSEX_ENV - RAY_ENV}"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000" and env["RAY_AUTH_MODE"] == "token"
        assert env["RAY_USAGE_STATS_ENABLED"] == "0" and "sensex-home:/data" in service["volumes"]
    assert "--head" in head["command"] and "--include-dashboard=false" in head["command"]
    assert "--address=ray-head:6379" in worker["command"] and "--port=6379" in head["command"]
    with pytest.raises(Exception, match="No such option"):
        start.make_context("start", ["--no-such-option"])  # the check can fail


def _sensex_commands(command: list[str]) -> list[list[str]]:
    """The `sensex ...` invocations in a service command (a list, or `sh -c` with && / || / braces)."""
    if command[:2] != ["sh", "-c"]:
        return [command] if command[0] == "sensex" else []
    out = []
    for part in re.split(r"&&|\|\||;|[{}()]", command[2]):
        words = shlex.split(part)
        if words and words[0] == "sensex":
            out.append(words)
        else:
            assert not words or words[0] == "echo", f"unexpected shell word {words[0]!r} in {command[2]!r}"
    return out


def _parse_cli(words: list[str]):
    """Resolve `sensex a b --opt v` against the real CLI and parse its options (nothing runs).
    Typer vendors its own click, so groups are recognised by their `commands`, not by class."""
    from sensex.interfaces.cli import app

    command, name, args = typer.main.get_command(app), "sensex", words[1:]
    while hasattr(command, "commands"):
        name, *args = args
        assert name in command.commands, f"`{' '.join(words)}`: no command {name!r}"
        command = command.commands[name]
    command.make_context(name, list(args))
    return command


def _dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    stages: dict[str, list[tuple[str, str]]] = {}
    current = None
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            match = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            current = match.group(2) or match.group(1)
            stages[current] = [("FROM", match.group(1))]
        elif current is not None:
            stages[current].append((instruction, rest))
    return stages


def _chain(stages, name) -> list[tuple[str, str]]:
    """A stage's instructions with those of the stages it is built FROM and COPY --from."""
    out = []
    for instruction, rest in stages[name]:
        if instruction == "FROM" and rest in stages:
            out += _chain(stages, rest)
        elif instruction == "COPY" and (source := re.match(r"--from=(\S+)", rest)) and source.group(1) in stages:
            out += _chain(stages, source.group(1))
        out.append((instruction, rest))
    return out


def test_every_command_in_compose_and_dockerfile_is_a_real_one(compose):
    commands = [service["command"] for service in compose["services"].values() if "command" in service]
    stages = _dockerfile_stages()
    commands += [json.loads(rest) for stage in stages.values() for instruction, rest in stage if instruction == "CMD"]
    checked = 0
    for command in commands:
        for words in _sensex_commands(command):
            _parse_cli(words)
            checked += 1
    assert checked >= 8  # serve x2, app, daily x2, data update, registry production/setup, train, serve CMD
    with pytest.raises(Exception, match="No such option"):
        _parse_cli(["sensex", "serve", "--no-such-option"])  # the check can fail
    with pytest.raises(AssertionError, match="no command"):
        _parse_cli(["sensex", "registry", "promot"])


def test_mlflow_server_command_and_environment_are_mlflows_own(compose):
    from mlflow import environment_variables
    from mlflow.cli import cli

    service = compose["services"]["mlflow"]
    server = cli.get_command(None, "server")
    server.make_context("server", service["command"][2:])
    envvars = {param.envvar for param in server.params if param.envvar}
    for name in service["environment"]:
        assert name in envvars or hasattr(environment_variables, name), f"mlflow does not read {name}"


def test_services_building_an_image_name_a_dockerfile_target(compose):
    stages = _dockerfile_stages()
    for name, service in compose["services"].items():
        if "build" in service:
            assert (REPO / service["build"]["context"] / "Dockerfile").is_file()
            assert service["build"]["target"] in stages, f"{name}: no stage {service['build']['target']}"


def test_dockerfile_is_multi_stage_slim_non_root_with_a_torch_free_serving_image():
    stages = _dockerfile_stages()
    assert list(stages)[-1] == "serve"  # the default target
    for name in ("serve", "train", "mlflow"):
        chain = _chain(stages, name)
        bases = [rest for instruction, rest in chain if instruction == "FROM" and rest not in stages]
        assert bases and all(re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim|python:3\.\d+-slim", b) for b in bases)
        users = [rest for instruction, rest in stages[name] if instruction == "USER"]
        assert users and users[-1] not in ("root", "0"), f"{name} runs as root"
    serve = _chain(stages, "serve")
    installs = " ".join(rest for instruction, rest in serve if instruction == "RUN")
    assert "pip install ." in installs and "torch" not in installs and "[train]" not in installs and "[dev]" not in installs
    assert "[train]" in " ".join(rest for instruction, rest in _chain(stages, "train") if instruction == "RUN")
    health = [rest for instruction, rest in stages["serve"] if instruction == "HEALTHCHECK"]
    assert health and "127.0.0.1:8000/health" in health[0]
    code = json.loads(health[0].split("CMD", 1)[1])[2]
    compile(code, "healthcheck", "exec")


def test_dockerfile_copies_only_files_that_exist_and_installs_extras_that_exist():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    core = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.startswith("torch") for d in core), "the serving image would get torch"
    for stage in _dockerfile_stages().values():
        for instruction, rest in stage:
            if instruction == "COPY" and not rest.startswith("--from"):
                *sources, _ = rest.split()
                for source in sources:
                    assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            if instruction == "RUN":
                for extra in re.findall(r"\.\[(\w+)\]", rest):
                    assert extra in extras, f"pip install .[{extra}]: no such extra"
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert "sensex" not in ignored and "pyproject.toml" not in ignored and "README.md" not in ignored


def test_compose_healthchecks_are_valid_python(compose):
    for name, service in compose["services"].items():
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "python"]:
            compile(test[3], f"{name} healthcheck", "exec")


def test_the_operations_page_names_what_was_not_run():
    page = (REPO / "docs" / "operations.md").read_text()
    assert "docker compose up" in page and "not run by the test suite" in page.lower()


def test_dockerfile_and_compose_exist_at_the_repository_root():
    assert Path(COMPOSE).is_file() and Path(DOCKERFILE).is_file()


SYSTEMD = REPO / "deploy" / "systemd"
CRON = REPO / "deploy" / "cron" / "sensex-daily"


def _unit_value(text: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}="))


def test_systemd_units_verify_and_run_a_real_command(tmp_path):
    import getpass
    import shutil
    import subprocess
    import sys

    service = (SYSTEMD / "sensex-daily.service").read_text()
    words = shlex.split(_unit_value(service, "ExecStart"))
    assert words[0].endswith("/bin/sensex")
    _parse_cli(["sensex", *words[1:]])
    timer = (SYSTEMD / "sensex-daily.timer").read_text()
    assert [line.split("=", 1)[1] for line in timer.splitlines() if line.startswith("OnCalendar=")] == [
        "Mon..Fri 18:30 Asia/Kolkata", "Mon..Fri 08:00 Asia/Kolkata"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed: the unit files were not verified")
    # The units as installed on this machine: this venv's `sensex`, this user.
    installed = service.replace(words[0], str(Path(sys.executable).with_name("sensex")))
    installed = installed.replace("User=sensex", f"User={getpass.getuser()}")
    (tmp_path / "sensex-daily.service").write_text(installed)
    shutil.copy(SYSTEMD / "sensex-daily.timer", tmp_path)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "sensex-daily.service"),
                             str(tmp_path / "sensex-daily.timer")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    calendar = subprocess.run(["systemd-analyze", "calendar", "Mon..Fri 18:30 Asia/Kolkata"], capture_output=True,
                              text=True, timeout=60)
    assert calendar.returncode == 0 and "13:00:00 UTC" in calendar.stdout  # the cron line's 13:00 UTC


def test_cron_line_is_weekdays_after_the_close_and_a_real_command():
    lines = [line for line in CRON.read_text().splitlines() if line.strip() and not line.startswith("#")]
    # 13:00 UTC = 18:30 IST after the close; 02:30 UTC = 08:00 IST before the open (the pre-open forecast).
    assert [tuple(line.split()[:5]) for line in lines] == [("0", "13", "*", "*", "1-5"), ("30", "2", "*", "*", "1-5")]
    for line in lines:
        words = shlex.split(" ".join(line.split()[5:]).split(">>")[0])
        assignments = [w for w in words if re.fullmatch(r"[A-Z_]+=\S*", w)]
        assert {a.split("=")[0] for a in assignments} <= SENSEX_ENV
        program = words[len(assignments):]
        assert program[0].endswith("/bin/sensex")
        _parse_cli(["sensex", *program[1:]])


def test_compose_has_no_default_password_and_mlflow_asks_every_request_for_a_user(compose):
    text = COMPOSE.read_text()
    secrets = re.findall(r"\$\{(\w*PASSWORD\w*)(:?[-?])", text)
    assert secrets and all(kind == ":?" for _, kind in secrets), secrets  # `${X:?...}`: compose refuses to start without X
    mlflow = compose["services"]["mlflow"]
    assert mlflow["command"][-2:] == ["--app-name", "basic-auth"]
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == "/etc/mlflow/basic_auth.ini"
    config = (REPO / "deploy" / "mlflow" / "basic_auth.ini").read_text()
    assert "default_permission = READ" in config and "admin_password" not in config.replace("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    for name in ("api-1", "api-2", "dashboard", "bootstrap", "daily"):
        env = compose["services"][name]["environment"]
        assert {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"} <= set(env)
