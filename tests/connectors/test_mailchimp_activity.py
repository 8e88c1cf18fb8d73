"""Activity pulls overlap member pages (connections never idle at a page boundary) while each
page's cursor still covers only what has been read, and only a few pages are held at once."""

from __future__ import annotations

import asyncio

import pytest

from connectors.mailchimp import MailchimpSettings
from connectors.mailchimp.activity import PAGES_OPEN
from syncd.clock import VirtualClock
from syncd.records import ActivityRecord, Page
from syncd.sandbox.generate import generate
from syncd.sandbox.harness import FaultPlan
from syncd.sandbox.population import Population
from tests.support.rig import drain_pages
from tests.support.rig_mailchimp import make_rig, sandbox_of

pytestmark = pytest.mark.anyio

LISTING = r"/members$"


@pytest.fixture
def population() -> Population:
    return generate(120, seed=5)


async def test_feeds_of_the_next_page_start_before_the_current_page_ends(
    population: Population,
) -> None:
    # four members a page: read one page at a time, at most 4 connections could ever be busy
    settings = MailchimpSettings(activity_members_per_page=4)
    rig = make_rig(
        population, clock=VirtualClock(), faults=FaultPlan(latency_s=0.05), settings=settings
    )
    await drain_pages(rig.connector.pull_activity(None))
    gate = sandbox_of(rig).gate
    assert gate.peak > 4 and gate.refused == 0


async def test_every_cursor_covers_exactly_the_pages_before_it(population: Population) -> None:
    settings = MailchimpSettings(activity_members_per_page=7)
    rig = make_rig(
        population, clock=VirtualClock(), faults=FaultPlan(latency_s=0.01), settings=settings
    )
    pages: list[Page[ActivityRecord]] = [p async for p in rig.connector.pull_activity(None)]
    everything = {a.event_id for p in pages for a in p.records}
    assert len(pages) > 5 and everything
    for i in (1, len(pages) // 2, len(pages) - 3):
        before = {a.event_id for p in pages[: i + 1] for a in p.records}
        resumed, _, _ = await drain_pages(rig.connector.pull_activity(pages[i].cursor))
        after = {a.event_id for a in resumed}
        assert before | after == everything, i
        assert not before & after, i


async def test_a_stalled_reader_holds_only_a_few_pages(population: Population) -> None:
    settings = MailchimpSettings(activity_members_per_page=5)
    rig = make_rig(population, clock=VirtualClock(), settings=settings)
    log = sandbox_of(rig).log
    stream = rig.connector.pull_activity(None)
    await anext(stream)
    for _ in range(500):  # the reader does not ask for more: the pull must stop reading ahead
        await asyncio.sleep(0)
    listings = log.count("GET", LISTING)
    assert 2 <= listings <= PAGES_OPEN + 2
    await stream.aclose()  # type: ignore[attr-defined]
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not [t for t in pending if "page_activity" in repr(t.get_coro())]
