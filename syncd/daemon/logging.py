"""Structured logs for the daemon: text for people, JSON lines for collectors, secrets never.

The engine's loggers (``syncd.sync``: one line per run phase, ``syncd.http``: one per retry)
pass context as ``extra=`` fields; the JSON formatter writes every such field. The redaction
filter sits on the handler, so it sees every record that reaches it, whichever logger made it,
and replaces each configured secret (API keys, the admin token, the store URL's password) and
anything that looks like a credential header.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"
#: secrets shorter than this are not searched for (they would redact ordinary words)
MIN_SECRET_LEN = 6
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_CREDENTIAL_PATTERNS = [
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+)[^\s\"',}]+"),
    re.compile(r"(?i)((?:api[-_]?key|token|password)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"),
    re.compile(r"(?i)(://[^/\s:@]+:)[^@/\s]+(@)"),
]


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record's message, arguments and extra fields."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        # longest first: a secret that contains another is replaced whole
        found = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN}
        self.secrets = sorted(found, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _CREDENTIAL_PATTERNS:
            text = pattern.sub(
                lambda m: m.group(1) + REDACTED + (m.group(2) if m.lastindex == 2 else ""), text
            )
        return text

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._value(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, self._value(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then every ``extra`` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry:
                entry[key] = value
        if record.exc_text:
            entry["exc"] = record.exc_text
        elif record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...``: the extra fields stay visible."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = [
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS and v is not None
        ]
        return f"{line} {' '.join(extra)}" if extra else line


_HANDLER_NAME = "syncd-daemon"


def setup_logging(
    level: str = "INFO",
    fmt: str = "text",
    *,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> RedactingFilter:
    """Install the daemon's one handler on the root logger (replacing an earlier one)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    redactor = RedactingFilter(secrets)
    handler.addFilter(redactor)
    root.addHandler(handler)
    root.setLevel(level)
    # request lines from the HTTP client and the admin server are noise at INFO
    for noisy in ("httpx", "httpcore", "uvicorn.access", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return redactor


def config_secrets(config: Any) -> list[str]:
    """Every secret a config resolved: API keys, the admin token, the store URL's password."""
    from sqlalchemy import make_url

    found: list[str] = []
    for account in config.accounts:
        for name in account.connectors:
            try:
                found.append(account.api_key(name))
            except Exception:
                continue
    if config.admin_token:
        found.append(config.admin_token)
    try:
        password = make_url(config.store_url).password
    except Exception:
        password = None
    if password:
        found.append(str(password))
    return found
