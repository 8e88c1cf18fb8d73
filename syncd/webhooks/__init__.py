"""Vendor webhooks: receivers for Mailchimp, Brevo and HubSpot deliveries, applied to the
store at once, and a fast consent propagation that removes a contact who withdrew consent from
every marketing target without waiting for the schedule."""

from syncd.webhooks.events import EventKind, WebhookEvent, WebhookRejected
from syncd.webhooks.propagate import propagate_consent
from syncd.webhooks.service import WebhookService

__all__ = [
    "EventKind",
    "WebhookEvent",
    "WebhookRejected",
    "WebhookService",
    "propagate_consent",
]
