"""Request bodies and query strings of the Mailchimp Marketing API v3, as the sandbox accepts them.

Written from the public SDK's operation signatures and the API docs (not copied): each model
lists the fields syncd and common clients send; anything else is refused with Mailchimp's
"Invalid Resource" problem, which catches client bugs early.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

#: statuses a client may ask for (``archived`` is reached through DELETE, not by status)
RequestStatus = Literal["subscribed", "unsubscribed", "cleaned", "pending", "transactional"]
#: statuses a member can be in
MemberStatus = Literal[
    "subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"
]
MergeFieldType = Literal[
    "text",
    "number",
    "address",
    "phone",
    "date",
    "url",
    "imageurl",
    "radio",
    "dropdown",
    "birthday",
    "zip",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberIn(_Body):
    """``POST /lists/{id}/members``, ``PUT`` and ``PATCH /lists/{id}/members/{hash}``."""

    email_address: str | None = None
    status: RequestStatus | None = None
    status_if_new: RequestStatus | None = None
    email_type: Literal["html", "text"] | None = None
    merge_fields: dict[str, Any] | None = None
    interests: dict[str, bool] | None = None
    language: str | None = None
    vip: bool | None = None
    location: dict[str, float] | None = None
    marketing_permissions: list[dict[str, Any]] | None = None
    ip_signup: str | None = None
    timestamp_signup: str | None = None
    ip_opt: str | None = None
    timestamp_opt: str | None = None
    tags: list[str] | None = None


class BatchMemberIn(_Body):
    """One member of ``POST /lists/{id}`` (batch subscribe or update)."""

    email_address: str
    status: RequestStatus | None = None
    status_if_new: RequestStatus | None = None
    email_type: Literal["html", "text"] | None = None
    merge_fields: dict[str, Any] | None = None
    interests: dict[str, bool] | None = None
    language: str | None = None
    vip: bool | None = None
    ip_signup: str | None = None
    timestamp_signup: str | None = None
    ip_opt: str | None = None
    timestamp_opt: str | None = None


class BatchMembersIn(_Body):
    members: list[BatchMemberIn]
    update_existing: bool = False
    sync_tags: bool = False


class TagIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    status: Literal["active", "inactive"]


class MemberTagsIn(_Body):
    """``POST /lists/{id}/members/{hash}/tags``."""

    tags: list[TagIn]
    is_syncing: bool = False


class SegmentIn(_Body):
    """``POST /lists/{id}/segments``: a static segment (a tag) when ``static_segment`` is given."""

    name: str = Field(min_length=1, max_length=100)
    static_segment: list[str] | None = None
    options: dict[str, Any] | None = None


class SegmentBatchIn(_Body):
    """``POST /lists/{id}/segments/{segment_id}``: bulk add / remove by email."""

    members_to_add: list[str] = Field(default_factory=list)
    members_to_remove: list[str] = Field(default_factory=list)


class MergeFieldIn(_Body):
    """``POST /lists/{id}/merge-fields``."""

    name: str = Field(min_length=1, max_length=50)
    type: MergeFieldType
    tag: str | None = Field(default=None, max_length=10, pattern=r"^[A-Za-z0-9_]+$")
    required: bool = False
    default_value: str = ""
    public: bool = False
    display_order: int | None = None
    options: dict[str, Any] | None = None
    help_text: str | None = None


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")

    fields: str | None = None
    exclude_fields: str | None = None


class PageQuery(_Query):
    count: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class MembersQuery(PageQuery):
    """``GET /lists/{id}/members``."""

    status: MemberStatus | None = None
    email_type: Literal["html", "text"] | None = None
    since_last_changed: datetime | None = None
    before_last_changed: datetime | None = None
    since_timestamp_opt: datetime | None = None
    before_timestamp_opt: datetime | None = None
    unique_email_id: str | None = None
    vip_only: bool | None = None
    sort_field: Literal["timestamp_opt", "timestamp_signup", "last_changed"] | None = None
    sort_dir: Literal["ASC", "DESC"] | None = None


class SegmentsQuery(PageQuery):
    """``GET /lists/{id}/segments``."""

    type: Literal["saved", "static", "fuzzy"] | None = None
    since_updated_at: datetime | None = None


class ActivityFeedQuery(PageQuery):
    """``GET /lists/{id}/members/{hash}/activity-feed``."""

    activity_filters: str | None = None


class MergeFieldsQuery(PageQuery):
    type: MergeFieldType | None = None
    required: bool | None = None
