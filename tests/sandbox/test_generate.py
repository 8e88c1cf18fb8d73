"""The population generator: deterministic, messy where vendors are messy, consistent, and
carrying real, learnable signal for the scoring engine."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from syncd.normalize import InvalidEmail, normalize_email
from syncd.sandbox.generate import DEFAULT_NOW, PURCHASE_TOOLS, generate
from syncd.sandbox.population import PRESENCE_STATUSES, TOOLS, Person, Population

ENGAGING = {"open", "click", "purchase"}


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(4000, seed=11)


def test_same_arguments_give_identical_populations() -> None:
    assert generate(300, seed=3) == generate(300, seed=3)
    assert generate(300, seed=3) != generate(300, seed=4)


def test_size_clock_and_time_zone(population: Population) -> None:
    assert len(population.people) == 4000
    assert population.now == DEFAULT_NOW
    assert [p.key for p in population.people] == list(range(4000))
    for person in population.people:
        for presence in person.tools.values():
            for moment in (presence.created_at, presence.updated_at, presence.status_changed_at):
                assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)
                assert moment <= population.now
            assert presence.created_at <= presence.status_changed_at <= presence.updated_at
        for event in person.events:
            assert event.at.utcoffset() == timedelta(0) and event.at <= population.now


def test_tool_overlap_is_roughly_as_designed(population: Population) -> None:
    counts = Counter(len(p.tools) for p in population.people)
    n = len(population.people)
    assert counts[1] / n == pytest.approx(0.55, abs=0.04)
    assert counts[2] / n == pytest.approx(0.30, abs=0.04)
    assert counts[3] / n == pytest.approx(0.15, abs=0.03)
    assert all(len(population.in_tool(t)) > n * 0.3 for t in TOOLS)


def test_stored_emails_are_messy_but_normalise_to_the_person(population: Population) -> None:
    messy = 0
    for person in population.people:
        for presence in person.tools.values():
            if person.email is None:
                with pytest.raises(InvalidEmail):
                    normalize_email(presence.email)
            else:
                assert normalize_email(presence.email) == person.email
                messy += presence.email != person.email
    presences = sum(len(p.tools) for p in population.people)
    assert 0.25 < messy / presences < 0.55
    invalid = sum(p.email is None for p in population.people)
    assert 10 <= invalid <= 30  # ~0.5 %


def test_addresses_are_unique_per_tool_and_across_people(population: Population) -> None:
    emails = [p.email for p in population.people if p.email is not None]
    assert len(emails) == len(set(emails))
    for tool in TOOLS:
        held = [p.tools[tool].email.strip().lower() for p in population.in_tool(tool)]
        assert len(held) == len(set(held))


def test_near_duplicates_look_like_their_original(population: Population) -> None:
    by_key = {p.key: p for p in population.people}
    kinds = Counter(p.duplicate_kind for p in population.people if p.duplicate_kind)
    assert set(kinds) == {"gmail_dots", "plus_tag", "typo_domain", "same_name_company_phone"}
    assert all(40 <= c <= 80 for c in kinds.values())  # ~1.5 % each
    for person in population.people:
        if person.duplicate_of is None:
            continue
        base = by_key[person.duplicate_of]
        assert base.duplicate_of is None and base.email and person.email
        assert (person.first_name, person.last_name) == (base.first_name, base.last_name)
        local, _, domain = person.email.partition("@")
        base_local, _, base_domain = base.email.partition("@")
        if person.duplicate_kind == "gmail_dots":
            assert domain == base_domain == "gmail.com"
            assert local.replace(".", "") == base_local.replace(".", "") and local != base_local
        elif person.duplicate_kind == "plus_tag":
            assert local.split("+")[0] == base_local and domain == base_domain
        elif person.duplicate_kind == "typo_domain":
            assert local == base_local and domain != base_domain
        else:
            assert (person.company, person.phone) == (base.company, base.phone)
            assert person.company and person.phone and person.email != base.email


def test_consent_mix_and_cross_tool_conflicts(population: Population) -> None:
    statuses = Counter(pr.status for p in population.people for pr in p.tools.values())
    total = sum(statuses.values())
    assert set(statuses) <= set(PRESENCE_STATUSES) and set(statuses) == set(PRESENCE_STATUSES)
    assert statuses["subscribed"] / total > 0.7
    assert 0.03 < statuses["unsubscribed"] / total < 0.15
    assert 0.01 < statuses["bounced"] / total < 0.08
    assert statuses["complained"] / total < 0.02
    conflicted = [
        p for p in population.people
        if {"unsubscribed", "subscribed"} <= {pr.status for pr in p.tools.values()}
    ]  # fmt: skip
    assert len(conflicted) > 30  # the sync engine must suppress these everywhere
    with_basis = sum(
        pr.legal_basis is not None for p in population.people for pr in p.tools.values()
    )
    assert 0.1 < with_basis / total < 0.6


def test_lists_come_from_the_tool(population: Population) -> None:
    left = 0
    for person in population.people:
        for tool, presence in person.tools.items():
            assert set(presence.lists) <= set(population.lists[tool])
            assert not set(presence.lists) & set(presence.unsubscribed_lists)
            left += bool(presence.unsubscribed_lists)
            bought = any(e.type == "purchase" and e.tool == tool for e in person.events)
            assert bought == ({"Customers", "customer"} & set(presence.lists) != set())
    assert left > 50
    assert all(not p.tools["mailchimp"].unsubscribed_lists for p in population.in_tool("mailchimp"))


def test_events_agree_with_consent_and_presence(population: Population) -> None:
    campaigns = {(c.tool, c.id): c for c in population.campaigns}
    for person in population.people:
        for event in person.events:
            assert event.tool in person.tools
            presence = person.tools[event.tool]
            assert event.at >= presence.created_at
            if event.type == "purchase":
                assert event.tool in PURCHASE_TOOLS and event.value is not None
                assert event.value > 0 and event.value.as_tuple().exponent == -2
                assert event.currency in {"EUR", "USD", "GBP"}
            else:
                assert event.value is None and (event.tool, event.campaign) in campaigns
                assert event.at >= campaigns[(event.tool, event.campaign)].sent_at
        for tool, presence in person.tools.items():
            mine = [e for e in person.events if e.tool == tool]
            if presence.status == "pending" or person.email is None:
                assert not mine
            terminal = {
                "unsubscribed": "unsubscribe",
                "bounced": "bounce",
                "complained": "complaint",
            }
            quits = [e for e in mine if e.type in terminal.values()]
            if presence.status in terminal:
                assert [(e.type, e.at) for e in quits] == [
                    (terminal[presence.status], presence.status_changed_at)
                ]
                later = [e for e in mine if e.at > presence.status_changed_at]
                # only orders may follow an unsubscribe or complaint; nothing follows a bounce
                assert all(e.type == "purchase" for e in later)
                assert presence.status != "bounced" or not later
            else:
                assert not quits


def test_activity_volume_and_heavy_tail(population: Population) -> None:
    per_person = np.array([len(p.events) for p in population.people])
    assert 10 < per_person.mean() < 40
    amounts = np.array(
        [float(e.value) for p in population.people for e in p.events if e.value is not None]
    )
    assert amounts.size > 500 and np.percentile(amounts, 99) > 4 * np.median(amounts)
    opens = np.array([sum(e.type == "open" for e in p.events) for p in population.people])
    assert np.percentile(opens, 95) > 5 * max(np.median(opens), 1)
    signup_days = [min(pr.created_at for pr in p.tools.values()) for p in population.people]
    assert (
        sum(d > population.now - timedelta(days=180) for d in signup_days) > 400
    )  # still arriving


def _features(person: Person, cutoff: datetime) -> list[float]:
    past = [e for e in person.events if e.at <= cutoff]

    def count(types: set[str], days: int) -> int:
        return sum(e.type in types and e.at > cutoff - timedelta(days=days) for e in past)

    engaged = [e.at for e in past if e.type in {"open", "click"}]
    buys = [e for e in past if e.type == "purchase"]
    since_engaged = (cutoff - max(engaged)).days if engaged else 999
    since_bought = (cutoff - max(e.at for e in buys)).days if buys else 999
    tenure = (cutoff - min(pr.created_at for pr in person.tools.values())).days
    return [
        count({"open"}, 30), count({"open"}, 90), count({"click"}, 30), count({"click"}, 90),
        count({"send"}, 30), np.log1p(since_engaged), np.log1p(since_bought), len(buys),
        np.log1p(sum(float(e.value or 0) for e in buys)), np.log1p(max(tenure, 0)),
    ]  # fmt: skip


def _cv_auc(x: list[list[float]], y: list[bool]) -> float:
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    return float(cross_val_score(model, np.array(x), np.array(y), cv=5, scoring="roc_auc").mean())


def test_churn_and_purchase_are_predictable_from_the_past(population: Population) -> None:
    cutoff = population.now - timedelta(days=30)
    churn_x, churn_y, buy_x, buy_y = [], [], [], []
    for person in population.people:
        if person.email is None or min(pr.created_at for pr in person.tools.values()) > cutoff:
            continue
        features = _features(person, cutoff)
        after = [e for e in person.events if e.at > cutoff]
        recently_active = any(
            e.type in ENGAGING and cutoff - timedelta(days=90) < e.at <= cutoff
            for e in person.events
        )
        if recently_active:
            churn_x.append(features)
            churn_y.append(not any(e.type in ENGAGING for e in after))
        if set(person.tools) & set(PURCHASE_TOOLS):
            buy_x.append(features)
            buy_y.append(any(e.type == "purchase" for e in after))
    assert 0.15 < np.mean(churn_y) < 0.85 and 0.02 < np.mean(buy_y) < 0.3
    churn_auc, buy_auc = _cv_auc(churn_x, churn_y), _cv_auc(buy_x, buy_y)
    print(
        f"churn AUC {churn_auc:.3f} (n={len(churn_y)}), purchase AUC {buy_auc:.3f} (n={len(buy_y)})"
    )
    assert 0.7 < churn_auc < 0.97
    assert 0.7 < buy_auc < 0.97


def test_now_and_history_are_respected() -> None:
    now = datetime(2025, 3, 1, tzinfo=UTC)
    pop = generate(200, seed=1, now=now, history_days=120)
    assert pop.now == now
    assert all(now - timedelta(days=121) <= c.sent_at < now for c in pop.campaigns)
    assert all(e.at <= now for p in pop.people for e in p.events)
