"""The TOML config: typed settings (pydantic v2), every problem located by its key path, secrets
resolved from the environment or from files and never serialised.

Validation runs in three passes so that one broken part never hides the others:
TOML syntax, then the shape (pydantic, with one field per registered connector so each
connector's own ``settings_model`` checks its section), then the cross-references pydantic cannot
see (duplicate ids, secrets, segment rules, names that must exist). All problems are collected.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PrivateAttr,
    SerializationInfo,
    ValidationError,
    create_model,
    field_serializer,
    field_validator,
    model_validator,
)

from syncd import connector as connector_module
from syncd.connector import ENTRY_POINT_GROUP, Connector, ConnectorSettings
from syncd.errors import ConfigError, ConfigProblem, RuleError, SyncdError

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

#: ``(segment name, rule, every segment name of the account) -> [(message, position)]``
RuleChecker = Callable[[str, str, Sequence[str]], list[tuple[str, int]]]


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
    """Engagement tiers by open rate over ``window_days`` (high: above ``high_open_rate``)."""

    high_open_rate: float = Field(default=0.20, ge=0, le=1)
    medium_open_rate: float = Field(default=0.05, ge=0, le=1)
    window_days: int = Field(default=90, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if self.medium_open_rate >= self.high_open_rate:
            raise ValueError("medium_open_rate must be below high_open_rate")
        return self


class RfmSettings(_Section):
    bins: int = Field(default=5, ge=2, le=10)
    window_days: int = Field(default=730, gt=0)
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
    _api_keys: dict[str, str] = PrivateAttr(default_factory=dict)

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


@dataclass
class CheckResult:
    problems: list[ConfigProblem]
    config: SyncdConfig | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": [{"path": p.path, "message": p.message} for p in self.problems],
            "summary": self.summary,
        }


def check_config(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> CheckResult:
    """Validate a config file; never raises for a bad file, never touches the store."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return CheckResult([ConfigProblem("", f"cannot read {path}: {exc.strerror or exc}")])
    return check_config_text(
        text, base_dir=path.parent, env=env, connectors=connectors, rule_checker=rule_checker
    )


def check_config_text(
    text: str,
    *,
    base_dir: Path = Path("."),
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> CheckResult:
    env = os.environ if env is None else env
    catalogue = connectors if connectors is not None else discover_connectors()
    checker = default_rule_checker() if rule_checker == "auto" else rule_checker
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return CheckResult([ConfigProblem("", f"TOML syntax error: {exc}")])

    problems: list[ConfigProblem] = []
    config: SyncdConfig | None = None
    try:
        config = _checked_model(catalogue).model_validate(data)
    except ValidationError as exc:
        problems.extend(_problem(err, catalogue) for err in exc.errors())
    secrets = _cross_check(
        data, env=env, base_dir=base_dir, catalogue=catalogue, rule_checker=checker
    )
    problems.extend(secrets.problems)
    if problems or config is None:
        return CheckResult(_sorted_unique(problems))
    for i, account in enumerate(config.accounts):
        account._api_keys = secrets.api_keys.get(i, {})
    config._store_url = secrets.store_url or config.store.url
    config._admin_token = secrets.admin_token
    return CheckResult([], config, summarise(config))


def load_config(
    path: Path | str,
    *,
    env: Mapping[str, str] | None = None,
    connectors: ConnectorCatalogue | None = None,
    rule_checker: RuleChecker | Literal["auto"] | None = "auto",
) -> SyncdConfig:
    """The validated config, or :class:`ConfigError` carrying every problem."""
    result = check_config(path, env=env, connectors=connectors, rule_checker=rule_checker)
    if result.config is None:
        raise ConfigError(result.problems)
    return result.config


def read_store_url(path: Path | str, *, env: Mapping[str, str] | None = None) -> str:
    """Only the store URL of a config file: what ``syncd db`` needs (no connector secrets)."""
    env = os.environ if env is None else env
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([ConfigProblem("", f"cannot read {path}: {exc}")]) from None
    try:
        store = StoreSettings.model_validate(data.get("store", {}))
    except ValidationError as exc:
        raise ConfigError(
            [_problem({**e, "loc": ("store", *e["loc"])}, None) for e in exc.errors()]
        ) from None
    if store.url_env is None:
        return store.url
    if not env.get(store.url_env):
        raise ConfigError(
            [ConfigProblem("store.url_env", f"environment variable {store.url_env} is not set")]
        )
    return env[store.url_env]


def summarise(config: SyncdConfig) -> dict[str, Any]:
    from syncd.store.engine import describe_store_url

    accounts = [
        {
            "id": a.id,
            "name": a.name,
            "connectors": sorted(a.connectors),
            "segments": [s.name for s in a.segments],
        }
        for a in config.accounts
    ]
    return {
        "accounts": accounts,
        "connectors": sum(len(a.connectors) for a in config.accounts),
        "segments": sum(len(a.segments) for a in config.accounts),
        "store": describe_store_url(config.store_url),
    }


def default_rule_checker() -> RuleChecker | None:
    """The engine's rule parser, when it is installed; ``None`` skips rule checks."""
    try:
        from syncd.engine.rules import check_rule
    except ImportError:
        return None

    def checker(name: str, rule: str, known: Sequence[str]) -> list[tuple[str, int]]:
        return [(err.message, err.position) for err in check_rule(rule, known)]

    return checker


# --- connectors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectorCatalogue:
    """The connectors a config may name: those that load, and those registered but broken."""

    classes: dict[str, type[Connector]]
    #: entry points that failed to load, with the reason (a broken plugin is a config problem
    #: only for the accounts that name it)
    broken: dict[str, str] = field(default_factory=dict)

    def unknown_message(self, name: str) -> str:
        if name in self.broken:
            return f"connector '{name}' is registered but could not be loaded: {self.broken[name]}"
        known = ", ".join(sorted(self.classes)) or "none installed"
        return f"unknown connector '{name}' (known: {known})"


def discover_connectors() -> ConnectorCatalogue:
    """Every connector of the ``syncd.connectors`` entry-point group, loading each on its own."""
    try:
        return ConnectorCatalogue(dict(connector_module.registry()))
    except (ImportError, AttributeError, SyncdError):
        pass  # one plugin failed: load them one by one to keep the others
    classes: dict[str, type[Connector]] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except (ImportError, AttributeError) as exc:
            broken[ep.name] = str(exc)
            continue
        if isinstance(cls, type) and issubclass(cls, Connector):
            classes[ep.name] = cls
        else:
            broken[ep.name] = f"{ep.value} is not a Connector subclass"
    return ConnectorCatalogue(classes, broken)


# --- cross-references and secrets (on the raw data, so they run even when the shape fails) ---


@dataclass
class _Resolved:
    problems: list[ConfigProblem] = field(default_factory=list)
    #: account index -> connector name -> secret
    api_keys: dict[int, dict[str, str]] = field(default_factory=dict)
    store_url: str | None = None
    admin_token: str | None = None

    def add(self, loc: Sequence[str | int], message: str) -> None:
        self.problems.append(ConfigProblem(key_path(loc), message))


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _cross_check(
    data: dict[str, Any],
    *,
    env: Mapping[str, str],
    base_dir: Path,
    catalogue: ConnectorCatalogue,
    rule_checker: RuleChecker | None,
) -> _Resolved:
    out = _Resolved()
    url_env = _table(data.get("store")).get("url_env")
    if isinstance(url_env, str):
        out.store_url = _env_secret(out, env, url_env, ("store", "url_env"))
    admin = _table(data.get("admin"))
    token_env, bind = admin.get("token_env"), admin.get("bind")
    if isinstance(token_env, str):
        out.admin_token = _env_secret(out, env, token_env, ("admin", "token_env"))
    elif token_env is None and isinstance(bind, str) and not _loopback(bind):
        out.add(("admin", "token_env"), "required when admin.bind is not a loopback address")
    accounts = data.get("accounts")
    if not isinstance(accounts, list):
        return out
    first_seen: dict[str, int] = {}
    for i, account in enumerate(accounts):
        if not isinstance(account, dict):
            continue
        account_id = account.get("id")
        if isinstance(account_id, str):
            if account_id in first_seen:
                out.add(
                    ("accounts", i, "id"),
                    f"duplicate account id '{account_id}' "
                    f"(first at accounts[{first_seen[account_id]}])",
                )
            first_seen.setdefault(account_id, i)
        connectors = _table(account.get("connectors"))
        if not connectors and not isinstance(account.get("connectors"), list | str | int):
            out.add(("accounts", i, "connectors"), "at least one connector is required")
        keys: dict[str, str] = {}
        for name, section in connectors.items():
            if name in catalogue.classes and isinstance(section, dict):
                loc = ("accounts", i, "connectors", name)
                key = _connector_secret(out, env, base_dir, section, loc)
                if key is not None:
                    keys[name] = key
        out.api_keys[i] = keys
        _check_segments(out, account, i, set(connectors), rule_checker)
        for tool in _table(account.get("properties")):
            if tool not in connectors:
                out.add(
                    ("accounts", i, "properties", tool),
                    f"connector '{tool}' is not configured here",
                )
        _check_merge(out, _table(account.get("merge")), i, set(connectors))
    return out


def _loopback(bind: str) -> bool:
    try:
        return bind == "localhost" or ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return True  # not an address at all: reported by the shape check


def _env_secret(
    out: _Resolved, env: Mapping[str, str], name: str, loc: Sequence[str | int]
) -> str | None:
    value = env.get(name, "").strip()
    if not value:
        out.add(
            loc,
            f"environment variable {name} is not set"
            if name not in env
            else (f"environment variable {name} is empty"),
        )
        return None
    return value


def _connector_secret(
    out: _Resolved,
    env: Mapping[str, str],
    base_dir: Path,
    section: dict[str, Any],
    loc: tuple[str | int, ...],
) -> str | None:
    env_name, file_name = section.get("api_key_env"), section.get("api_key_file")
    if env_name is not None and file_name is not None:
        out.add(loc, "set api_key_env or api_key_file, not both")
        return None
    if isinstance(env_name, str):
        return _env_secret(out, env, env_name, (*loc, "api_key_env"))
    if isinstance(file_name, str):
        path = Path(file_name).expanduser()
        path = path if path.is_absolute() else base_dir / path
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            out.add((*loc, "api_key_file"), f"cannot read {path}: {exc.strerror or exc}")
            return None
        if not secret:
            out.add((*loc, "api_key_file"), f"{path} is empty")
            return None
        return secret
    if env_name is None and file_name is None and not _LITERAL_SECRET_KEYS & set(section):
        out.add(loc, "no API key: set api_key_env (an environment variable) or api_key_file")
    return None


def _check_segments(
    out: _Resolved,
    account: dict[str, Any],
    i: int,
    configured: set[str],
    rule_checker: RuleChecker | None,
) -> None:
    segments = account.get("segments")
    if not isinstance(segments, list):
        return
    tables = [(j, s) for j, s in enumerate(segments) if isinstance(s, dict)]
    names = [s["name"] for _, s in tables if isinstance(s.get("name"), str)]
    before = len(out.problems)
    first_seen: dict[str, int] = {}
    for j, segment in tables:
        loc = ("accounts", i, "segments", j)
        name = segment.get("name")
        if isinstance(name, str):
            if name in first_seen:
                out.add(
                    (*loc, "name"),
                    f"duplicate segment name '{name}' (first at segments[{first_seen[name]}])",
                )
            first_seen.setdefault(name, j)
        for tool in _table(segment.get("push")):
            if tool not in configured:
                out.add((*loc, "push", tool), f"connector '{tool}' is not configured here")
        rule = segment.get("rule")
        if rule_checker is None or not isinstance(rule, str) or not isinstance(name, str):
            continue
        try:
            found = rule_checker(name, rule, names)
        except RuleError as exc:
            found = [(exc.message, exc.position)]
        for message, position in found:
            out.add((*loc, "rule"), f"{message} at position {position} (segment '{name}')")
    if rule_checker is not None and len(out.problems) == before:
        _check_segment_cycles(out, tables, i)


def _check_segment_cycles(
    out: _Resolved, tables: Sequence[tuple[int, dict[str, Any]]], i: int
) -> None:
    """Segments that refer to each other in a circle (each rule alone is fine)."""
    try:
        from syncd.engine.segments import SegmentDef, check_segments
    except ImportError:
        return
    defs = [
        (j, SegmentDef(name=s["name"], rule=s["rule"]))
        for j, s in tables
        if isinstance(s.get("name"), str) and isinstance(s.get("rule"), str)
    ]
    index = {d.name: j for j, d in defs}
    for name, errors in check_segments([d for _, d in defs]).items():
        for err in errors:
            out.add(
                ("accounts", i, "segments", index[name], "rule"),
                f"{err.message} at position {err.position} (segment '{name}')",
            )


def _check_merge(out: _Resolved, merge: dict[str, Any], i: int, configured: set[str]) -> None:
    entries: list[tuple[tuple[str | int, ...], Any]] = [
        (("default_precedence",), merge.get("default_precedence"))
    ]
    entries += [(("precedence", k), v) for k, v in _table(merge.get("precedence")).items()]
    for sub, value in entries:
        if not isinstance(value, list):
            continue
        for k, tool in enumerate(value):
            if isinstance(tool, str) and tool not in configured:
                out.add(
                    ("accounts", i, "merge", *sub, k),
                    f"connector '{tool}' is not configured here",
                )


# --- pydantic errors -> key paths ----------------------------------------------------------

_LITERAL_SECRET_KEYS = {"api_key", "apikey", "token", "api_token", "access_token", "password"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def key_path(loc: Sequence[str | int]) -> str:
    """``("accounts", 1, "connectors", "x")`` -> ``accounts[1].connectors.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _problem(err: Mapping[str, Any], catalogue: ConnectorCatalogue | None) -> ConfigProblem:
    loc = tuple(err["loc"])
    kind = err["type"]
    last = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        is_connector = len(loc) == 4 and loc[0] == "accounts" and loc[2] == "connectors"
        if is_connector and catalogue is not None:
            message = catalogue.unknown_message(str(last))
        elif last in _LITERAL_SECRET_KEYS:
            message = (
                f"'{last}' would put a secret in the file: name an environment variable "
                "with api_key_env, or a file with api_key_file"
            )
        else:
            message = f"unknown key '{last}'"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "value_error":
        message = str(err.get("ctx", {}).get("error", err["msg"]))
    elif kind == "too_short" and last in ("accounts", "connectors"):
        message = (
            "at least one [[accounts]] is required"
            if last == "accounts"
            else ("at least one connector is required")
        )
    else:
        given = err.get("input")
        shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:37] + "..."
        message = f"{err['msg']} (got {type(given).__name__} {shown})"
    return ConfigProblem(key_path(loc), message)


def _sorted_unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """Problems in the order of the file's keys (accounts[2] before accounts[10]), once each."""
    seen: dict[tuple[str, str], ConfigProblem] = {}
    for p in problems:
        seen.setdefault((p.path, p.message), p)

    def natural(p: ConfigProblem) -> list[tuple[int, str]]:
        return [(int(t), "") if t.isdigit() else (-1, t) for t in re.split(r"\[(\d+)\]", p.path)]

    return sorted(seen.values(), key=natural)


def _checked_model(catalogue: ConnectorCatalogue) -> type[SyncdConfig]:
    """``SyncdConfig`` with a connectors table that has one field per registered connector."""
    fields: dict[str, Any] = {
        f"c{i}": (cls.settings_model | None, Field(default=None, alias=name))
        for i, (name, cls) in enumerate(sorted(catalogue.classes.items()))
    }
    connectors = create_model("ConnectorsTable", __config__=ConfigDict(extra="forbid"), **fields)
    account = create_model(
        "CheckedAccount",
        __base__=AccountConfig,
        connectors=(connectors, Field(default_factory=connectors)),
    )
    checked: type[SyncdConfig] = create_model(
        "CheckedConfig", __base__=SyncdConfig, accounts=(list[account], Field(min_length=1))
    )
    return checked


def iter_connector_settings(config: SyncdConfig) -> Iterator[tuple[str, str, ConnectorSettings]]:
    """``(account id, connector name, settings)`` for every configured connector."""
    for account in config.accounts:
        for name, settings in account.connectors.items():
            yield account.id, name, settings
