"""Credentials out of anything shown or logged: one function for URLs, one for free text.

A URL can carry a secret in three places, and all three are used in practice:
- the user-info part: `redis://:secret@host`, `postgresql://user:secret@host/db`,
  `http://user:secret@mlflow:5000` (MLFLOW_TRACKING_URI), `https://token@host`;
- the query: `redis://host/0?password=secret` (redis-py reads it), `?pass=`, `?token=`,
  `?api_key=`, `?key=`, `?sig=`, `?secret=`, `?X-Amz-Signature=` and the like;
- the path, for webhook services whose URL is itself the credential: Slack
  (`hooks.slack.com/services/T../B../SECRET`), Discord (`discord.com/api/webhooks/ID/TOKEN`),
  Telegram (`api.telegram.org/botTOKEN/...`), Microsoft Teams (`*.webhook.office.com/webhookb2/...`),
  IFTTT (`/with/key/KEY`), and any `/hooks/...` or `/webhooks/...` path (Mattermost, Zapier, ...):
  the path after the service's fixed part is masked. Fragments are left as they are.

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
# Webhook services whose URL path is the credential (group 1 is kept, the rest of the path masked).
# Anchored on the service's host, they apply to free text too (a URL quoted without its scheme).
_END = r"[^?#\s'\"<>()\[\]{}]+"
_SERVICE_PATHS = [
    re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)" + _END, re.IGNORECASE),
    re.compile(r"((?:[a-z0-9-]+\.)?discord(?:app)?\.com/api(?:/v\d+)?/webhooks/)" + _END, re.IGNORECASE),
    re.compile(r"(api\.telegram\.org/(?:file/)?bot)[^/?#\s'\"<>()\[\]{}]+", re.IGNORECASE),
    re.compile(r"((?:outlook\.office(?:365)?\.com|[a-z0-9-]+\.webhook\.office\.com)/webhook(?:b2)?/)" + _END,
               re.IGNORECASE),
    re.compile(r"(maker\.ifttt\.com/trigger/[^/\s]+/with/key/)" + _END, re.IGNORECASE),
    re.compile(r"(/(?:hooks|webhooks)/)" + _END, re.IGNORECASE),
    # A Telegram bot token on any host (a local Bot API server): its shape, digits:secret, is unmistakable.
    re.compile(r"(/(?:file/)?bot)[0-9]{1,20}:[A-Za-z0-9_-]{20,}"),
]
# Inside a URL only (in free text they could be file paths): a path segment after /key/ or /token/.
_SECRET_SEGMENT = re.compile(r"(/(?:key|keys|token|tokens|secret|secrets|apikey|api_key)/)[^/?#\s]+", re.IGNORECASE)
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


def _redact_services(text: str) -> str:
    for pattern in _SERVICE_PATHS:
        text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
    return text


def _redact_path(path: str) -> str:
    return _SECRET_SEGMENT.sub(lambda m: f"{m.group(1)}{MASK}", _redact_services(path))


def _split(url: str) -> tuple[str, str, str] | None:
    """(scheme, authority and path, query and fragment) of `scheme://...`; None without a scheme."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    query_at = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    return scheme, rest[:query_at], rest[query_at:]


def redact_url(url: str | None) -> str | None:
    """`url` without user-info, credential query values or a webhook service's path token;
    None stays None."""
    if not url:
        return url
    parts = _split(url)
    if parts is None:
        return _redact_query(_redact_services(url))
    scheme, authority_and_path, tail = parts
    at = authority_and_path.rfind("@")
    if at >= 0:
        authority_and_path = f"{MASK}@{authority_and_path[at + 1:]}"
    return f"{scheme}://{_redact_path(authority_and_path)}{_redact_query(tail)}"


def url_secrets(url: str) -> list[str]:
    """Where `url` carries a credential, in words (empty when it carries none): what `redact_url`
    masks. Never the secret itself."""
    found = []
    parts = _split(url)
    authority_and_path, tail = (parts[1], parts[2]) if parts else ("", url)
    if "@" in authority_and_path:  # what redact_url masks: up to the last @ before the query
        found.append("user info before the host")
    for _, name, value in _QUERY_PAIR.findall(tail):
        if value and _SECRET_NAME.search(name):
            found.append(f"the query parameter {name!r}")
    if _redact_path(authority_and_path) != authority_and_path:
        found.append("a token in its path (the service's webhook URL is itself a secret)")
    return found


def redact_text(text: str) -> str:
    """Free text (an error message, a log line) with every URL in it redacted, webhook service
    URLs quoted without their scheme too."""
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    if "/" in text:
        text = _redact_services(text)
    if "=" not in text:
        return text
    text = _redact_query(text)
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
