"""syncd: keeps HubSpot, Brevo and Mailchimp audiences in step with one scored view of every
contact. The public face is the version and the plugin interface; the rest is internal."""

from syncd.connector import Capabilities, Connector, ConnectorSettings
from syncd.records import (
    ActivityRecord,
    ActivityType,
    Change,
    ChangeOp,
    ChangeResult,
    ConsentRecord,
    ConsentStatus,
    ContactRecord,
    InvalidRecord,
    Page,
    Target,
    TargetKind,
)

__version__ = "0.1.0"

__all__ = [
    "ActivityRecord",
    "ActivityType",
    "Capabilities",
    "Change",
    "ChangeOp",
    "ChangeResult",
    "Connector",
    "ConnectorSettings",
    "ConsentRecord",
    "ConsentStatus",
    "ContactRecord",
    "InvalidRecord",
    "Page",
    "Target",
    "TargetKind",
    "__version__",
]
