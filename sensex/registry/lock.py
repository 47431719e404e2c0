"""One promotion or rollback at a time, on one machine and across machines.

Two layers, taken in this order and released in reverse:

1. A file lock (`flock`) on `$SENSEX_HOME/locks/registry-<model>.lock`: processes sharing a home
   queue here cheaply, and the kernel releases it when its holder dies, however it dies.

2. A lock held in the tracking store itself, for processes on other machines (another home, a
   second API host, a CI job) that share the tracking server or database. It is built on one
   atomic operation every MLflow backend offers, sqlite, PostgreSQL, MySQL or an `mlflow server`
   in front of any of them: creating an experiment whose name already exists fails (names are
   unique, deleted experiments included). The lock is an experiment named
   `.promotion-lock/<model>/<n>`; the holder is whoever created the highest n. To take the lock,
   create n+1 when lock n is released, or when its holder is dead; of several processes trying,
   exactly one create succeeds. Nothing is ever compared-and-deleted, so there is no window in
   which two processes both believe they created the same lock. Releasing deletes the experiment
   (MLflow keeps it, hidden, in its deleted state), so the registry's model list and the UI's
   experiment list show no lock, and the numbering goes on.

   A holder is dead when, on the same machine, its pid no longer runs (or is another process),
   or, from another machine, when its lease (`lease_seconds`, 10 minutes) has run out: a
   promotion takes seconds, so a lease that old belongs to a killed process. Just before its
   commit point the holder checks that n is still the highest (`verify`), so even a holder
   stalled past its lease cannot commit over a newer one.

   A PostgreSQL advisory lock would be simpler for a PostgreSQL backend, but clients of an
   `mlflow server` do not reach its database, and sqlite has none; this works for all of them.
"""

from __future__ import annotations

import fcntl
import logging
import random
import threading
import time
from pathlib import Path

from sensex.core.errors import RegistryBusy, StorageError, is_disk_full
from sensex.core.processes import Owner, current_owner

log = logging.getLogger(__name__)

LOCK_PREFIX = ".promotion-lock/"
LEGACY_INFIX = ".promotion-lock."  # registered models that served as locks before: removed when seen
OWNER_PREFIX = "lock."
RELEASED = "released"
LEASE_UNTIL = "lease_until"


class RegistryLock:
    """Reentrant within a process (a promotion inside `setup` inside the same lock)."""

    def __init__(self, client, model_name: str, home: Path, lease_seconds: float = 600.0,
                 wait_seconds: float = 120.0):
        self.client = client
        self.model_name = model_name
        self.prefix = f"{LOCK_PREFIX}{model_name}/"
        self.path = home / "locks" / f"registry-{model_name}.lock"
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self._depth = 0
        self._thread_lock = threading.RLock()
        self._file = None
        self.number: int | None = None
        self._experiment_id: str | None = None

    # -- the registry-held lock --------------------------------------------------------------------
    def _locks(self) -> dict[int, object]:
        """n -> experiment, for this model's lock entries (released ones, deleted, included)."""
        from mlflow.entities import ViewType
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.search_experiments(view_type=ViewType.ALL, max_results=1000,
                                                   filter_string=f"name LIKE '{self.prefix}%'")
        except MlflowException:
            return {}
        out = {}
        for experiment in found:
            suffix = experiment.name[len(self.prefix):] if experiment.name.startswith(self.prefix) else ""
            if suffix.isdigit():
                out[int(suffix)] = experiment
        return out

    def _free(self, entry) -> tuple[bool, str, str]:
        """(free, who holds it, why it is free when its holder did not release it)."""
        tags = entry.tags or {}
        owner = Owner.from_tags(tags, OWNER_PREFIX)
        who = f"{owner.host} pid {owner.pid}" if owner else "an unknown process"
        if tags.get(RELEASED) == "true" or entry.lifecycle_stage == "deleted":
            return True, who, ""
        alive = owner.is_alive() if owner else None
        if alive is False:
            return True, who, "that process no longer runs"
        try:
            expired = float(tags.get(LEASE_UNTIL, 0)) < time.time()
        except ValueError:
            expired = True
        if alive is None and expired:
            return True, who, "its lease has run out"
        return False, who, ""

    def _acquire_registry(self, deadline: float) -> None:
        from mlflow.exceptions import MlflowException

        problem = ""
        while True:
            locks = self._locks()
            top = max(locks, default=0)
            free, who, why = (True, "", "") if not locks else self._free(locks[top])
            if free:
                tags = {**current_owner().tags(OWNER_PREFIX), LEASE_UNTIL: f"{time.time() + self.lease_seconds:.0f}"}
                try:
                    self._experiment_id = self.client.create_experiment(f"{self.prefix}{top + 1}", tags=tags)
                except MlflowException as exc:
                    # Already exists: another process won this round. A full disk will not empty
                    # itself: say so now. Anything else (sqlite's "database is locked" under
                    # contention) is retried until the deadline.
                    if is_disk_full(exc.message):
                        raise StorageError(f"The disk holding {self.path.parent.parent} is full: free some space,"
                                           " or set SENSEX_HOME to a directory on another disk.") from None
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        problem = f" (last registry error: {exc.message.splitlines()[0][:200]})"
                else:
                    if why:
                        log.warning("Took over the promotion lock of %s: %s.", who, why)
                    self.number = top + 1
                    self._housekeeping(locks)
                    return
            if time.monotonic() > deadline:
                raise RegistryBusy(
                    f"Another promotion (by {who or 'another process'}) holds the registry lock{problem}: try again"
                    " in a minute; a killed holder's lock expires by itself.")
            time.sleep(0.05 + random.random() * 0.15)  # jitter: contenders do not retry in step

    def _housekeeping(self, seen: dict[int, object]) -> None:
        """Locks their holders could not release (killed) are deleted once taken over; registered
        models that served as locks in earlier versions go too."""
        from mlflow.exceptions import MlflowException

        for number, experiment in seen.items():
            if number < self.number and experiment.lifecycle_stage != "deleted":
                try:
                    self.client.delete_experiment(experiment.experiment_id)
                except MlflowException:
                    pass  # another process cleaned it first
        try:
            legacy = self.client.search_registered_models(
                filter_string=f"name LIKE '{self.model_name}{LEGACY_INFIX}%'", max_results=1000)
            for model in legacy:
                self.client.delete_registered_model(model.name)
        except MlflowException:
            pass  # best effort: they hold nothing any more

    def verify(self) -> None:
        """Raise unless this process still holds the registry lock: called before a commit point."""
        if self.number is None or max(self._locks(), default=0) != self.number:
            raise RegistryBusy("The promotion lock was taken over by another process before this promotion"
                               " could commit: nothing was changed; run the command again.")

    def _release_registry(self) -> None:
        from mlflow.exceptions import MlflowException

        if self.number is None:
            return
        try:
            self.client.set_experiment_tag(self._experiment_id, RELEASED, "true")
            self.client.delete_experiment(self._experiment_id)  # hidden from the UI, its name still taken
        except MlflowException as exc:  # it expires by itself; say so rather than fail a done promotion
            log.warning("Could not release the promotion lock (%s): it expires after its lease.", exc)
        self.number = None

    # -- the file lock --------------------------------------------------------------------------------
    def _acquire_file(self, deadline: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the lock's lifetime
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._file = handle
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    handle.close()
                    raise RegistryBusy("Another promotion on this machine holds the registry lock: try again in a minute.") from None
                time.sleep(0.05)

    def _release_file(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    # -- context manager --------------------------------------------------------------------------
    def __enter__(self) -> RegistryLock:
        self._thread_lock.acquire()
        if self._depth == 0:
            deadline = time.monotonic() + self.wait_seconds
            try:
                self._acquire_file(deadline)
                self._acquire_registry(deadline)
            except BaseException:
                self._release_file()
                self._thread_lock.release()
                raise
        self._depth += 1
        return self

    def __exit__(self, *exc) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                try:
                    self._release_registry()
                finally:
                    self._release_file()
        finally:
            self._thread_lock.release()
