"""An in-process emulation of Brevo's v3 contacts API (see ``app`` for the routes served)."""

from __future__ import annotations

from typing import Any

from syncd.clock import Clock
from syncd.sandbox.brevo.app import BrevoApp, too_many_requests
from syncd.sandbox.brevo.limits import DEFAULT_API_KEY, BrevoLimits
from syncd.sandbox.brevo.seed import seed_population
from syncd.sandbox.brevo.state import DOI_ATTRIBUTE, BrevoState
from syncd.sandbox.harness import FaultPlan, VendorSandbox
from syncd.sandbox.population import Population

__all__ = ["DEFAULT_API_KEY", "BrevoLimits", "BrevoSandbox"]


class BrevoSandbox(VendorSandbox):
    vendor = "brevo"
    base_url = "https://api.brevo.com/v3"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        faults: FaultPlan | None = None,
        limits: BrevoLimits | None = None,
        timezone: str = "Europe/Paris",
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.api_key = api_key
        self.limits = limits or BrevoLimits()
        #: Brevo writes timestamps with the account's UTC offset
        self.state = BrevoState(self.clock.now, timezone)
        self.routes = BrevoApp(self.state, self.limits, api_key, self.clock)
        self.app = self.wrap(
            self.routes.build(), rate_limited=lambda: too_many_requests(self.routes.contacts_second)
        )

    def seed(self, population: Population) -> None:
        seed_population(self.state, population)

    def summary(self) -> dict[str, Any]:
        contacts = list(self.state.contacts.values())
        consent = {"not_blacklisted": 0, "blacklisted": 0, "doi_pending": 0}
        for contact in contacts:
            if contact.email_blacklisted:
                consent["blacklisted"] += 1
            elif contact.attributes.get(DOI_ATTRIBUTE) == "No":
                consent["doi_pending"] += 1
            else:
                consent["not_blacklisted"] += 1
        lists = {
            lst.name: sum(1 for c in contacts if lst.id in c.list_ids)
            for lst in self.state.lists.values()
        }
        left = {
            lst.name: sum(1 for c in contacts if lst.id in c.list_unsubscribed)
            for lst in self.state.lists.values()
        }
        return {
            "contacts": len(contacts),
            "consent": consent,
            "lists": lists,
            "list_unsubscribed": {k: v for k, v in left.items() if v},
            "activity": self.state.event_counts(),
        }
