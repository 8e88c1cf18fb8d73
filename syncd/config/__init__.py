"""The TOML config: typed settings (pydantic v2), every problem located by its key path, secrets
resolved from the environment or from files and never serialised.

Validation runs in three passes so that one broken part never hides the others:
TOML syntax, then the shape (pydantic, with one field per registered connector so each
connector's own ``settings_model`` checks its section), then the cross-references pydantic cannot
see (duplicate ids, secrets, segment rules, names that must exist). All problems are collected.

The machinery lives in the submodules: ``models`` (the sections), ``load`` (the three passes),
``checks`` (cross-references), ``secrets`` (env / file secrets), ``paths`` (pydantic errors ->
key paths) and ``catalogue`` (the connectors a config may name). Import from here.
"""

from syncd.config.catalogue import ConnectorCatalogue, discover_connectors
from syncd.config.checks import RuleChecker, default_rule_checker
from syncd.config.load import (
    CheckResult,
    check_config,
    check_config_text,
    load_config,
    read_store_url,
    summarise,
)
from syncd.config.models import (
    DEFAULT_STORE_URL,
    INACTIVITY_MONTHS,
    MIN_INTERVAL_S,
    SECTOR_INACTIVITY_MONTHS,
    SEGMENT_NAME,
    SLUG,
    AccountConfig,
    AdminSettings,
    EventPoints,
    LoggingSettings,
    MergeSettings,
    Name,
    Precedence,
    PropertySource,
    PushTargets,
    RfmSettings,
    Scalar,
    ScheduleSettings,
    ScheduleSpec,
    ScoringSettings,
    SegmentSettings,
    StoreSettings,
    SyncdConfig,
    TierThresholds,
    iter_connector_settings,
)
from syncd.config.paths import key_path

__all__ = [
    "DEFAULT_STORE_URL",
    "INACTIVITY_MONTHS",
    "MIN_INTERVAL_S",
    "SECTOR_INACTIVITY_MONTHS",
    "SEGMENT_NAME",
    "SLUG",
    "AccountConfig",
    "AdminSettings",
    "CheckResult",
    "ConnectorCatalogue",
    "EventPoints",
    "LoggingSettings",
    "MergeSettings",
    "Name",
    "Precedence",
    "PropertySource",
    "PushTargets",
    "RfmSettings",
    "RuleChecker",
    "Scalar",
    "ScheduleSettings",
    "ScheduleSpec",
    "ScoringSettings",
    "SegmentSettings",
    "StoreSettings",
    "SyncdConfig",
    "TierThresholds",
    "check_config",
    "check_config_text",
    "default_rule_checker",
    "discover_connectors",
    "iter_connector_settings",
    "key_path",
    "load_config",
    "read_store_url",
    "summarise",
]
