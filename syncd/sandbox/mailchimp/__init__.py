"""An in-process emulation of the Mailchimp Marketing API v3: one account, one audience.

Routes, auth, limits and error shapes follow the public API (see ``app.py``); tests talk to it
through ``sandbox.transport()`` with the connector's real HTTP layer.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from syncd.clock import Clock
from syncd.sandbox.harness import FaultPlan, VendorSandbox
from syncd.sandbox.mailchimp.app import MailchimpApi
from syncd.sandbox.mailchimp.limits import DEFAULT_LIMITS, MailchimpLimits
from syncd.sandbox.mailchimp.seed import ACTIVITY_OF_EVENT, seed_audience
from syncd.sandbox.mailchimp.state import Audience, MailchimpState, count_statuses
from syncd.sandbox.mailchimp.wire import ConnectionGate, data_centre, too_many_requests
from syncd.sandbox.population import Population

__all__ = ["DEFAULT_API_KEY", "DEFAULT_LIST_ID", "MailchimpLimits", "MailchimpSandbox"]

DEFAULT_API_KEY = "sandbox0000000000000000000000000-us21"
DEFAULT_LIST_ID = "5a1b2c3d4e"

_EVENT_OF_ACTIVITY = {v: k for k, v in ACTIVITY_OF_EVENT.items()}


class MailchimpSandbox(VendorSandbox):
    vendor = "mailchimp"
    base_url = "https://us21.api.mailchimp.com/3.0"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        limits: MailchimpLimits | None = None,
        list_id: str = DEFAULT_LIST_ID,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.api_key = api_key
        self.limits = limits or DEFAULT_LIMITS
        self.host = f"{data_centre(api_key)}.api.mailchimp.com"
        self.base_url = f"https://{self.host}/3.0"
        self.list_id = list_id
        self.state = MailchimpState()
        self.state.create_audience(list_id, "syncd sandbox audience", self.clock.now())
        self.duplicates_skipped = 0
        api = MailchimpApi(
            self.state, api_key=api_key, host=self.host, clock=self.clock, limits=self.limits
        )
        inner = self.wrap(api.starlette(), rate_limited=self._too_many)
        self.gate = ConnectionGate(
            inner,
            limit=self.limits.max_connections,
            log=self.log,
            clock=self.clock,
            burst_403=self.limits.burst_403,
            refuse=self._too_many,
        )
        self.app = self.gate

    def _too_many(self) -> Response:
        return too_many_requests(self.limits.max_connections or 10)

    @property
    def audience(self) -> Audience:
        return self.state.audiences[self.list_id]

    def seed(self, population: Population) -> None:
        self.duplicates_skipped += seed_audience(self.audience, population)

    def summary(self) -> dict[str, Any]:
        audience = self.audience
        activity: dict[str, int] = {}
        for member in audience.members.values():
            for item in member.activity:
                kind = _EVENT_OF_ACTIVITY.get(item.activity_type, item.activity_type)
                activity[kind] = activity.get(kind, 0) + 1
        return {
            "contacts": len(audience.members),
            "consent": count_statuses(audience.members.values()),
            "tags": {s.name: len(s.members) for s in audience.segments.values()},
            "merge_fields": sorted(audience.merge_fields),
            "activity": activity,
            "duplicates_skipped": self.duplicates_skipped,
            "forgotten": len(audience.forgotten),
        }
