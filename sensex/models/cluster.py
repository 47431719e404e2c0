"""Ray: where training's fan-out runs (the ensemble's seeds, the walk-forward's blocks, several
models at once, tuning trials), on this machine or on a cluster, with the same code.

Without `RAY_ADDRESS` (or `--ray-address`), `start` runs a local Ray instance inside this process
(`train.workers` CPUs, or every core), its temporary files under `SENSEX_HOME/tmp`, no dashboard,
no usage statistics sent anywhere, its log records through this project's logging, shut down when
the process exits. With `RAY_ADDRESS=host:port` it joins that cluster instead, whose nodes run the
same package (docs/operations.md, "Training on a Ray cluster").

`fan_out` is the one way work leaves this process: each call is a Ray task of one CPU (the
callers give it a config of one torch thread: `models.train.in_task`), retried on another worker
when its process dies (`TASK_RETRIES`). Every fit is seeded and deterministic, so a task's result
is the same whichever process or node computed it. With one CPU and no cluster nothing leaves the
process and Ray is not even imported: serving never imports this module's Ray.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sensex.core.errors import ConfigError

log = logging.getLogger(__name__)

ADDRESS_ENV = "RAY_ADDRESS"
# A task whose worker process dies (killed, out of memory, its node lost) runs again elsewhere, at
# most this many times; an exception raised by the work itself is not retried (it would fail again).
TASK_RETRIES = 3
# Ray's sockets live in the session folder under the temporary directory; a Unix socket path has at
# most 107 bytes, and the session folder and socket names take about 62 of them.
_MAX_TEMP_DIR = 44
_started_here = False


def address() -> str | None:
    """The cluster to join (`RAY_ADDRESS`), or None for a local instance ("local" counts as none)."""
    value = os.environ.get(ADDRESS_ENV, "").strip()
    return None if value in ("", "local") else value


def use_address(value: str | None) -> None:
    """`--ray-address`: join this cluster (it becomes RAY_ADDRESS, which Ray reads too)."""
    if value:
        os.environ[ADDRESS_ENV] = value


def _on_loopback(joined: str) -> bool:
    """Whether a cluster address (`host:port`, `ray://host:port`) names this machine's loopback."""
    host = joined.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def check_tracking(tracking_uri: str) -> None:
    """Refuse, before any work, a file-based MLflow store when joining a cluster: the runs that
    trials and tasks log there must reach one tracking server."""
    joined = address()
    if joined is not None and not tracking_uri.startswith(("http://", "https://")):
        raise ConfigError(
            f"RAY_ADDRESS={joined} joins a Ray cluster, but MLFLOW_TRACKING_URI is a file store on this machine"
            f" ({tracking_uri}): set MLFLOW_TRACKING_URI to the tracking server the cluster reaches"
            " (http://host:5000), or unset RAY_ADDRESS to train on this machine."
        )


def parallel(cpus: int, tasks: int) -> bool:
    """Whether `tasks` calls go to Ray: more than one, and more than one CPU or a cluster to use."""
    return tasks > 1 and (cpus > 1 or address() is not None)


def temp_dir(home: Path | None = None) -> Path:
    """Where a local instance keeps its session (sockets, logs, spilled objects): SENSEX_HOME/tmp,
    or a short folder of the system's temporary directory when that path is too long for a socket."""
    if home is None:
        from sensex.core.settings import get_settings

        home = get_settings().home
    wanted = Path(home) / "tmp"
    if len(str(wanted)) <= _MAX_TEMP_DIR:
        return wanted
    short = Path(tempfile.gettempdir()) / f"sensex-ray-{hashlib.sha256(str(wanted).encode()).hexdigest()[:8]}"
    log.info("Ray's temporary files go to %s: %s is too long a path for its sockets.", short, wanted)
    return short


def start(cpus: int | None = None, home: Path | None = None) -> str:
    """Ray for this process, started once: the cluster of RAY_ADDRESS, or a local instance of
    `cpus` CPUs (default: every core). Returns a description for the user ("a local Ray instance
    of 2 CPUs", "the Ray cluster at host:port (4 CPUs)")."""
    global _started_here
    import ray

    joined = address()
    if not ray.is_initialized():
        options = {"configure_logging": False, "log_to_driver": False, "namespace": "sensex"}
        if joined is not None:
            log.info("Joining the Ray cluster at %s", joined)
            if _on_loopback(joined):
                # A cluster addressed on loopback runs on this machine with its nodes on loopback:
                # the driver must be a node of that address too, or the nodes cannot reach the
                # objects it owns (Ray would pick the machine's own address and fail with OwnerDiedError).
                options["_node_ip_address"] = "127.0.0.1"
            ray.init(address=joined, **options)
        else:
            folder = temp_dir(home)
            folder.mkdir(parents=True, exist_ok=True)
            count = cpus or os.cpu_count() or 1
            log.info("Starting a local Ray instance of %d CPUs (temporary files in %s)", count, folder)
            # Offline first: Ray's usage statistics would be sent to Ray's servers from this machine.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            # A new local instance turns Ray's token authentication on, and warns that it did.
            quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                ray.init(num_cpus=count, include_dashboard=False, _temp_dir=str(folder), **options)
            finally:
                quiet.setLevel(level)
        _started_here = True
        atexit.register(shutdown)
        _messages_to_log()
    total = int(ray.cluster_resources().get("CPU", 0))
    return f"the Ray cluster at {joined} ({total} CPUs)" if joined else f"a local Ray instance of {total} CPUs"


def _messages_to_log() -> None:
    """Ray prints what its nodes report to the driver (a worker died, a task will be retried) on
    stdout, where `--json` keeps exactly one object: send those lines to this project's log."""
    from ray._private import worker

    if not callable(getattr(worker, "print_to_stdstream", None)):  # another Ray: it prints them itself
        return

    def to_log(data: dict, ignore_prefix: bool = False) -> None:
        for line in data.get("lines", []):
            if str(line).strip():
                log.warning("Ray (%s): %s", data.get("pid", "?"), str(line).strip())

    worker.print_to_stdstream = to_log


def shutdown() -> None:
    """Stop what `start` started (a local instance stops; a joined cluster is only left)."""
    global _started_here
    if not _started_here:
        return
    import ray

    _started_here = False
    if ray.is_initialized():
        ray.shutdown()


class _Records(logging.Handler):
    """The log records a task emits in its worker, to be handled again by the caller's logging."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # arguments need not be picklable
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        self.records.append(record)


def _in_task(function: Callable, *args):
    """Runs in a Ray worker: `function(*args)`, with its log records (INFO and above) and where it
    ran, so the caller logs them through its own handlers."""
    import ray

    handler, root = _Records(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    try:
        result = function(*args)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    return result, handler.records, ray.get_runtime_context().get_node_id(), os.getpid()


def _replay(name: str, records: list[logging.LogRecord], node: str, pid: int) -> None:
    for record in records:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
    log.debug("task %s ran on node %s, process %d", name, node, pid)


def fan_out(function: Callable, calls: Sequence[tuple], cpus: int) -> Iterator:
    """`function(*call)` for each call, results in the order of `calls`. With `parallel(cpus, ...)`
    each call is a Ray task of one CPU (on a local instance of `cpus` CPUs unless RAY_ADDRESS names
    a cluster); an argument shared by several calls (the panel) is sent to the object store once.
    Otherwise the calls run here, one after the other."""
    if not parallel(cpus, len(calls)):
        for call in calls:
            yield function(*call)
        return
    import ray

    start(cpus)
    name = getattr(function, "__name__", "task")
    task = ray.remote(_in_task).options(num_cpus=1, max_retries=TASK_RETRIES, retry_exceptions=False, name=name)
    shared: dict[int, object] = {}
    for call in calls:
        for value in call:
            if not isinstance(value, int | float | str | bool | type(None)):
                if sum(any(value is other for other in c) for c in calls) > 1 and id(value) not in shared:
                    shared[id(value)] = ray.put(value)
    refs = [task.remote(function, *(shared.get(id(value), value) for value in call)) for call in calls]
    done = 0
    try:
        for ref in refs:
            try:
                result, records, node, pid = ray.get(ref)
            except ray.exceptions.RayTaskError as error:  # the work's own error, as if it ran here
                cause = getattr(error, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            _replay(name, records, node, pid)
            done += 1
            yield result
    finally:
        # A caller that stops early (an error) leaves the other tasks to finish and drops their
        # results; they are not cancelled. Cancelling races with Ray's own bookkeeping of a task
        # that completes at that moment, and Ray 2.x then aborts the whole process ("Tried to
        # complete task that was not pending", ray-project/ray#54527). The tasks end with their
        # work, or with this process (a local instance stops at exit; a cluster ends a finished
        # driver's tasks).
        if done < len(refs):
            log.info("%d of %d %s tasks are left to finish; their results are not used.", len(refs) - done, len(refs), name)
