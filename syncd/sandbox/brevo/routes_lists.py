"""Brevo lists, list memberships, folders, attributes and processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from syncd.sandbox.brevo.common import (
    bad_request,
    contact_out,
    empty,
    json,
    list_out,
    not_found,
    on_body_error,
    parse_query,
    path_int,
)
from syncd.sandbox.brevo.limits import BrevoLimits
from syncd.sandbox.brevo.models import (
    AttributeOut,
    AttributesOut,
    ContactsPage,
    CreateAttributeBody,
    CreatedOut,
    CreateFolderBody,
    CreateListBody,
    FolderOut,
    FoldersPage,
    ListContactsQuery,
    ListMembershipBody,
    ListsPage,
    MembershipContacts,
    MembershipOut,
    PageQuery,
    ProcessStatusOut,
)
from syncd.sandbox.brevo.state import Attribute, BrevoState, Contact, ContactList
from syncd.sandbox.harness import parse_body

Handler = Callable[[Request], Awaitable[Response]]

ATTRIBUTE_CATEGORIES = ("normal", "transactional", "category", "calculated", "global")


class ListRoutes:
    def __init__(self, state: BrevoState, limits: BrevoLimits) -> None:
        self.state = state
        self.limits = limits

    def table(self) -> list[tuple[str, Handler, list[str]]]:
        return [
            ("/v3/contacts/lists", self.get_lists, ["GET"]),
            ("/v3/contacts/lists", self.create_list, ["POST"]),
            ("/v3/contacts/lists/{listId}", self.get_list, ["GET"]),
            ("/v3/contacts/lists/{listId}/contacts", self.list_contacts, ["GET"]),
            ("/v3/contacts/lists/{listId}/contacts/add", self.add_to_list, ["POST"]),
            ("/v3/contacts/lists/{listId}/contacts/remove", self.remove_from_list, ["POST"]),
            ("/v3/contacts/folders", self.get_folders, ["GET"]),
            ("/v3/contacts/folders", self.create_folder, ["POST"]),
            ("/v3/contacts/attributes", self.get_attributes, ["GET"]),
            ("/v3/contacts/attributes/{category}/{name}", self.create_attribute, ["POST"]),
            ("/v3/contacts/attributes/{category}/{name}", self.update_attribute, ["PUT"]),
            ("/v3/contacts/attributes/{category}/{name}", self.delete_attribute, ["DELETE"]),
            ("/v3/processes/{processId}", self.get_process, ["GET"]),
        ]

    # --- lists -----------------------------------------------------------------------------

    def _list(self, request: Request) -> ContactList:
        found = self.state.lists.get(path_int(request, "listId", "listId"))
        if found is None:
            raise not_found("List ID does not exist")
        return found

    async def get_lists(self, request: Request) -> Response:
        query = parse_query(request, PageQuery)
        if query.limit > self.limits.lists_page_max:
            raise bad_request("Limit exceeds max value")
        ordered = sorted(self.state.lists.values(), key=lambda lst: lst.id)
        if query.sort == "desc":
            ordered.reverse()
        window = ordered[query.offset : query.offset + query.limit]
        page = ListsPage(lists=[list_out(self.state, lst) for lst in window], count=len(ordered))
        return json(page.dump())

    async def create_list(self, request: Request) -> Response:
        body = await parse_body(request, CreateListBody, on_body_error)
        if body.folder_id not in self.state.folders:
            raise not_found("Folder ID does not exist")
        created = self.state.add_list(body.name, body.folder_id)
        return json(CreatedOut(id=created.id).dump(), status=201)

    async def get_list(self, request: Request) -> Response:
        return json(list_out(self.state, self._list(request)).dump())

    async def list_contacts(self, request: Request) -> Response:
        lst = self._list(request)
        query = parse_query(request, ListContactsQuery)
        if query.limit > self.limits.list_contacts_page_max:
            raise bad_request("Limit exceeds max value")
        chosen = self.state.members(lst.id)
        if query.modified_since is not None:
            since = query.modified_since
            chosen = [c for c in chosen if c.modified_at > since]
        chosen.sort(key=lambda c: (c.created_at, c.id), reverse=query.sort == "desc")
        window = chosen[query.offset : query.offset + query.limit]
        page = ContactsPage(
            contacts=[contact_out(self.state, c) for c in window], count=len(chosen)
        )
        return json(page.dump())

    def _targets(self, body: ListMembershipBody) -> list[tuple[str | int, Contact | None]]:
        given = [g for g in (body.emails, body.ids, body.ext_ids) if g]
        if len(given) != 1:
            raise bad_request("Pass exactly one of emails, ids or extIds", "missing_parameter")
        cap = self.limits.list_membership_max
        if len(given[0]) > cap:
            raise bad_request(f"You can pass a maximum of {cap} contacts in one request")
        if body.emails:
            return [(e, self.state.find_email(e)) for e in body.emails]
        if body.ids:
            return [(i, self.state.contacts.get(i)) for i in body.ids]
        return [(e, self.state.find(e, "ext_id")) for e in body.ext_ids or []]

    async def add_to_list(self, request: Request) -> Response:
        lst = self._list(request)
        body = await parse_body(request, ListMembershipBody, on_body_error)
        if body.all_:
            raise bad_request("all is only allowed when removing contacts")
        success: list[str | int] = []
        failure: list[str | int] = []
        for key, contact in self._targets(body):
            # a blacklisted contact, or one who left this list, is refused (consent rule)
            if contact is None or not self.state.may_join(contact, lst.id):
                failure.append(key)
                continue
            if self.state.join(contact, lst.id):
                self.state.touch(contact)
            success.append(key)
        if not success:
            raise bad_request("Contact already in list and/or does not exist")
        return self._membership(success, failure)

    async def remove_from_list(self, request: Request) -> Response:
        lst = self._list(request)
        body = await parse_body(request, ListMembershipBody, on_body_error)
        if body.all_:
            members = self.state.members(lst.id)
            for member in members:
                member.list_ids.discard(lst.id)
                self.state.touch(member)
            process = self.state.new_id("process")
            self.state.processes[process] = "REMOVE_ALL_CONTACTS_FROM_LIST"
            out = MembershipOut(contacts=MembershipContacts(total=len(members), process_id=process))
            return json(out.dump(), status=202)
        success: list[str | int] = []
        failure: list[str | int] = []
        for key, contact in self._targets(body):
            if contact is None:
                failure.append(key)
                continue
            # like add, removal is idempotent: a contact already out counts as removed
            if lst.id in contact.list_ids:
                contact.list_ids.discard(lst.id)
                self.state.touch(contact)
            success.append(key)
        if not success:
            raise bad_request("Contact already removed from list and/or does not exist")
        return self._membership(success, failure)

    @staticmethod
    def _membership(success: list[str | int], failure: list[str | int]) -> Response:
        contacts = MembershipContacts.model_validate({"success": success, "failure": failure})
        return json(MembershipOut(contacts=contacts).dump(), status=201)

    # --- folders ---------------------------------------------------------------------------

    async def get_folders(self, request: Request) -> Response:
        query = parse_query(request, PageQuery)
        if query.limit > self.limits.folders_page_max:
            raise bad_request("Limit exceeds max value")
        ordered = sorted(self.state.folders.values(), key=lambda f: f.id)
        if query.sort == "desc":
            ordered.reverse()
        out = []
        for folder in ordered[query.offset : query.offset + query.limit]:
            members = {
                c.id
                for lst in self.state.lists.values()
                if lst.folder_id == folder.id
                for c in self.state.members(lst.id)
            }
            blacklisted = sum(1 for cid in members if self.state.contacts[cid].email_blacklisted)
            out.append(
                FolderOut(
                    id=folder.id,
                    name=folder.name,
                    unique_subscribers=len(members),
                    total_blacklisted=blacklisted,
                    total_subscribers=len(members) - blacklisted,
                )
            )
        return json(FoldersPage(folders=out, count=len(ordered)).dump())

    async def create_folder(self, request: Request) -> Response:
        body = await parse_body(request, CreateFolderBody, on_body_error)
        return json(CreatedOut(id=self.state.add_folder(body.name).id).dump(), status=201)

    # --- attributes ------------------------------------------------------------------------

    async def get_attributes(self, request: Request) -> Response:
        out = [
            AttributeOut(name=a.name, category=a.category, type=a.type, enumeration=a.enumeration)
            for a in self.state.attributes.values()
        ]
        return json(AttributesOut(attributes=out).dump())

    def _attribute_path(self, request: Request) -> tuple[str, str]:
        category = str(request.path_params["category"])
        if category not in ATTRIBUTE_CATEGORIES:
            raise bad_request(f"attributeCategory must be one of {', '.join(ATTRIBUTE_CATEGORIES)}")
        return category, str(request.path_params["name"]).upper()

    def _existing_attribute(self, request: Request) -> Attribute:
        category, name = self._attribute_path(request)
        found = self.state.attributes.get(name)
        if found is None or found.category != category:
            raise not_found("Attribute does not exist")
        return found

    async def create_attribute(self, request: Request) -> Response:
        category, name = self._attribute_path(request)
        body = await parse_body(request, CreateAttributeBody, on_body_error)
        if name in self.state.attributes:
            raise bad_request("Attribute name must be unique", "duplicate_parameter")
        if category == "category" and not body.enumeration:
            raise bad_request(
                "enumeration is required for category attributes", "missing_parameter"
            )
        kind = body.type or ("category" if category == "category" else "text")
        enumeration = [e.model_dump() for e in body.enumeration] if body.enumeration else None
        self.state.attributes[name] = Attribute(name, category, kind, enumeration)
        return empty(201)

    async def update_attribute(self, request: Request) -> Response:
        attribute = self._existing_attribute(request)
        body = await parse_body(request, CreateAttributeBody, on_body_error)
        if body.enumeration:
            attribute.enumeration = [e.model_dump() for e in body.enumeration]
        return empty()

    async def delete_attribute(self, request: Request) -> Response:
        attribute = self._existing_attribute(request)
        del self.state.attributes[attribute.name]
        for contact in self.state.contacts.values():
            if contact.attributes.pop(attribute.name, None) is not None:
                self.state.touch(contact)
        return empty()

    # --- processes (an endpoint outside /v3/contacts: 100 per hour) ------------------------

    async def get_process(self, request: Request) -> Response:
        process = path_int(request, "processId", "processId")
        name = self.state.processes.get(process)
        if name is None:
            raise not_found("Process does not exist")
        return json(ProcessStatusOut(id=process, status="completed", name=name).dump())
