"""The typed shape of the TOML config (pydantic v2): one strict model per section.

Only what a single value or section can say about itself is checked here; references between
sections, and secrets, are checked on the raw data in :mod:`syncd.config.checks`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    SerializationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

from syncd.connector import ConnectorSettings
from syncd.errors import ConfigError, ConfigProblem

SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
SEGMENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
#: how long without engagement makes a contact inactive, by sector (months)
SECTOR_INACTIVITY_MONTHS = {
    "ecommerce": 3,
    "retail": 3,
    "media": 6,
    "saas": 6,
    "b2b": 12,
    "nonprofit": 12,
}
INACTIVITY_MONTHS = (3, 6, 12)
MIN_INTERVAL_S = 60
DEFAULT_STORE_URL = "sqlite:///./syncd.db"
#: keys that would hold a secret in the file itself; refused, so secrets stay in env / files
LITERAL_SECRET_KEYS = {"api_key", "apikey", "token", "api_token", "access_token", "password"}


class _Section(BaseModel):
    # strict: a config file that says "10" where a number belongs is wrong, not a number
    model_config = ConfigDict(extra="forbid", strict=True)


def _schedule_spec(value: Any) -> int | str:
    """An interval in seconds (integer) or a five-field cron expression (UTC)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(
            f"expected an interval in seconds or a cron string, got {type(value).__name__}"
        )
    if isinstance(value, int):
        if value < MIN_INTERVAL_S:
            raise ValueError(f"interval must be at least {MIN_INTERVAL_S} seconds, got {value}")
        return value
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
    return value


def _inactivity(value: Any) -> int | str:
    if isinstance(value, str):
        if value not in SECTOR_INACTIVITY_MONTHS:
            known = ", ".join(sorted(SECTOR_INACTIVITY_MONTHS))
            raise ValueError(f"unknown sector preset {value!r} (known: {known})")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value not in INACTIVITY_MONTHS:
        raise ValueError(f"expected 3, 6, 12 or a sector preset, got {value!r}")
    return value


def _precedence(value: Any) -> str | list[str]:
    if value == "most_recent":
        return "most_recent"
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        if len(set(value)) != len(value):
            raise ValueError("a tool is listed twice")
        return list(value)
    raise ValueError('expected "most_recent" or a non-empty list of tool names in order')


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"expected a string, number or boolean, got {type(value).__name__}")


ScheduleSpec = Annotated[int | str, PlainValidator(_schedule_spec)]
Precedence = Annotated[str | list[str], PlainValidator(_precedence)]
Scalar = Annotated[str | int | float | bool, PlainValidator(_scalar)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class StoreSettings(_Section):
    url: str = DEFAULT_STORE_URL
    #: names an environment variable holding the URL (use it when the URL carries a password)
    url_env: str | None = None

    @field_validator("url")
    @classmethod
    def _supported_url(cls, url: str) -> str:
        from syncd.store.engine import check_store_url

        check_store_url(url)
        return url


class AdminSettings(_Section):
    bind: str = "127.0.0.1"
    port: int = Field(default=8700, ge=1, le=65535)
    #: names an environment variable holding the bearer token of the admin API
    token_env: str | None = None

    @field_validator("bind")
    @classmethod
    def _address(cls, bind: str) -> str:
        if bind != "localhost":
            try:
                ipaddress.ip_address(bind)
            except ValueError:
                raise ValueError(f"not an IP address: {bind!r}") from None
        return bind

    @property
    def loopback(self) -> bool:
        return self.bind == "localhost" or ipaddress.ip_address(self.bind).is_loopback


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class ScheduleSettings(_Section):
    incremental: ScheduleSpec = 900
    full: ScheduleSpec = "0 3 * * *"
    train: ScheduleSpec = "0 4 * * 0"
    #: random delay added to each start so accounts do not all hit the vendors at once
    jitter_s: float = Field(default=30.0, ge=0)


class EventPoints(_Section):
    """Points each activity type adds to the engagement score, before time decay."""

    send: float = 0.0
    open: float = 10.0
    click: float = 20.0
    purchase: float = 50.0
    unsubscribe: float = -30.0
    bounce: float = -20.0
    complaint: float = -50.0

    @model_validator(mode="after")
    def _signs(self) -> EventPoints:
        for name in ("unsubscribe", "bounce", "complaint"):
            if getattr(self, name) > 0:
                raise ValueError(f"{name} lowers engagement: its points must be <= 0")
        return self


class TierThresholds(_Section):
    """Engagement tiers by open rate: "high" above ``high_open_rate``, "medium" for any opens
    below it, "inactive" for none; ``window`` picks the all-time or the 90-day open rate."""

    high_open_rate: float = Field(default=0.20, gt=0, le=1)
    window: Literal["all", "90d"] = "all"


class RfmSettings(_Section):
    """Recency / frequency / monetary quintiles (of buyers) and their named groups."""

    #: monetary values in other currencies are converted to this one
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")


class ScoringSettings(_Section):
    points: EventPoints = Field(default_factory=EventPoints)
    half_life_days: float = Field(default=30.0, gt=0)
    inactivity_months: Annotated[int | str, PlainValidator(_inactivity)] = 6
    tiers: TierThresholds = Field(default_factory=TierThresholds)
    #: a segment whose size moves by more than this share between recomputes is flagged
    drift_threshold: float = Field(default=0.2, gt=0, le=1)
    rfm: RfmSettings = Field(default_factory=RfmSettings)

    @property
    def inactive_after_months(self) -> int:
        months = self.inactivity_months
        return SECTOR_INACTIVITY_MONTHS[months] if isinstance(months, str) else months


class PushTargets(_Section):
    """What membership of a segment becomes in one tool."""

    tags: list[Name] = Field(default_factory=list)
    lists: list[Name] = Field(default_factory=list)
    properties: dict[str, Scalar] = Field(default_factory=dict)


class SegmentSettings(_Section):
    name: str = Field(pattern=SEGMENT_NAME)
    description: str = ""
    rule: str = Field(min_length=1)
    #: share of members kept out of every push, as an A/B control group
    holdout: float = Field(default=0.0, ge=0, le=0.5)
    push: dict[str, PushTargets] = Field(default_factory=dict)


class MergeSettings(_Section):
    #: which tool wins an attribute: "most_recent" or tools in order of trust
    default_precedence: Precedence = "most_recent"
    precedence: dict[str, Precedence] = Field(default_factory=dict)
    #: "global": opting out in one tool suppresses the contact everywhere
    suppression: Literal["global", "per_tool"] = "global"
    #: a remote changed behind syncd's back: put it back ("correct") or only report it
    drift: Literal["correct", "report"] = "correct"

    def precedence_for(self, attribute: str) -> str | list[str]:
        return self.precedence.get(attribute, self.default_precedence)


#: what an account-level property push can carry: a score column, or the segment names
PropertySource = Literal[
    "engagement_score",
    "rfm_r",
    "rfm_f",
    "rfm_m",
    "rfm_group",
    "lifecycle",
    "engagement_tier",
    "churn_risk",
    "purchase_propensity",
    "cluster",
    "persona",
    "segments",
]


class WebhookSettings(_Section):
    """One vendor's webhook receiver: the secret (named by an environment variable) that a
    delivery must carry: Mailchimp in the URL path, Brevo as the Basic-auth password (with
    ``username``) or in the path, HubSpot as the app's client secret (signature v3)."""

    secret_env: str = Field(min_length=1)
    #: Brevo: the Basic-auth user name; without it the secret goes in the path
    username: str | None = None
    #: deliveries older than this are refused as replays (HubSpot documents 5 minutes)
    max_age_s: int = Field(default=300, ge=10)


class AccountConfig(_Section):
    id: str = Field(pattern=SLUG)
    name: str = ""
    connectors: dict[str, ConnectorSettings] = Field(min_length=1)
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    merge: MergeSettings = Field(default_factory=MergeSettings)
    segments: list[SegmentSettings] = Field(default_factory=list)
    #: per connector: vendor property / attribute / merge field -> the value it carries
    properties: dict[str, dict[str, PropertySource]] = Field(default_factory=dict)
    #: per vendor (mailchimp, brevo, hubspot): how its webhooks authenticate
    webhooks: dict[Literal["mailchimp", "brevo", "hubspot"], WebhookSettings] = Field(
        default_factory=dict
    )
    #: activity older than this many days is dropped on the schedule (None: kept)
    retention_days: int | None = Field(default=None, ge=1)
    _api_keys: dict[str, str] = PrivateAttr(default_factory=dict)
    _webhook_secrets: dict[str, str] = PrivateAttr(default_factory=dict)

    @field_validator("connectors", mode="after")
    @classmethod
    def _flatten(cls, value: Any) -> Any:
        # the checked subclass validates connectors through a model with one field per
        # registered connector; flatten it back to {name: settings}
        if isinstance(value, BaseModel) and not isinstance(value, ConnectorSettings):
            fields = type(value).model_fields
            return {
                f.alias or n: getattr(value, n)
                for n, f in fields.items()
                if getattr(value, n) is not None
            }
        return value

    @field_serializer("connectors")
    def _dump_connectors(
        self, value: dict[str, ConnectorSettings], info: SerializationInfo
    ) -> dict[str, Any]:
        return {name: settings.model_dump(mode=info.mode) for name, settings in value.items()}

    def api_key(self, connector: str) -> str:
        """The resolved secret of one connector (never part of a dump of the config)."""
        try:
            return self._api_keys[connector]
        except KeyError:
            raise ConfigError(
                [ConfigProblem(f"accounts.{self.id}.connectors.{connector}", "no API key resolved")]
            ) from None

    def segment(self, name: str) -> SegmentSettings:
        return next(s for s in self.segments if s.name == name)

    def webhook_secret(self, vendor: str) -> str | None:
        """The resolved webhook secret of one vendor; None when its webhooks are off."""
        return self._webhook_secrets.get(vendor)


class SyncdConfig(_Section):
    store: StoreSettings = Field(default_factory=StoreSettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    accounts: list[AccountConfig] = Field(min_length=1)
    _store_url: str = PrivateAttr(default=DEFAULT_STORE_URL)
    _admin_token: str | None = PrivateAttr(default=None)

    @property
    def store_url(self) -> str:
        """The store URL, read from ``store.url_env`` when that is set."""
        return self._store_url

    @property
    def admin_token(self) -> str | None:
        return self._admin_token

    def account(self, account_id: str) -> AccountConfig:
        for account in self.accounts:
            if account.id == account_id:
                return account
        raise KeyError(account_id)


def iter_connector_settings(config: SyncdConfig) -> Iterator[tuple[str, str, ConnectorSettings]]:
    """``(account id, connector name, settings)`` for every configured connector."""
    for account in config.accounts:
        for name, settings in account.connectors.items():
            yield account.id, name, settings
