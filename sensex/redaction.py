"""Credentials out of anything shown or logged: one function for URLs, one for free text.

A URL can carry a secret in three places, and all three are used in practice:
- the user-info part: `redis://:secret@host`, `postgresql://user:secret@host/db`,
  `http://user:secret@mlflow:5000` (MLFLOW_TRACKING_URI), `https://token@host`;
- the query: `redis://host/0?password=secret` (redis-py reads it), `?pass=`, `?token=`,
  `?api_key=`, `?secret=`, `?X-Amz-Signature=` and the like;
- nothing else we know of; fragments are left as they are.

The whole user-info is replaced (a user name alone can be a token), and every query value whose
name looks like a credential. When a password holds an unescaped `@` or `/`, the split is
ambiguous; we then redact up to the last `@` before the query, which may hide a little more
than the password but never less.

`install_log_redaction()` makes every log record pass through `redact_text`, whichever library
logs it (MLflow and redis-py put URLs into their error messages).
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"

# Query parameter names that carry secrets: matched as substrings, case-insensitively, so
# `password`, `db_password`, `pass`, `passwd`, `pwd`, `token`, `access_token`, `api_key`,
# `apikey`, `secret`, `client_secret`, `sig`, `signature`, `auth`, `credential(s)` all count.
_SECRET_NAME = re.compile(r"pass|pwd|token|secret|key|sig|auth|credential", re.IGNORECASE)
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#\s]+)=([^&;#\s]*)")
# A URL inside free text: scheme://... up to whitespace or a closing quote/bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{}]+")
# `password=...` outside a URL (a libpq DSN, a message): narrower names than in a query, so
# that our own `key=...` log fields stay readable.
_PAIR_IN_TEXT = re.compile(r"(?<![?&;\w])(\w*(?:pass|pwd|token|secret|api_?key)\w*)=([^\s&;,'\"]+)", re.IGNORECASE)


def _redact_query(text: str) -> str:
    def replace(match: re.Match) -> str:
        sep, name, value = match.groups()
        if value and _SECRET_NAME.search(name):
            return f"{sep}{name}={MASK}"
        return match.group(0)

    return _QUERY_PAIR.sub(replace, text)


def redact_url(url: str | None) -> str | None:
    """`url` without user-info and without credential query values; None stays None."""
    if not url:
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return _redact_query(url)
    query_at = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority_and_path, tail = rest[:query_at], rest[query_at:]
    at = authority_and_path.rfind("@")
    if at >= 0:
        authority_and_path = f"{MASK}@{authority_and_path[at + 1:]}"
    return f"{scheme}://{authority_and_path}{_redact_query(tail)}"


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it redacted."""
    if "://" not in text and "=" not in text:
        return text
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    return _PAIR_IN_TEXT.sub(lambda m: f"{m.group(1)}={MASK}", text)


_installed = False
_install_lock = threading.Lock()


def install_log_redaction() -> None:
    """Redact every log record of this process from now on (idempotent).

    A record factory rather than a handler filter: it applies to every logger and handler,
    including the ones uvicorn and MLflow configure after us.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a bad format string is the logging module's to report
                return record
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, ()
            if record.exc_info and record.exc_info[1] is not None:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = redact_text(text)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
