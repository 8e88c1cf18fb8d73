"""What the contract suite needs to know about a vendor's sandbox beyond the rig: how to
change a contact there, and how to read back memberships and properties after a push.

These work on the sandbox's own state (its write methods, so the vendor's "last modified"
fields move as they would), never through the fault plan, so a case that injects faults
still changes exactly what it means to.

A new connector's rig module may define ``CONTRACT_HOOKS = ContractHooks(...)``; it wins
over the built-in table below.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from syncd.normalize import normalize_email
from syncd.records import Target
from tests.support.rig import Rig


@dataclass(frozen=True)
class ContractHooks:
    #: (rig, email, new first name): the vendor edits the contact, as a user in its UI would
    rename: Callable[[Rig, str, str], None]
    #: (rig, email): the person unsubscribes from all marketing email in the vendor
    unsubscribe: Callable[[Rig, str], None]
    #: (rig, target, vendor id from ensure_targets) -> normalised emails holding that membership
    members: Callable[[Rig, Target, str], set[str]]
    #: (rig, email, vendor id of a property target) -> the stored value (None when unset)
    property_value: Callable[[Rig, str, str], str | None]


def _state(rig: Rig) -> Any:
    return rig.sandbox.state  # type: ignore[attr-defined]


# --- HubSpot ---------------------------------------------------------------------------------


def _hubspot_contact(rig: Rig, email: str) -> Any:
    contact = _state(rig).find(email, "email")
    assert contact is not None, f"hubspot sandbox has no contact {email}"
    return contact


def _hubspot_rename(rig: Rig, email: str, first_name: str) -> None:
    _state(rig).update_contact(_hubspot_contact(rig, email), {"firstname": first_name})


def _hubspot_unsubscribe(rig: Rig, email: str) -> None:
    _state(rig).opt_out_of_all(email, rig.clock.now(), "SOURCE_RECIPIENT")


def _hubspot_members(rig: Rig, target: Target, list_id: str) -> set[str]:
    state = _state(rig)
    return {normalize_email(state.contacts[cid].email) for cid in state.lists[list_id].members}


def _hubspot_property(rig: Rig, email: str, name: str) -> str | None:
    value = _hubspot_contact(rig, email).properties.get(name)
    return None if value is None else str(value)


# --- Brevo -----------------------------------------------------------------------------------


def _brevo_contact(rig: Rig, email: str) -> Any:
    contact = _state(rig).find_email(email)
    assert contact is not None, f"brevo sandbox has no contact {email}"
    return contact


def _brevo_rename(rig: Rig, email: str, first_name: str) -> None:
    state = _state(rig)
    contact = _brevo_contact(rig, email)
    assert state.set_attributes(contact, {"FIRSTNAME": first_name})
    state.touch(contact)


def _brevo_unsubscribe(rig: Rig, email: str) -> None:
    state = _state(rig)
    contact = _brevo_contact(rig, email)
    contact.email_blacklisted = True
    state.touch(contact)


def _brevo_members(rig: Rig, target: Target, list_id: str) -> set[str]:
    return {normalize_email(c.email) for c in _state(rig).members(int(list_id))}


def _brevo_property(rig: Rig, email: str, name: str) -> str | None:
    value = _brevo_contact(rig, email).attributes.get(name)
    return None if value is None else str(value)


# --- Mailchimp -------------------------------------------------------------------------------


def _mailchimp_upsert(rig: Rig, email: str, **change: Any) -> None:
    from syncd.sandbox.mailchimp.rules import Upsert, upsert_member

    audience = rig.sandbox.audience  # type: ignore[attr-defined]
    upsert_member(audience, Upsert(email, **change), rig.clock.now(), allow_create=False)


def _mailchimp_rename(rig: Rig, email: str, first_name: str) -> None:
    _mailchimp_upsert(rig, email, merge_fields={"FNAME": first_name})


def _mailchimp_unsubscribe(rig: Rig, email: str) -> None:
    _mailchimp_upsert(rig, email, status="unsubscribed")


def _mailchimp_members(rig: Rig, target: Target, segment_id: str) -> set[str]:
    audience = rig.sandbox.audience  # type: ignore[attr-defined]
    segment = audience.segments[int(segment_id)]
    return {normalize_email(audience.members[h].email_address) for h in segment.members}


def _mailchimp_property(rig: Rig, email: str, tag: str) -> str | None:
    from syncd.sandbox.mailchimp.state import subscriber_hash

    member = rig.sandbox.audience.members[subscriber_hash(email)]  # type: ignore[attr-defined]
    value = member.merge_fields.get(tag)
    return None if value in (None, "") else str(value)


BUILT_IN: dict[str, ContractHooks] = {
    "hubspot": ContractHooks(
        _hubspot_rename, _hubspot_unsubscribe, _hubspot_members, _hubspot_property
    ),
    "brevo": ContractHooks(_brevo_rename, _brevo_unsubscribe, _brevo_members, _brevo_property),
    "mailchimp": ContractHooks(
        _mailchimp_rename, _mailchimp_unsubscribe, _mailchimp_members, _mailchimp_property
    ),
}


def hooks_for(name: str) -> ContractHooks:
    module = importlib.import_module(f"tests.support.rig_{name}")
    own = getattr(module, "CONTRACT_HOOKS", None)
    if isinstance(own, ContractHooks):
        return own
    try:
        return BUILT_IN[name]
    except KeyError:
        raise AssertionError(
            f"connector {name!r}: define CONTRACT_HOOKS in tests/support/rig_{name}.py "
            "(see tests/contract/hooks.py)"
        ) from None
