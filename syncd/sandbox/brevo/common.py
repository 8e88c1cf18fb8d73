"""Helpers every Brevo route uses: errors in Brevo's shape, query validation, serialisers."""

from __future__ import annotations

from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncd.sandbox.brevo.models import ContactOut, ErrorOut, ListOut
from syncd.sandbox.brevo.state import BrevoState, Contact, ContactList
from syncd.sandbox.harness import SandboxHTTPError

Q = TypeVar("Q", bound=BaseModel)


def brevo_error(status: int, code: str, message: str) -> SandboxHTTPError:
    return SandboxHTTPError(status, ErrorOut(code=code, message=message).dump())


def bad_request(message: str, code: str = "invalid_parameter") -> SandboxHTTPError:
    return brevo_error(400, code, message)


def not_found(message: str) -> SandboxHTTPError:
    return brevo_error(404, "document_not_found", message)


def json(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def empty(status: int = 204) -> Response:
    return Response(status_code=status)


def _is_list_field(annotation: Any) -> bool:
    if get_origin(annotation) is list:
        return True
    return any(get_origin(arg) is list for arg in get_args(annotation))


def parse_query(request: Request, model: type[Q]) -> Q:
    """Validate query parameters; list parameters may repeat or be comma-separated."""
    data: dict[str, Any] = {}
    aliases = {(f.alias or name): f for name, f in model.model_fields.items()}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        field = aliases.get(key) or model.model_fields.get(key)
        if field is not None and _is_list_field(field.annotation):
            data[key] = [part for value in values for part in value.split(",") if part]
        else:
            data[key] = values[-1]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "query"
        raise bad_request(f"{where}: {first['msg']}") from None


def on_body_error(message: str) -> SandboxHTTPError:
    return bad_request(message)


def path_int(request: Request, name: str, what: str) -> int:
    raw = str(request.path_params[name])
    if not raw.isdigit():
        raise bad_request(f"{what} must be a positive integer")
    return int(raw)


def contact_out(
    state: BrevoState, contact: Contact, statistics: dict[str, Any] | None = None
) -> ContactOut:
    return ContactOut(
        id=contact.id,
        email=contact.email,
        email_blacklisted=contact.email_blacklisted,
        sms_blacklisted=contact.sms_blacklisted,
        created_at=state.fmt(contact.created_at),
        modified_at=state.fmt(contact.modified_at),
        list_ids=sorted(contact.list_ids),
        list_unsubscribed=sorted(contact.list_unsubscribed),
        attributes=dict(contact.attributes),
        statistics=statistics,
    )


def list_out(state: BrevoState, lst: ContactList) -> ListOut:
    members = state.members(lst.id)
    blacklisted = sum(1 for c in members if c.email_blacklisted)
    return ListOut(
        id=lst.id,
        name=lst.name,
        folder_id=lst.folder_id,
        unique_subscribers=len(members),
        total_blacklisted=blacklisted,
        total_subscribers=len(members) - blacklisted,
        created_at=state.fmt(lst.created_at),
    )
