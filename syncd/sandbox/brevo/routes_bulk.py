"""Bulk writes: ``POST /v3/contacts/batch`` (deprecated by Brevo on 2026-10-30, still served
for old clients) and ``POST /v3/contacts/import`` (its replacement, processed at once here).

Import semantics as the docs state them: rows are matched on email; unknown attributes are
ignored; ``updateExistingContacts`` (default true) lets existing contacts be updated;
``emptyContactsAttributes`` lets an empty value erase (a key absent from a JSON row is never
touched); ``emailBlacklist`` true blacklists every row, false leaves blacklisting as it is;
contacts join ``listIds`` (or ``newList``) except where the consent rule refuses it.
Rows without a syntactically valid email are skipped, as Brevo's import report does.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from syncd.sandbox.brevo.common import (
    bad_request,
    empty,
    json,
    not_found,
    on_body_error,
)
from syncd.sandbox.brevo.limits import BrevoLimits
from syncd.sandbox.brevo.models import (
    AttributeValue,
    BatchContactItem,
    BatchUpdateBody,
    ImportBody,
    ImportRow,
    ProcessOut,
)
from syncd.sandbox.brevo.state import BrevoState, Contact
from syncd.sandbox.harness import parse_body

Handler = Callable[[Request], Awaitable[Response]]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BulkRoutes:
    def __init__(self, state: BrevoState, limits: BrevoLimits) -> None:
        self.state = state
        self.limits = limits

    def table(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/v3/contacts/batch", self.batch_update, ["POST"]),
            ("/v3/contacts/import", self.import_contacts, ["POST"]),
        ]

    # --- batch (deprecated) ----------------------------------------------------------------

    def _batch_target(self, item: BatchContactItem) -> Contact:
        given = [k for k in (item.email, item.id, item.sms) if k is not None]
        if len(given) != 1:
            raise bad_request("Pass exactly one identifier (email, id or sms) per contact")
        if item.email is not None:
            found = self.state.find_email(item.email)
        elif item.id is not None:
            found = self.state.contacts.get(item.id)
        else:
            found = self.state.find(str(item.sms), "phone_id")
        if found is None:
            raise not_found(f"Contact does not exist: {given[0]}")
        return found

    async def batch_update(self, request: Request) -> Response:
        body = await parse_body(request, BatchUpdateBody, on_body_error)
        items = body.contacts or []
        if not items:
            raise bad_request("contacts is required", "missing_parameter")
        if len(items) > self.limits.batch_update_max:
            raise bad_request(
                f"You can pass a maximum of {self.limits.batch_update_max} contacts in one request"
            )
        # validated as a whole first: one unknown contact refuses the request
        targets = [self._batch_target(item) for item in items]
        for item in items:
            for list_id in (item.list_ids or []) + (item.unlink_list_ids or []):
                if list_id not in self.state.lists:
                    raise not_found(f"List ID {list_id} does not exist")
        for contact, item in zip(targets, items, strict=True):
            changed = self.state.set_attributes(contact, item.attributes or {})
            if item.email_blacklisted is not None:
                changed |= contact.email_blacklisted != item.email_blacklisted
                contact.email_blacklisted = item.email_blacklisted
            for list_id in item.list_ids or []:
                changed |= self.state.join(contact, list_id)
            for list_id in item.unlink_list_ids or []:
                if list_id in contact.list_ids:
                    contact.list_ids.discard(list_id)
                    changed = True
            if changed:
                self.state.touch(contact)
        return empty()

    # --- import ----------------------------------------------------------------------------

    async def import_contacts(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > self.limits.import_body_max_bytes:
            raise bad_request("Maximum allowed body size is 10MB")
        body = await parse_body(request, ImportBody, on_body_error)
        sources = [s for s in (body.file_url, body.file_body, body.json_body) if s is not None]
        if len(sources) != 1:
            raise bad_request(
                "Pass exactly one of fileUrl, fileBody or jsonBody", "missing_parameter"
            )
        if body.file_url is not None:
            raise bad_request("fileUrl is not reachable")
        list_ids = self._import_lists(body)
        rows = body.json_body if body.json_body is not None else _csv_rows(body.file_body or "")
        for row in rows:
            self._import_row(row, body, list_ids)
        process = self.state.new_id("process")
        self.state.processes[process] = "IMPORTUSER"
        return json(ProcessOut(process_id=process).dump(), status=202)

    def _import_lists(self, body: ImportBody) -> list[int]:
        if body.new_list is not None:
            folder = body.new_list.folder_id or 1
            if folder not in self.state.folders:
                raise not_found("Folder ID does not exist")
            return [self.state.add_list(body.new_list.list_name, folder).id]
        if not body.list_ids:
            raise bad_request("listIds or newList is required", "missing_parameter")
        unknown = [i for i in body.list_ids if i not in self.state.lists]
        if unknown:
            raise not_found(f"List ID(s) {unknown} do not exist")
        return list(body.list_ids)

    def _import_row(self, row: ImportRow, body: ImportBody, list_ids: list[int]) -> None:
        attributes = dict(row.attributes or {})
        email = row.email or attributes.pop("EMAIL", None)
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            return
        contact = self.state.find_email(email)
        if contact is None:
            contact = self.state.add_contact(email.strip().lower())
            self.state.set_attributes(contact, attributes)
            changed = True
        elif body.update_existing_contacts:
            changed = self.state.set_attributes(
                contact, attributes, empty_erases=body.empty_contacts_attributes
            )
        else:
            changed = False
        if body.email_blacklist and not contact.email_blacklisted:
            contact.email_blacklisted = True
            changed = True
        if body.sms_blacklist and not contact.sms_blacklisted:
            contact.sms_blacklisted = True
            changed = True
        for list_id in list_ids:
            changed |= self.state.join(contact, list_id)
        if changed:
            self.state.touch(contact)


def _csv_rows(text: str) -> list[ImportRow]:
    """fileBody: semicolon-separated CSV whose header names the attributes (EMAIL first)."""
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if not header:
        raise bad_request("fileBody is empty")
    names = [h.strip().upper() for h in header]
    if "EMAIL" not in names:
        raise bad_request("fileBody must have an EMAIL column")
    rows = []
    for values in reader:
        cells = dict(zip(names, values, strict=False))
        email = cells.pop("EMAIL", "")
        attributes: dict[str, AttributeValue] = dict(cells)
        rows.append(ImportRow(email=email, attributes=attributes))
    return rows
