"""A record the vendor refuses keeps the vendor's reason, shows in the run's report, and is not
sent again until something about the contact changes."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import httpx
import pytest

from syncd.sandbox.generate import generate
from tests.support.e2e import Account, write_calls

pytestmark = pytest.mark.anyio

SEGMENT_WRITE = re.compile(r"/lists/[^/]+/segments/[^/]+$")


class ForgetFirstTagged(httpx.AsyncBaseTransport):
    """Between syncd's pull and its push, the person first tagged is erased in Mailchimp (as
    if someone deleted them by hand): Mailchimp then refuses that one member of the batch."""

    def __init__(self, inner: httpx.AsyncBaseTransport, list_id: str) -> None:
        self.inner = inner
        self.list_id = list_id
        self.forgotten: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if (
            self.forgotten is None
            and request.method == "POST"
            and SEGMENT_WRITE.search(request.url.path)
        ):
            body = json.loads(request.content or b"{}")
            if body.get("members_to_add"):
                self.forgotten = body["members_to_add"][0]
                digest = hashlib.md5(self.forgotten.encode()).hexdigest()
                erase = httpx.Request(
                    "POST",
                    request.url.copy_with(
                        path=f"/3.0/lists/{self.list_id}/members/{digest}/actions/delete-permanent"
                    ),
                    headers={"authorization": request.headers["authorization"]},
                )
                answer = await self.inner.handle_async_request(erase)
                await answer.aread()
                assert answer.status_code == 204, answer.status_code
        return await self.inner.handle_async_request(request)


async def test_a_refused_record_is_reported_and_not_resent_until_it_changes(tmp_path: Path) -> None:
    account = Account.create(generate(120, seed=5), tmp_path)
    mailchimp = account.world.sandboxes["mailchimp"]
    forget: list[ForgetFirstTagged] = []

    def wrap(tool: str, inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        if tool != "mailchimp":
            return inner
        forget.append(ForgetFirstTagged(inner, mailchimp.list_id))  # type: ignore[attr-defined]
        return forget[-1]

    first = await account.run(full=True, wrap=wrap)
    email = forget[0].forgotten
    assert email is not None
    rejections = first.pushed["mailchimp"]["rejections"]
    # every change for that member (one per tag it should get) is refused, with a reason
    assert {r["email"] for r in rejections} == {email}
    assert all(r["reason"] for r in rejections)  # Mailchimp's words, kept
    assert first.pushed["mailchimp"]["rejected"] == len(rejections)
    assert first.pushed["mailchimp"]["acknowledged"] > 0  # the rest of the batch landed

    # nothing about the contact changed: the refused add is not sent again
    second = await account.run()
    assert write_calls(second) == 0

    # the contact changes (a new name in HubSpot): the add is tried again
    hubspot = account.world.sandboxes["hubspot"]
    contact_id = (
        next(r.remote_id for r in account.identities("hubspot") if r.email == email)
        if any(r.email == email for r in account.identities("hubspot"))
        else None
    )
    if contact_id is None:
        pytest.skip("the refused contact is not in HubSpot in this population")
    async with httpx.AsyncClient(
        transport=hubspot.transport(),
        base_url=hubspot.base_url,
        headers={"authorization": f"Bearer {hubspot.api_key}"},  # type: ignore[attr-defined]
    ) as client:
        changed = await client.post(
            "/crm/v3/objects/contacts/batch/update",
            json={"inputs": [{"id": contact_id, "properties": {"firstname": "Renamed"}}]},
        )
        assert changed.status_code == 200, changed.text
    third = await account.run()
    assert third.api["mailchimp"]["write_calls"] >= 1
    assert {r["email"] for r in third.pushed["mailchimp"]["rejections"]} == {email}
