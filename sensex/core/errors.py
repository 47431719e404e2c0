"""The project's own exception types.

Every message is one sentence that says what to do next; the CLI prints it and exits non-zero,
the API maps it to a 4xx/503 status.
"""


class SensexError(Exception):
    """Base class: an error the user can act on."""

    exit_code = 2
    http_status = 400

    def __str__(self) -> str:
        # Messages often quote a URL or a library's error that quotes one: never its password.
        from sensex.core.redaction import redact_text

        return redact_text(super().__str__())


class ConfigError(SensexError):
    """Bad option, preset or environment value."""


class DataSourceError(SensexError):
    """A source could not deliver data (network down, bad files)."""

    http_status = 503


class DataError(SensexError):
    """The stored data cannot support the request (too short, missing members, empty)."""

    http_status = 422


class NoStoreError(DataError):
    """Nothing has been stored yet."""

    http_status = 503


class ModelNotFoundError(SensexError):
    """No trained or production model exists."""

    http_status = 503


class NoProductionModel(ModelNotFoundError):
    """No version holds the production alias (the forecast then falls back to a labelled baseline)."""


class NoMemberForecasts(SensexError):
    """The served model has no member or sector forecasts (an older bundle, or the baseline)."""

    http_status = 404


class PromotionRejected(SensexError):
    """A model version failed the promotion gate."""

    http_status = 409


class CorruptModelError(ModelNotFoundError):
    """A model's files exist but fail their checks (checksum, unreadable JSON, bad ONNX graph)."""


class RegistryBusy(SensexError):
    """Another promotion or rollback holds the registry lock."""

    http_status = 409


class AlertDeliveryError(SensexError):
    """An alert could not be delivered (webhook down or refusing, SMTP server unreachable)."""

    http_status = 502


class DailyJobFailed(SensexError):
    """A step of `sensex daily` failed (its JSON summary on stdout says which); exit 1, not 2."""

    exit_code = 1
    http_status = 500

class DateError(ConfigError):
    """A date a user gave that is malformed, impossible, or outside what the data can answer."""

    http_status = 422


class StorageError(SensexError):
    """SENSEX_HOME (or a file in it) cannot be written: read-only, not a directory, disk full."""

    exit_code = 1
    http_status = 503


def storage_error(exc: OSError, home) -> StorageError:
    """One sentence for an OSError met while reading or writing under SENSEX_HOME."""
    import errno
    import os

    path = exc.filename or home
    if exc.errno == errno.ENOSPC:
        return StorageError(f"The disk holding {path} is full: free some space, or set SENSEX_HOME to a"
                            " directory on another disk.")
    reason = exc.strerror or type(exc).__name__
    target = f"write {path}"
    if exc.filename and not os.path.exists(exc.filename):  # e.g. a temporary file it could not create
        target = f"create files in {os.path.dirname(exc.filename) or home}"
    return StorageError(f"Cannot {target} ({reason}): make SENSEX_HOME ({home}) writable, or set"
                        " SENSEX_HOME to a writable directory.")


class RegistryUnavailable(ModelNotFoundError):
    """The tracking store cannot be asked which version is in production (server down, unreadable
    database): a running server keeps the model it has; a starting one uses the pointer file."""


def unexpected_sentence(exc: Exception, settings_of) -> str:
    """One sentence for an error no code path expected, for the CLI and its child processes.
    `settings_of` is called only for a read-only store, to name SENSEX_HOME (settings are not
    read here: this module stays a leaf)."""
    text = " ".join(str(exc).split())
    if is_disk_full(text):
        settings = settings_of()
        return (f"The disk holding {settings.home} is full: free some space, or set SENSEX_HOME to a directory on"
                " another disk.")
    if "readonly database" in text or "read-only file system" in text.lower():
        settings = settings_of()
        return (f"The MLflow store {settings.tracking_uri} cannot be written: make SENSEX_HOME ({settings.home})"
                " writable, or set SENSEX_HOME to a writable directory.")
    first = text.split(". ")[0][:300] or type(exc).__name__
    return (f"{type(exc).__name__}: {first} (this is unexpected: rerun with SENSEX_LOG_LEVEL=DEBUG for the"
            " traceback and report it).")


DISK_FULL = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(text: str) -> bool:
    """True when an error's text (sqlite's, an OSError's, MLflow's wrapping of either) says the disk is full."""
    lowered = text.lower()
    return any(phrase in lowered for phrase in DISK_FULL)
