"""In-process emulation of HubSpot's CRM, lists, properties, communication preferences and
events APIs (see ``app.py``)."""

from syncd.sandbox.hubspot.app import DEFAULT_PORTAL_ID, DEFAULT_TOKEN, HubSpotSandbox
from syncd.sandbox.hubspot.limits import HubSpotLimits

__all__ = ["DEFAULT_PORTAL_ID", "DEFAULT_TOKEN", "HubSpotLimits", "HubSpotSandbox"]
