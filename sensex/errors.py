"""The project's own exception types.

Every message is one sentence that says what to do next; the CLI prints it and exits non-zero,
the API maps it to a 4xx/503 status.
"""


class SensexError(Exception):
    """Base class: an error the user can act on."""

    exit_code = 2
    http_status = 400


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


class PromotionRejected(SensexError):
    """A model version failed the promotion gate."""

    http_status = 409


class CorruptModelError(ModelNotFoundError):
    """A model's files exist but fail their checks (checksum, unreadable JSON, bad ONNX graph)."""
