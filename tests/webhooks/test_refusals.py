"""Forged, replayed, stale and malformed deliveries are refused with the right status and leave
every table of the store exactly as it was."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from syncd.sandbox.generate import generate
from syncd.store.models import Contact, Identity
from syncd.webhooks.hubspot import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from tests.support.hooked import HOST, SECRETS, URLS, Hooked, dump_store, hooked_account
from tests.support.hooked import start_hooked as start

pytestmark = pytest.mark.anyio
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[Hooked]:
    account, env = hooked_account(generate(40, seed=9), tmp_path)
    report = await account.run(full=True)
    assert report.status == "ok", report.errors
    started = await start(account, env)
    yield started
    await started.close()


def _someone(hooked: Hooked, tool: str) -> tuple[str, str]:
    with hooked.engine.connect() as conn:
        row = conn.execute(
            select(Contact.email, Identity.remote_id)
            .join(Identity, Identity.contact_id == Contact.id)
            .where(Identity.tool == tool)
            .order_by(Contact.id)
        ).first()
    assert row is not None
    return row.email, row.remote_id


def _mailchimp_form(hooked: Hooked, email: str, **overrides: str) -> bytes:
    fired = hooked.account.clock.now().strftime("%Y-%m-%d %H:%M:%S")
    fields = {
        "type": "unsubscribe",
        "fired_at": fired,
        "data[action]": "unsub",
        "data[reason]": "manual",
        "data[email]": email,
        "data[list_id]": "5a1b2c3d4e",
        **overrides,
    }
    return urlencode(fields).encode()


def _hubspot(hooked: Hooked, object_id: str, *, secret: str, age_s: float = 0) -> dict[str, object]:
    body = json.dumps(
        [
            {
                "eventId": 77,
                "subscriptionId": 5,
                "portalId": 1,
                "occurredAt": 1,
                "subscriptionType": "contact.propertyChange",
                "objectId": int(object_id),
                "propertyName": "hs_email_optout",
                "propertyValue": "true",
            }
        ]
    ).encode()
    stamp = str(int((hooked.account.clock.now().timestamp() - age_s) * 1000))
    headers = {
        "content-type": "application/json",
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, "POST", URLS["hubspot"], body, stamp),
    }
    return {"content": body, "headers": headers}


async def test_refused_deliveries_change_nothing(hooked: Hooked) -> None:
    email, _ = _someone(hooked, "mailchimp")
    _, hubspot_id = _someone(hooked, "hubspot")
    before = dump_store(hooked.engine)
    good_form = _mailchimp_form(hooked, email)
    wrong_path = URLS["mailchimp"].replace(SECRETS["mailchimp"], "guessed-secret")
    brevo_body = json.dumps({"event": "unsubscribed", "email": email, "ts_event": 1}).encode()
    old = int(hooked.account.clock.now().timestamp()) - 3600
    stale_brevo = json.dumps({"event": "spam", "email": email, "ts_event": old}).encode()
    cases = [
        # forged: wrong or missing credentials
        ("POST", wrong_path, {"content": good_form, "headers": FORM}, 401),
        ("GET", wrong_path, {}, 401),
        ("POST", URLS["brevo"], {"content": brevo_body}, 401),
        ("POST", URLS["brevo"], {"content": brevo_body, "auth": ("syncd", "nope")}, 401),
        ("POST", URLS["hubspot"], _hubspot(hooked, hubspot_id, secret="forged"), 401),
        ("POST", URLS["hubspot"], {"content": b"[]"}, 401),
        ("POST", f"{HOST}/webhooks/hubspot/nobody", _hubspot(hooked, hubspot_id, secret="x"), 401),
        # replays by timestamp
        ("POST", URLS["hubspot"], _hubspot(hooked, hubspot_id, secret=SECRETS["hubspot"],
                                          age_s=301), 401),
        ("POST", URLS["brevo"], {"content": stale_brevo, "auth": ("syncd", SECRETS["brevo"])},
         401),
        # malformed, though authenticated
        ("POST", URLS["mailchimp"], {"content": b"type=unsubscribe", "headers": FORM}, 400),
        ("POST", URLS["mailchimp"], {"content": _mailchimp_form(hooked, "not-an-email"),
                                     "headers": FORM}, 400),
        ("POST", URLS["mailchimp"], {"content": _mailchimp_form(hooked, email, type="bogus"),
                                     "headers": FORM}, 400),
        ("POST", URLS["mailchimp"], {"content": b"\xff\xfe", "headers": FORM}, 400),
        ("POST", URLS["brevo"], {"content": b"{not json", "auth": ("syncd", SECRETS["brevo"])},
         400),
        ("POST", URLS["brevo"], {"content": b'{"event": "unsubscribed", "ts_event": 5}',
                                 "auth": ("syncd", SECRETS["brevo"])}, 400),
    ]  # fmt: skip
    async with hooked.client() as client:
        for method, url, kwargs, status in cases:
            answer = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
            assert answer.status_code == status, (url, answer.text)
            assert "error" in answer.json()
        # the same HubSpot body signed with the real secret goes through (the refusal above
        # was the signature's doing)
        signed = _hubspot(hooked, hubspot_id, secret=SECRETS["hubspot"])
        assert (await client.post(URLS["hubspot"], **signed)).status_code == 200  # type: ignore[arg-type]
    await hooked.settle()
    after = dump_store(hooked.engine)
    changed = {name for name in before if before[name] != after[name]}
    # only the one genuine delivery changed anything
    assert changed and changed <= {
        "consent", "consent_event", "contact", "webhook_delivery", "run", "outbox_item",
        "ledger_entry", "audit_log",
    }  # fmt: skip


async def test_a_replayed_delivery_is_refused_and_changes_nothing(hooked: Hooked) -> None:
    email, _ = _someone(hooked, "mailchimp")
    form = _mailchimp_form(hooked, email)
    async with hooked.client() as client:
        check = await client.get(URLS["mailchimp"])
        assert check.status_code == 200  # Mailchimp's URL validation
        first = await client.post(URLS["mailchimp"], content=form, headers=FORM)
        assert first.status_code == 200 and first.json()["consent"] == 1
        await hooked.settle()
        between = dump_store(hooked.engine)
        again = await client.post(URLS["mailchimp"], content=form, headers=FORM)
        assert again.status_code == 409
        assert dump_store(hooked.engine) == between
        _, hubspot_id = _someone(hooked, "hubspot")
        signed = _hubspot(hooked, hubspot_id, secret=SECRETS["hubspot"])
        assert (await client.post(URLS["hubspot"], **signed)).status_code == 200  # type: ignore[arg-type]
        await hooked.settle()
        between = dump_store(hooked.engine)
        # HubSpot retries carry the same event id (a new attempt number, a new signature)
        resent = _hubspot(hooked, hubspot_id, secret=SECRETS["hubspot"])
        assert (await client.post(URLS["hubspot"], **resent)).status_code == 409  # type: ignore[arg-type]
    await hooked.settle()
    assert dump_store(hooked.engine) == between


async def test_profile_changes_only_mark_the_contact_changed(hooked: Hooked) -> None:
    email, _ = _someone(hooked, "mailchimp")
    with hooked.engine.connect() as conn:
        stamp = conn.scalar(select(Contact.changed_at).where(Contact.email == email))
    hooked.account.clock.advance(30)
    form = _mailchimp_form(hooked, email, type="profile")
    async with hooked.client() as client:
        answer = await client.post(URLS["mailchimp"], content=form, headers=FORM)
    assert answer.status_code == 200 and answer.json()["changed"] == 1
    await hooked.settle()
    assert hooked.service.reports == []  # nothing to propagate
    with hooked.engine.connect() as conn:
        later = conn.scalar(select(Contact.changed_at).where(Contact.email == email))
    assert stamp is not None and later is not None and later > stamp
