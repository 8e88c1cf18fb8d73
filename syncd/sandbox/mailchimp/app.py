"""Starlette routes of the Mailchimp Marketing API v3 sandbox (under ``/3.0``)."""

from __future__ import annotations

from datetime import datetime

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from syncd.sandbox.mailchimp import rules
from syncd.sandbox.mailchimp.audience_routes import AudienceApi
from syncd.sandbox.mailchimp.models import (
    ActivityFeedQuery,
    BatchMembersIn,
    MemberIn,
    MembersQuery,
    MemberTagsIn,
    PageQuery,
)
from syncd.sandbox.mailchimp.routing import EPOCH, Handler, aware
from syncd.sandbox.mailchimp.state import (
    Member,
    Problem,
    audience_json,
    invalid_resource,
    not_found,
    subscriber_hash,
)
from syncd.sandbox.mailchimp.wire import (
    problem_response,
)


class MailchimpApi(AudienceApi):
    """Every route the sandbox serves, by Mailchimp's paths."""

    # --- account and audiences ----------------------------------------------------------------

    async def root(self, request: Request) -> Response:
        return self.reply(request, {"account_id": "sandbox", "account_name": "syncd sandbox"})

    async def ping(self, request: Request) -> Response:
        return self.reply(request, {"health_status": "Everything's Chimpy!"})

    async def lists(self, request: Request) -> Response:
        page = self.query(request, PageQuery)
        found = list(self.state.audiences.values())
        body = [audience_json(a) for a in found[page.offset : page.offset + page.count]]
        return self.reply(request, {"lists": body, "total_items": len(found)})

    async def get_list(self, request: Request) -> Response:
        return self.reply(request, audience_json(self.audience(request)))

    async def batch_members(self, request: Request) -> Response:
        audience = self.audience(request)
        body = await self.body(request, BatchMembersIn)
        if len(body.members) > self.limits.batch_members_max:
            raise invalid_resource(
                [
                    {
                        "field": "members",
                        "message": "Maximum allowed member items exceeded, please provide at "
                        f"most {self.limits.batch_members_max} items",
                    }
                ]
            )
        return self.reply(request, rules.batch_members(audience, body, self.clock.now()))

    # --- members ----------------------------------------------------------------------------

    async def members(self, request: Request) -> Response:
        audience = self.audience(request)
        q = self.query(request, MembersQuery)
        self._page_max(q.count)
        found = [m for m in audience.members.values() if self._matches(m, q)]
        found.sort(key=lambda m: m.seq)
        if q.sort_field:
            field = q.sort_field

            def key(m: Member) -> datetime:
                # Mailchimp keeps these to the second: members within one second tie (and
                # keep their order), as a keyset reader of the real API sees them
                return (getattr(m, field) or EPOCH).replace(microsecond=0)

            found.sort(key=key, reverse=q.sort_dir == "DESC")
        page = found[q.offset : q.offset + q.count]
        body = {
            "members": [audience.member_json(m) for m in page],
            "list_id": audience.id,
            "total_items": len(found),
        }
        return self.reply(request, body)

    @staticmethod
    def _matches(m: Member, q: MembersQuery) -> bool:
        since, before = aware(q.since_last_changed), aware(q.before_last_changed)
        opt_since, opt_before = aware(q.since_timestamp_opt), aware(q.before_timestamp_opt)
        opt = m.timestamp_opt
        # compared at the one-second resolution Mailchimp keeps and reports
        changed = m.last_changed.replace(microsecond=0)
        return not (
            (q.status is not None and m.status != q.status)
            or (q.email_type is not None and m.email_type != q.email_type)
            or (since is not None and changed <= since)
            or (before is not None and changed >= before)
            or (opt_since is not None and (opt is None or opt <= opt_since))
            or (opt_before is not None and (opt is None or opt >= opt_before))
            or (q.unique_email_id is not None and m.unique_email_id != q.unique_email_id)
            or (q.vip_only is True and not m.vip)
        )

    async def add_member(self, request: Request) -> Response:
        audience = self.audience(request)
        body = await self.body(request, MemberIn)
        if not body.email_address:
            raise invalid_resource(
                [{"field": "email_address", "message": "This value should not be blank."}]
            )
        change = rules.Upsert.of(body, body.email_address)
        member, _ = rules.upsert_member(audience, change, self.clock.now(), allow_update=False)
        if body.tags:
            rules.set_member_tags(
                audience, member, [(t, True) for t in body.tags], self.clock.now()
            )
        return self.reply(request, audience.member_json(member))

    async def get_member(self, request: Request) -> Response:
        audience, member = self.member(request)
        return self.reply(request, audience.member_json(member))

    async def put_member(self, request: Request) -> Response:
        audience = self.audience(request)
        body = await self.body(request, MemberIn)
        email = body.email_address
        key = request.path_params["subscriber_hash"]
        existing = audience.members.get(subscriber_hash(key) if "@" in key else key.lower())
        if email is None:
            if existing is None:
                raise invalid_resource(
                    [{"field": "email_address", "message": "This value should not be blank."}]
                )
            email = existing.email_address
        if existing is None and subscriber_hash(email) != key.lower() and "@" not in key:
            raise Problem(
                400, "Invalid Resource", "The subscriber hash does not match the email address."
            )
        member, _ = rules.upsert_member(audience, rules.Upsert.of(body, email), self.clock.now())
        return self.reply(request, audience.member_json(member))

    async def patch_member(self, request: Request) -> Response:
        audience, member = self.member(request)
        body = await self.body(request, MemberIn)
        change = rules.Upsert.of(body, member.email_address)
        member, _ = rules.upsert_member(audience, change, self.clock.now(), allow_create=False)
        return self.reply(request, audience.member_json(member))

    async def archive_member(self, request: Request) -> Response:
        _, member = self.member(request)
        rules.archive(member, self.clock.now())
        return Response(status_code=204)

    async def delete_permanent(self, request: Request) -> Response:
        audience, member = self.member(request)
        rules.delete_permanent(audience, member)
        return Response(status_code=204)

    async def member_tags(self, request: Request) -> Response:
        audience, member = self.member(request)
        q = self.query(request, PageQuery)
        tags = [{"id": s.id, "name": s.name, "date_added": ""} for s in audience.tags_of(member.id)]
        page = tags[q.offset : q.offset + q.count]
        return self.reply(request, {"tags": page, "total_items": len(tags)})

    async def set_member_tags(self, request: Request) -> Response:
        audience, member = self.member(request)
        body = await self.body(request, MemberTagsIn)
        pairs = [(t.name, t.status == "active") for t in body.tags]
        rules.set_member_tags(audience, member, pairs, self.clock.now())
        return Response(status_code=204)

    async def activity_feed(self, request: Request) -> Response:
        audience, member = self.member(request)
        q = self.query(request, ActivityFeedQuery)
        self._page_max(q.count)
        wanted = {f.strip() for f in (q.activity_filters or "").split(",") if f.strip()}
        items = [a for a in member.activity if not wanted or a.activity_type in wanted]
        items.sort(key=lambda a: a.created_at, reverse=True)  # newest first, as Mailchimp lists
        body = {
            "activity": [a.as_json() for a in items[q.offset : q.offset + q.count]],
            "email_id": member.id,
            "list_id": audience.id,
            "total_items": len(items),
        }
        return self.reply(request, body)

    async def activity(self, request: Request) -> Response:
        """The older ``/activity`` endpoint: the last 50 email events, newest first."""
        audience, member = self.member(request)
        items = sorted(member.activity, key=lambda a: a.created_at, reverse=True)[:50]
        body = {
            "activity": [
                {
                    "action": a.activity_type,
                    "timestamp": a.as_json()["created_at_timestamp"],
                    "type": "regular",
                    "campaign_id": a.campaign_id,
                    "title": a.campaign_title,
                }
                for a in items
            ],
            "email_id": member.id,
            "list_id": audience.id,
            "total_items": len(items),
        }
        return self.reply(request, body)

    # --- the app ----------------------------------------------------------------------------

    def starlette(self) -> Starlette:
        m = "/lists/{list_id}/members/{subscriber_hash}"
        s = "/lists/{list_id}/segments"
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/", self.root),
            ("GET", "/ping", self.ping),
            ("GET", "/lists", self.lists),
            ("GET", "/lists/{list_id}", self.get_list),
            ("POST", "/lists/{list_id}", self.batch_members),
            ("GET", "/lists/{list_id}/members", self.members),
            ("POST", "/lists/{list_id}/members", self.add_member),
            ("GET", m, self.get_member),
            ("PUT", m, self.put_member),
            ("PATCH", m, self.patch_member),
            ("DELETE", m, self.archive_member),
            ("POST", m + "/actions/delete-permanent", self.delete_permanent),
            ("GET", m + "/tags", self.member_tags),
            ("POST", m + "/tags", self.set_member_tags),
            ("GET", m + "/activity-feed", self.activity_feed),
            ("GET", m + "/activity", self.activity),
            ("GET", "/lists/{list_id}/merge-fields", self.merge_fields),
            ("POST", "/lists/{list_id}/merge-fields", self.add_merge_field),
            ("GET", "/lists/{list_id}/merge-fields/{merge_id}", self.merge_field),
            ("GET", s, self.segments),
            ("POST", s, self.add_segment),
            ("GET", s + "/{segment_id}", self.get_segment),
            ("POST", s + "/{segment_id}", self.segment_batch),
            ("DELETE", s + "/{segment_id}", self.delete_segment),
            ("GET", s + "/{segment_id}/members", self.segment_members),
        ]
        routes = [self._route(path, handler, method) for method, path, handler in table]

        async def unknown(request: Request, exc: Exception) -> Response:
            return problem_response(not_found())

        return Starlette(routes=routes, exception_handlers={404: unknown, 405: unknown})
