"""Check recorded sandbox exchanges against HubSpot's official OpenAPI specs (openapi-core).

The specs live outside the repo (``<repo>/../shared/api-specs/hubspot``; their licence keeps
them out of it), so everything here is a no-op when that folder is absent: callers ask
:func:`spec_dir` first and skip.

Only bodies are checked: request bodies against each operation's ``requestBody`` and response
bodies against the schema for their status (or ``default``). HubSpot's published specs are
known to disagree with the live API in places; those are listed in :data:`KNOWN_DEVIATIONS`
with the reason we follow the live API, and reported apart from real mismatches.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from syncd.sandbox.harness import Exchange

REPO = Path(__file__).resolve().parents[2]
HOST_URL = "https://api.hubapi.com"
#: spec files whose operations syncd or its sandbox serve
SPEC_FILES = (
    "crm-contacts-v3.json",
    "crm-lists-v3.json",
    "crm-properties-v3.json",
    "communication-preferences-v3.json",
    "communication-preferences-v4.json",
    "events-v3.json",
    "webhooks-v3.json",
)


@dataclass(frozen=True)
class Deviation:
    """A place where HubSpot's spec and its live API disagree, and which one we follow."""

    path: str  # regex on the request path
    message: str  # regex on the validator's message
    why: str


KNOWN_DEVIATIONS = (
    Deviation(
        r"/search$",
        r"is not of type 'string'",
        "CRM search: the spec types `sorts` items as strings, the live API takes "
        '{"propertyName", "direction"} objects (HubSpot/hubspot-api-python#236, '
        "hubspot-api-nodejs#9); the connector sends objects",
    ),
    Deviation(
        r"^/crm/v3/objects/contacts",
        r"None (is not of type 'string'|for not nullable)",
        "CRM objects: the live API returns requested properties with no value as null; the "
        "spec's `properties` map has non-nullable string values",
    ),
)


@dataclass(frozen=True)
class Mismatch:
    method: str
    path: str
    status: int
    where: str  # "request" / "response"
    message: str
    known: Deviation | None = None

    def __str__(self) -> str:
        head = f"{self.method} {self.path} -> {self.status} [{self.where}]: {self.message}"
        return f"{head} (known: {self.known.why})" if self.known else head


def spec_dir() -> Path | None:
    """``<repo>/../shared/api-specs/hubspot`` if it is there, else None."""
    folder = (REPO / ".." / "shared" / "api-specs" / "hubspot").resolve()
    return folder if folder.is_dir() else None


@cache
def _validators(folder: str) -> list[tuple[Any, Any]]:
    from jsonschema_path import SchemaPath
    from openapi_core.validation.request.validators import V30RequestBodyValidator
    from openapi_core.validation.response.validators import V30ResponseDataValidator

    out: list[tuple[Any, Any]] = []
    for name in SPEC_FILES:
        spec = SchemaPath.from_file_path(str(Path(folder) / name))
        # HubSpot declares its error bodies as ``*/*``; they are JSON
        extra: dict[str, Callable[[bytes], Any]] = {"*/*": _json_or_text}
        out.append(
            (
                V30RequestBodyValidator(spec, extra_media_type_deserializers=extra),
                V30ResponseDataValidator(spec, extra_media_type_deserializers=extra),
            )
        )
    return out


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _messages(errors: Iterable[Exception]) -> list[str]:
    out: list[str] = []
    for err in errors:
        details = getattr(err, "schema_errors", None) or getattr(
            getattr(err, "__cause__", None), "schema_errors", None
        )
        if details:
            out += [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in details]
        else:
            cause = err.__cause__
            out.append(f"{type(err).__name__}: {err}" + (f" ({cause})" if cause else ""))
    return out


def _path_not_found(errors: list[Exception]) -> bool:
    from openapi_core.templating.paths.exceptions import PathError

    return any(isinstance(e, PathError) for e in errors)


def _body(value: object) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode()
    return json.dumps(value).encode()


def check_exchange(exchange: Exchange, folder: Path) -> list[Mismatch]:
    from openapi_core.testing import MockRequest, MockResponse

    if exchange.status >= 500 or isinstance(exchange.response_body, str):
        return []  # injected faults and truncated bodies are not HubSpot's answers
    request = MockRequest(
        HOST_URL,
        exchange.method,
        exchange.path,
        args=dict(parse_qsl(exchange.query)),
        headers=exchange.request_headers,
        data=_body(exchange.request_body),
        content_type=exchange.request_headers.get("content-type", "application/json"),
    )
    response = MockResponse(
        _body(exchange.response_body) or b"",
        status_code=exchange.status,
        headers=exchange.response_headers,
        content_type=exchange.response_headers.get("content-type", "application/json"),
    )
    for request_validator, response_validator in _validators(str(folder)):
        req_errors = list(request_validator.iter_errors(request))
        if _path_not_found(req_errors):
            continue
        # a 204 is declared with an empty ``content`` map, which openapi-core reads as
        # "a body is required"; an empty map means no body
        no_body = exchange.status == 204 and exchange.response_body is None
        resp_errors = [] if no_body else list(response_validator.iter_errors(request, response))
        found = [("request", m) for m in _messages(req_errors) if exchange.request_body is not None]
        found += [("response", m) for m in _messages(resp_errors)]
        return [
            Mismatch(
                exchange.method,
                exchange.path,
                exchange.status,
                where,
                msg,
                _known(exchange.path, msg),
            )
            for where, msg in found
        ]
    return [
        Mismatch(
            exchange.method,
            exchange.path,
            exchange.status,
            "request",
            "no such operation in the specs",
        )
    ]


def _known(path: str, message: str) -> Deviation | None:
    for dev in KNOWN_DEVIATIONS:
        if re.search(dev.path, path) and re.search(dev.message, message):
            return dev
    return None


def check_log(exchanges: Iterable[Exchange], folder: Path) -> list[Mismatch]:
    """Every mismatch of every exchange, one entry per distinct (operation, message)."""
    seen: dict[tuple[str, str, int, str, str], Mismatch] = {}
    for exchange in exchanges:
        for m in check_exchange(exchange, folder):
            template = re.sub(r"/\d+", "/{id}", m.path)
            message = re.sub(r"(^|/)\d+(?=/)", r"\1{n}", m.message)
            seen.setdefault((m.method, template, m.status, m.where, message), m)
    return list(seen.values())
