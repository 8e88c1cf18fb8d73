"""The catalogue of fields a segment rule can name. Names are stable: rules refer to them.

Every feature, score, stage and prediction the engine computes is listed here with its type;
the rule parser type-checks against this catalogue and the evaluator reads these columns.
"""

from __future__ import annotations

from enum import StrEnum

from syncd.records import CONTACT_ATTRIBUTES


class FieldType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"


WINDOWS_DAYS = (7, 30, 90, 365)
COUNTED = ("sends", "opens", "clicks", "purchases", "revenue")
TOOLS = ("hubspot", "brevo", "mailchimp")

ATTRIBUTES = CONTACT_ATTRIBUTES

#: custom attributes are addressed as ``custom.<name>`` (strings)
CUSTOM_PREFIX = "custom."


def _catalogue() -> dict[str, FieldType]:
    fields: dict[str, FieldType] = {}
    for metric in COUNTED:
        for days in WINDOWS_DAYS:
            fields[f"{metric}_{days}d"] = FieldType.NUMBER
        fields[f"{metric}_total"] = FieldType.NUMBER
    for name in ("bounces_total", "unsubscribes_total", "complaints_total"):
        fields[name] = FieldType.NUMBER
    for name in ("open_rate", "click_rate", "open_rate_90d", "click_rate_90d"):
        fields[name] = FieldType.NUMBER
    for what in ("open", "click", "purchase", "activity"):
        fields[f"days_since_last_{what}"] = FieldType.NUMBER  # null when never
    fields["tenure_days"] = FieldType.NUMBER
    # raw decayed points behind engagement_score; days since an activity ended a long gap
    fields["engagement_points"] = FieldType.NUMBER
    fields["days_since_reactivation"] = FieldType.NUMBER
    for attr in ATTRIBUTES:
        fields[attr] = FieldType.STRING
    fields["email"] = FieldType.STRING
    fields["email_domain"] = FieldType.STRING
    for tool in TOOLS:
        fields[f"in_{tool}"] = FieldType.BOOL
    # scores, stages, predictions, clusters
    fields.update(
        engagement_score=FieldType.NUMBER,
        rfm_r=FieldType.NUMBER,
        rfm_f=FieldType.NUMBER,
        rfm_m=FieldType.NUMBER,
        rfm_group=FieldType.STRING,
        lifecycle=FieldType.STRING,
        engagement_tier=FieldType.STRING,
        churn_risk=FieldType.NUMBER,
        purchase_propensity=FieldType.NUMBER,
        cluster=FieldType.NUMBER,
        persona=FieldType.STRING,
    )
    return fields


FIELDS: dict[str, FieldType] = _catalogue()


def field_type(name: str) -> FieldType | None:
    if name.startswith(CUSTOM_PREFIX) and len(name) > len(CUSTOM_PREFIX):
        return FieldType.STRING
    return FIELDS.get(name)
