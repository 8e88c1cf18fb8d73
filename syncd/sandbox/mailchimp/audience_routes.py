"""Routes for merge fields and static segments (Mailchimp's tags)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from syncd.sandbox.mailchimp import rules
from syncd.sandbox.mailchimp.models import (
    MergeFieldIn,
    MergeFieldsQuery,
    PageQuery,
    SegmentBatchIn,
    SegmentIn,
    SegmentsQuery,
)
from syncd.sandbox.mailchimp.routing import ApiBase, aware
from syncd.sandbox.mailchimp.state import (
    Audience,
    Problem,
    not_found,
)


class AudienceApi(ApiBase):
    # --- merge fields -----------------------------------------------------------------------

    async def merge_fields(self, request: Request) -> Response:
        audience = self.audience(request)
        q = self.query(request, MergeFieldsQuery)
        self._page_max(q.count)
        found = [
            f
            for f in audience.merge_fields.values()
            if (q.type is None or f.type == q.type)
            and (q.required is None or f.required == q.required)
        ]
        body = {
            "merge_fields": [f.as_json(audience.id) for f in found[q.offset : q.offset + q.count]],
            "list_id": audience.id,
            "total_items": len(found),
        }
        return self.reply(request, body)

    async def merge_field(self, request: Request) -> Response:
        audience = self.audience(request)
        for f in audience.merge_fields.values():
            if str(f.merge_id) == request.path_params["merge_id"]:
                return self.reply(request, f.as_json(audience.id))
        raise not_found()

    async def add_merge_field(self, request: Request) -> Response:
        audience = self.audience(request)
        body = await self.body(request, MergeFieldIn)
        tag = (body.tag or _tag_from(body.name, audience)).upper()
        if tag in audience.merge_fields:
            raise Problem(
                400,
                "Invalid Resource",
                f'A Merge Field with the tag "{tag}" already exists for this list.',
            )
        if any(f.name == body.name for f in audience.merge_fields.values()):
            raise Problem(
                400,
                "Invalid Resource",
                f'A Merge Field with the name "{body.name}" already exists for this list.',
            )
        mf = audience.add_merge_field(tag, body.name, body.type)
        mf.required, mf.default_value, mf.public = body.required, body.default_value, body.public
        for member in audience.members.values():
            member.merge_fields[tag] = ""
        return self.reply(request, mf.as_json(audience.id))

    # --- segments (tags) --------------------------------------------------------------------

    async def segments(self, request: Request) -> Response:
        audience = self.audience(request)
        q = self.query(request, SegmentsQuery)
        self._page_max(q.count)
        since = aware(q.since_updated_at)
        found = [
            s
            for s in audience.segments.values()
            if q.type in (None, "static") and (since is None or s.updated_at > since)
        ]
        body = {
            "segments": [s.as_json(audience.id) for s in found[q.offset : q.offset + q.count]],
            "list_id": audience.id,
            "total_items": len(found),
        }
        return self.reply(request, body)

    async def add_segment(self, request: Request) -> Response:
        audience = self.audience(request)
        body = await self.body(request, SegmentIn)
        if body.static_segment is None:
            raise Problem(
                400,
                "Invalid Resource",
                "Only static segments (tags) are supported by this sandbox.",
            )
        if audience.segment_named(body.name) is not None:
            raise Problem(400, "Bad Request", "Sorry, that tag already exists.")
        now = self.clock.now()
        segment = audience.add_segment(body.name, now)
        if body.static_segment:
            rules.segment_batch(audience, segment, body.static_segment, [], now)
        return self.reply(request, segment.as_json(audience.id))

    async def get_segment(self, request: Request) -> Response:
        audience, segment = self.segment(request)
        return self.reply(request, segment.as_json(audience.id))

    async def delete_segment(self, request: Request) -> Response:
        audience, segment = self.segment(request)
        now = self.clock.now()
        for member_id in segment.members:
            audience.members[member_id].last_changed = now
        del audience.segments[segment.id]
        return Response(status_code=204)

    async def segment_members(self, request: Request) -> Response:
        audience, segment = self.segment(request)
        q = self.query(request, PageQuery)
        self._page_max(q.count)
        found = sorted((audience.members[h] for h in segment.members), key=lambda m: m.seq)
        body = {
            "members": [audience.member_json(m) for m in found[q.offset : q.offset + q.count]],
            "total_items": len(found),
        }
        return self.reply(request, body)

    async def segment_batch(self, request: Request) -> Response:
        audience, segment = self.segment(request)
        body = await self.body(request, SegmentBatchIn)
        most = self.limits.segment_batch_max
        if len(body.members_to_add) > most or len(body.members_to_remove) > most:
            raise Problem(
                400,
                "Bad Request",
                "Maximum allowed member items exceeded, please provide at most "
                f"{most} items in members_to_add field or members_to_remove field",
            )
        result = rules.segment_batch(
            audience, segment, body.members_to_add, body.members_to_remove, self.clock.now()
        )
        return self.reply(request, result)


def _tag_from(name: str, audience: Audience) -> str:
    """A free merge tag from a field name: upper-case alphanumerics, at most 10 characters."""
    base = "".join(c for c in name.upper() if c.isalnum() or c == "_")[:10] or "MERGE"
    tag, n = base, 1
    while tag in audience.merge_fields:
        n += 1
        tag = f"{base[: 10 - len(str(n))]}{n}"
    return tag
