"""The config loader: every kind of broken config is reported with its key path, all at once.

Connectors come from a tiny in-test plugin handed to the loader as its catalogue (or through a
monkeypatched registry), so these tests do not depend on the real connector plugins.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from syncd import connector as connector_module
from syncd.config import (
    ConnectorCatalogue,
    SyncdConfig,
    check_config,
    check_config_text,
    discover_connectors,
    key_path,
    load_config,
    read_store_url,
)
from syncd.connector import Capabilities, Connector, ConnectorSettings
from syncd.errors import ConfigError
from syncd.records import ActivityType


class ToySettings(ConnectorSettings):
    audience_id: str
    region: str = "eu"


class ToyConnector(Connector):
    name: ClassVar[str] = "toy"
    settings_model: ClassVar[type[ConnectorSettings]] = ToySettings

    @classmethod
    def build(cls, settings: ConnectorSettings, api_key: str, **http_options: Any) -> Connector:
        raise NotImplementedError

    def capabilities(self) -> Capabilities:
        raise NotImplementedError

    def pull_contacts(self, cursor: str | None) -> AsyncIterator[Any]:
        raise NotImplementedError

    def pull_consent(self, cursor: str | None) -> AsyncIterator[Any]:
        raise NotImplementedError

    def pull_activity(self, cursor: str | None) -> AsyncIterator[Any]:
        raise NotImplementedError

    async def ensure_targets(self, targets: Sequence[Any]) -> dict[Any, str]:
        raise NotImplementedError

    async def apply(self, changes: Sequence[Any]) -> list[Any]:
        raise NotImplementedError


class OtherConnector(ToyConnector):
    name: ClassVar[str] = "other"
    settings_model: ClassVar[type[ConnectorSettings]] = ConnectorSettings


CATALOGUE = ConnectorCatalogue(
    {"toy": ToyConnector, "other": OtherConnector},
    broken={"ghost": "No module named 'connectors.ghost'"},
)
ENV = {"TOY_KEY": "k-toy", "OTHER_KEY": "k-other"}

GOOD = """
[store]
url = "sqlite:///./var/syncd.db"

[logging]
level = "DEBUG"

[[accounts]]
id = "acme"
name = "Acme Ltd"

[accounts.connectors.toy]
audience_id = "aud-1"
api_key_env = "TOY_KEY"

[accounts.connectors.other]
api_key_env = "OTHER_KEY"

[accounts.schedule]
incremental = 600
full = "30 2 * * *"

[accounts.scoring]
inactivity_months = "b2b"

[accounts.merge]
default_precedence = ["toy", "other"]
precedence = { first_name = "most_recent" }

[[accounts.segments]]
name = "engaged"
rule = "opens_30d >= 2"
holdout = 0.1
push.toy = { tags = ["syncd-engaged"], properties = { syncd_engaged = true } }
"""


def check(text: str, env: dict[str, str] | None = None, **kwargs: Any) -> list[tuple[str, str]]:
    result = check_config_text(
        text, env=ENV if env is None else env, connectors=CATALOGUE, **kwargs
    )
    return [(p.path, p.message) for p in result.problems]


def paths(text: str, **kwargs: Any) -> list[str]:
    return [path for path, _ in check(text, **kwargs)]


def test_a_good_config_loads_typed_with_secrets_resolved() -> None:
    result = check_config_text(GOOD, env=ENV, connectors=CATALOGUE)
    assert result.ok, result.problems
    config = result.config
    assert isinstance(config, SyncdConfig)
    account = config.account("acme")
    toy = account.connectors["toy"]
    assert isinstance(toy, ToySettings) and toy.audience_id == "aud-1" and toy.region == "eu"
    assert account.api_key("toy") == "k-toy"
    assert account.scoring.inactive_after_months == 12
    assert account.merge.precedence_for("first_name") == "most_recent"
    assert account.merge.precedence_for("country") == ["toy", "other"]
    assert account.segment("engaged").push["toy"].properties == {"syncd_engaged": True}
    assert config.logging.level == "DEBUG"
    assert result.summary["accounts"][0]["connectors"] == ["other", "toy"]
    assert result.summary["segments"] == 1


def test_secrets_never_appear_in_a_dump() -> None:
    config = check_config_text(GOOD, env=ENV, connectors=CATALOGUE).config
    assert config is not None
    dumped = json.dumps(config.model_dump(mode="json"))
    assert "k-toy" not in dumped and "k-other" not in dumped
    assert '"audience_id": "aud-1"' in dumped  # connector settings do serialise


def test_defaults_follow_the_documented_figures() -> None:
    config = check_config_text(GOOD, env=ENV, connectors=CATALOGUE).config
    assert config is not None
    scoring = config.accounts[0].scoring
    assert (scoring.points.open, scoring.points.click, scoring.points.purchase) == (10, 20, 50)
    assert scoring.points.unsubscribe < 0 and scoring.points.bounce < 0
    assert scoring.points.complaint < 0
    assert scoring.half_life_days == 30
    assert scoring.tiers.high_open_rate == 0.20
    assert scoring.drift_threshold == 0.2
    assert config.accounts[0].merge.suppression == "global"
    assert config.accounts[0].merge.drift == "correct"
    assert config.admin.bind == "127.0.0.1"


def test_every_activity_type_has_points() -> None:
    from syncd.config import EventPoints

    assert set(EventPoints.model_fields) == {t.value for t in ActivityType}


def test_unknown_keys_are_reported_with_their_path() -> None:
    text = GOOD.replace('name = "Acme Ltd"', 'name = "Acme Ltd"\nnmae = "typo"').replace(
        'audience_id = "aud-1"', 'audience_id = "aud-1"\naudience = "x"'
    )
    found = dict(check(text))
    assert found["accounts[0].nmae"] == "unknown key 'nmae'"
    assert found["accounts[0].connectors.toy.audience"] == "unknown key 'audience'"


def test_wrong_types_name_the_key_and_the_value_given() -> None:
    text = GOOD.replace('audience_id = "aud-1"', "audience_id = 42").replace(
        "holdout = 0.1", 'holdout = "ten"'
    )
    found = dict(check(text))
    assert "valid string" in found["accounts[0].connectors.toy.audience_id"]
    assert "int 42" in found["accounts[0].connectors.toy.audience_id"]
    assert "accounts[0].segments[0].holdout" in found


def test_a_missing_required_connector_key_is_reported() -> None:
    text = GOOD.replace('audience_id = "aud-1"\n', "")
    assert check(text) == [("accounts[0].connectors.toy.audience_id", "required key is missing")]


def test_unknown_and_unloadable_connectors() -> None:
    text = GOOD + '\n[accounts.connectors.nope]\napi_key_env = "X"\n[accounts.connectors.ghost]\n'
    found = dict(check(text))
    assert found["accounts[0].connectors.nope"].startswith("unknown connector 'nope'")
    assert "known: other, toy" in found["accounts[0].connectors.nope"]
    assert "could not be loaded" in found["accounts[0].connectors.ghost"]


def test_missing_env_var_and_unreadable_key_file(tmp_path: Path) -> None:
    text = GOOD.replace('api_key_env = "TOY_KEY"', 'api_key_file = "secrets/toy.key"')
    assert paths(text, env={"OTHER_KEY": "x"}, base_dir=tmp_path) == [
        "accounts[0].connectors.toy.api_key_file"
    ]
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "toy.key").write_text("from-file\n")
    result = check_config_text(
        text, env={"OTHER_KEY": "x"}, connectors=CATALOGUE, base_dir=tmp_path
    )
    assert result.config is not None
    assert result.config.accounts[0].api_key("toy") == "from-file"
    found = check(GOOD, env={"TOY_KEY": "set"})
    assert found == [
        ("accounts[0].connectors.other.api_key_env", "environment variable OTHER_KEY is not set")
    ]


def test_a_literal_key_in_the_file_is_refused_clearly() -> None:
    text = GOOD.replace('api_key_env = "TOY_KEY"', 'api_key = "pat-na1-123"')
    found = check(text)
    assert len(found) == 1
    path, message = found[0]
    assert path == "accounts[0].connectors.toy.api_key"
    assert "secret" in message and "api_key_env" in message


def test_a_connector_without_any_key_source() -> None:
    text = GOOD.replace('api_key_env = "OTHER_KEY"\n', "")
    assert paths(text) == ["accounts[0].connectors.other"]


def test_duplicate_account_ids_and_segment_names() -> None:
    text = (
        GOOD
        + GOOD[GOOD.index("[[accounts]]") :]
        + ('\n[[accounts.segments]]\nname = "engaged"\nrule = "opens_7d > 0"\n')
    )
    found = dict(check(text))
    assert found["accounts[1].id"] == "duplicate account id 'acme' (first at accounts[0])"
    assert found["accounts[1].segments[1].name"].startswith("duplicate segment name 'engaged'")


def test_all_problems_are_collected_in_file_order() -> None:
    text = (
        GOOD.replace("incremental = 600", "incremental = 5")
        .replace('full = "30 2 * * *"', 'full = "99 * * * *"')
        .replace('inactivity_months = "b2b"', "inactivity_months = 4")
        .replace("holdout = 0.1", "holdout = 0.9")
        .replace('level = "DEBUG"', 'level = "LOUD"')
        .replace("push.toy", "push.nowhere")
    )
    assert paths(text, env={}) == [
        "accounts[0].connectors.other.api_key_env",
        "accounts[0].connectors.toy.api_key_env",
        "accounts[0].schedule.full",
        "accounts[0].schedule.incremental",
        "accounts[0].scoring.inactivity_months",
        "accounts[0].segments[0].holdout",
        "accounts[0].segments[0].push.nowhere",
        "logging.level",
    ]


def test_precedence_may_only_name_configured_connectors() -> None:
    text = GOOD.replace('["toy", "other"]', '["toy", "x"]')
    assert check(text) == [
        ("accounts[0].merge.default_precedence[1]", "connector 'x' is not configured here")
    ]


def test_rule_problems_come_from_the_rule_checker_hook() -> None:
    def checker(name: str, rule: str, known: Sequence[str]) -> list[tuple[str, int]]:
        assert known == ["engaged"]
        return [("unknown field 'opnes_7d'", 0)] if "opnes" in rule else []

    text = GOOD.replace("opens_30d >= 2", "opnes_7d > 1")
    assert check(text, rule_checker=checker) == [
        (
            "accounts[0].segments[0].rule",
            "unknown field 'opnes_7d' at position 0 (segment 'engaged')",
        )
    ]
    assert check(GOOD, rule_checker=checker) == []


def test_the_engine_parser_checks_rules_when_installed() -> None:
    pytest.importorskip("syncd.engine.rules", reason="the rule parser is not installed")
    text = GOOD.replace("opens_30d >= 2", "opnes_7d > 1")
    (path, message), *rest = check(text)
    assert path == "accounts[0].segments[0].rule" and not rest
    assert message.startswith("unknown field 'opnes_7d'")
    assert message.endswith("at position 0 (segment 'engaged')")


def test_toml_syntax_errors_give_line_and_column() -> None:
    (path, message), *rest = check(GOOD.replace('id = "acme"', "id = acme"))
    assert path == "" and not rest
    assert "line" in message and "column" in message


def test_store_url_rules() -> None:
    assert paths(GOOD.replace("sqlite:///./var/syncd.db", "mysql://h/db")) == ["store.url"]
    with_password = GOOD.replace("sqlite:///./var/syncd.db", "postgresql://u:pw@h/db")
    (path, message), *_ = check(with_password)
    assert path == "store.url" and "url_env" in message
    from_env = GOOD.replace('url = "sqlite:///./var/syncd.db"', 'url_env = "DB_URL"')
    assert paths(from_env) == ["store.url_env"]
    result = check_config_text(
        from_env, env={**ENV, "DB_URL": "postgresql://u:pw@h/db"}, connectors=CATALOGUE
    )
    assert result.config is not None and result.config.store_url == "postgresql://u:pw@h/db"
    assert "pw" not in json.dumps(result.summary)


def test_admin_beyond_loopback_needs_a_token() -> None:
    text = GOOD + '\n[admin]\nbind = "0.0.0.0"\n'
    assert paths(text) == ["admin.token_env"]
    assert paths(text.replace('bind = "0.0.0.0"', 'bind = "0.0.0.0"\ntoken_env = "TOK"')) == [
        "admin.token_env"
    ]
    ok = text.replace('bind = "0.0.0.0"', 'bind = "0.0.0.0"\ntoken_env = "TOK"')
    assert check(ok, env={**ENV, "TOK": "t"}) == []


def test_a_config_needs_accounts_and_accounts_need_connectors() -> None:
    assert paths("[store]\n") == ["accounts"]
    assert check('[[accounts]]\nid = "a"\n[accounts.connectors]\n') == [
        ("accounts[0].connectors", "at least one connector is required")
    ]


def test_account_ids_are_slugs() -> None:
    assert paths(GOOD.replace('id = "acme"', 'id = "Acme Ltd"')) == ["accounts[0].id"]


def test_key_path_quotes_keys_that_are_not_identifiers() -> None:
    assert key_path(("accounts", 1, "connectors", "mailchimp", "audience_id")) == (
        "accounts[1].connectors.mailchimp.audience_id"
    )
    assert key_path(("a", "b c", 0)) == 'a["b c"][0]'


def test_load_config_raises_with_every_problem(tmp_path: Path) -> None:
    file = tmp_path / "syncd.toml"
    file.write_text(GOOD)
    with pytest.raises(ConfigError) as caught:
        load_config(file, env={}, connectors=CATALOGUE)
    assert len(caught.value.problems) == 2
    assert load_config(file, env=ENV, connectors=CATALOGUE).accounts[0].id == "acme"
    assert not check_config(tmp_path / "missing.toml", connectors=CATALOGUE).ok


def test_read_store_url_needs_no_connector_secrets(tmp_path: Path) -> None:
    file = tmp_path / "syncd.toml"
    file.write_text(GOOD)
    assert read_store_url(file, env={}) == "sqlite:///./var/syncd.db"


def test_registry_failures_are_handled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connector_module, "registry", lambda: {"toy": ToyConnector})
    assert discover_connectors().classes == {"toy": ToyConnector}
    result = check_config_text(
        GOOD.replace('[accounts.connectors.other]\napi_key_env = "OTHER_KEY"\n', "").replace(
            '["toy", "other"]', '["toy"]'
        ),
        env=ENV,
        rule_checker=None,
    )
    assert result.ok, result.problems

    def broken() -> dict[str, type[Connector]]:
        raise ImportError("No module named 'connectors.hubspot'")

    monkeypatch.setattr(connector_module, "registry", broken)
    catalogue = discover_connectors()  # falls back to loading entry points one by one
    assert set(catalogue.classes).isdisjoint(catalogue.broken)
