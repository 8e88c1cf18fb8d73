"""HubSpot's error body and the helpers routes share to answer in it."""

from __future__ import annotations

import itertools
import json
from typing import Any

from starlette.requests import Request

from syncd.sandbox.harness import SandboxHTTPError

_counter = itertools.count(1)


def correlation_id() -> str:
    """A UUID-shaped id, deterministic per process so test runs are repeatable."""
    return f"00000000-5a4d-4b0c-8000-{next(_counter):012x}"


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """``{"status": "error", "message", "correlationId", "category", ...}`` as HubSpot sends."""
    return {
        "status": "error",
        "message": message,
        "correlationId": correlation_id(),
        "category": category,
        **extra,
    }


def hubspot_error(status: int, message: str, category: str, **extra: Any) -> SandboxHTTPError:
    return SandboxHTTPError(status, error_body(message, category, **extra))


def validation_error(message: str) -> SandboxHTTPError:
    return hubspot_error(400, message, "VALIDATION_ERROR")


def too_many_inputs(limit: int) -> SandboxHTTPError:
    return validation_error(
        f"The maximum number of inputs supported in a batch request is {limit}. "
        "Please reduce the number of items and try again"
    )


def bad_json(detail: str) -> SandboxHTTPError:
    return validation_error(f"Invalid input JSON on line 1, column 1: {detail}")


def property_errors(problems: list[tuple[str, str, str]]) -> SandboxHTTPError:
    """HubSpot's whole-batch refusal of bad property values: (name, code, message)."""
    detail = [
        {
            "isValid": False,
            "message": msg,
            "error": code,
            "name": name,
            "localizedErrorMessage": msg,
        }
        for name, code, msg in problems
    ]
    return validation_error(f"Property values were not valid: {json.dumps(detail)}")


def not_found(message: str) -> SandboxHTTPError:
    return hubspot_error(404, message, "OBJECT_NOT_FOUND")


def standard_error(category: str, message: str, ids: list[str]) -> dict[str, Any]:
    """One entry of a 207 Multi-Status ``errors`` array."""
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def query_list(request: Request, name: str) -> list[str]:
    """A multi-valued query parameter, repeated or comma-separated (HubSpot takes both)."""
    out: list[str] = []
    for raw in request.query_params.getlist(name):
        out.extend(part.strip() for part in raw.split(",") if part.strip())
    return out


def query_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation_error(f"Unable to parse query parameter {name}: {raw!r}") from None
