"""Brevo v3 request and response shapes, written from brevo-python 5.1.0 and the docs.

Request models validate what a client sends (a bad one is answered with Brevo's 400
``{"code": "invalid_parameter", "message": ...}``); response models fix the field names the
sandbox writes. Field names follow Brevo's camelCase through aliases.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AttributeValue = str | int | float | bool | list[str] | None


class _Query(BaseModel):
    # Brevo ignores query parameters it does not know
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- queries -------------------------------------------------------------------------------


class ContactsQuery(_Query):
    limit: int = Field(default=50, ge=0)
    offset: int = Field(default=0, ge=0)
    modified_since: datetime | None = Field(default=None, alias="modifiedSince")
    created_since: datetime | None = Field(default=None, alias="createdSince")
    sort: Literal["asc", "desc"] = "desc"
    list_ids: list[int] | None = Field(default=None, alias="listIds")
    ids: list[int] | None = None


class ListContactsQuery(_Query):
    limit: int = Field(default=50, ge=0)
    offset: int = Field(default=0, ge=0)
    modified_since: datetime | None = Field(default=None, alias="modifiedSince")
    sort: Literal["asc", "desc"] = "desc"


class PageQuery(_Query):
    limit: int = Field(default=10, ge=0)
    offset: int = Field(default=0, ge=0)
    sort: Literal["asc", "desc"] = "desc"


class StatsQuery(_Query):
    start_date: date | None = Field(default=None, alias="startDate")
    end_date: date | None = Field(default=None, alias="endDate")


class IdentifierQuery(_Query):
    identifier_type: (
        Literal["email_id", "contact_id", "ext_id", "phone_id", "whatsapp_id", "landline_number_id"]
        | None
    ) = Field(default=None, alias="identifierType")


# --- bodies --------------------------------------------------------------------------------


class ListMembershipBody(_Body):
    """Add / remove body: exactly one of emails, ids, extIds (or ``all`` on remove)."""

    emails: list[str] | None = None
    ids: list[int] | None = None
    ext_ids: list[str] | None = Field(default=None, alias="extIds")
    all_: bool | None = Field(default=None, alias="all")


class CreateListBody(_Body):
    name: str = Field(min_length=1)
    folder_id: int = Field(alias="folderId")


class CreateFolderBody(_Body):
    name: str = Field(min_length=1)


class EnumerationItem(_Body):
    value: int
    label: str


class CreateAttributeBody(_Body):
    type: (
        Literal["text", "date", "float", "boolean", "id", "category", "multiple-choice", "user"]
        | None
    ) = None
    value: str | None = None
    is_recurring: bool | None = Field(default=None, alias="isRecurring")
    enumeration: list[EnumerationItem] | None = None
    multi_category_options: list[str] | None = Field(default=None, alias="multiCategoryOptions")


class CreateContactBody(_Body):
    email: str | None = None
    ext_id: str | None = Field(default=None, alias="ext_id")
    attributes: dict[str, AttributeValue] | None = None
    email_blacklisted: bool | None = Field(default=None, alias="emailBlacklisted")
    sms_blacklisted: bool | None = Field(default=None, alias="smsBlacklisted")
    list_ids: list[int] | None = Field(default=None, alias="listIds")
    update_enabled: bool = Field(default=False, alias="updateEnabled")
    smtp_blacklist_sender: list[str] | None = Field(default=None, alias="smtpBlacklistSender")


class UpdateContactBody(_Body):
    attributes: dict[str, AttributeValue] | None = None
    email_blacklisted: bool | None = Field(default=None, alias="emailBlacklisted")
    sms_blacklisted: bool | None = Field(default=None, alias="smsBlacklisted")
    list_ids: list[int] | None = Field(default=None, alias="listIds")
    unlink_list_ids: list[int] | None = Field(default=None, alias="unlinkListIds")
    ext_id: str | None = Field(default=None, alias="ext_id")
    smtp_blacklist_sender: list[str] | None = Field(default=None, alias="smtpBlacklistSender")


class BatchContactItem(UpdateContactBody):
    email: str | None = None
    id: int | None = None
    sms: str | None = None


class BatchUpdateBody(_Body):
    contacts: list[BatchContactItem] | None = None


class ImportRow(_Body):
    email: str | None = None
    attributes: dict[str, AttributeValue] | None = None


class NewList(_Body):
    list_name: str = Field(alias="listName", min_length=1)
    folder_id: int | None = Field(default=None, alias="folderId")


class ImportBody(_Body):
    file_url: str | None = Field(default=None, alias="fileUrl")
    file_body: str | None = Field(default=None, alias="fileBody")
    json_body: list[ImportRow] | None = Field(default=None, alias="jsonBody")
    list_ids: list[int] | None = Field(default=None, alias="listIds")
    new_list: NewList | None = Field(default=None, alias="newList")
    notify_url: str | None = Field(default=None, alias="notifyUrl")
    email_blacklist: bool = Field(default=False, alias="emailBlacklist")
    sms_blacklist: bool = Field(default=False, alias="smsBlacklist")
    disable_notification: bool = Field(default=False, alias="disableNotification")
    update_existing_contacts: bool = Field(default=True, alias="updateExistingContacts")
    empty_contacts_attributes: bool = Field(default=False, alias="emptyContactsAttributes")
    consent_group_ids: list[int] | None = Field(default=None, alias="consentGroupIds")


# --- responses -----------------------------------------------------------------------------


class ErrorOut(_Out):
    code: str
    message: str


class ContactOut(_Out):
    id: int
    email: str | None = None
    email_blacklisted: bool = Field(alias="emailBlacklisted")
    sms_blacklisted: bool = Field(alias="smsBlacklisted")
    whatsapp_blacklisted: bool = Field(default=False, alias="whatsappBlacklisted")
    created_at: str = Field(alias="createdAt")
    modified_at: str = Field(alias="modifiedAt")
    list_ids: list[int] = Field(alias="listIds")
    list_unsubscribed: list[int] | None = Field(default=None, alias="listUnsubscribed")
    attributes: dict[str, AttributeValue]
    statistics: dict[str, Any] | None = None


class ContactsPage(_Out):
    contacts: list[ContactOut]
    count: int


class ListOut(_Out):
    id: int
    name: str
    folder_id: int = Field(alias="folderId")
    unique_subscribers: int = Field(alias="uniqueSubscribers")
    total_blacklisted: int = Field(alias="totalBlacklisted")
    total_subscribers: int = Field(alias="totalSubscribers")
    created_at: str | None = Field(default=None, alias="createdAt")


class ListsPage(_Out):
    lists: list[ListOut]
    count: int


class FolderOut(_Out):
    id: int
    name: str
    unique_subscribers: int = Field(alias="uniqueSubscribers")
    total_blacklisted: int = Field(alias="totalBlacklisted")
    total_subscribers: int = Field(alias="totalSubscribers")


class FoldersPage(_Out):
    folders: list[FolderOut]
    count: int


class CreatedOut(_Out):
    id: int


class MembershipContacts(_Out):
    success: list[str | int] = Field(default_factory=list)
    failure: list[str | int] = Field(default_factory=list)
    total: int | None = None
    process_id: int | None = Field(default=None, alias="processId")


class MembershipOut(_Out):
    contacts: MembershipContacts


class AttributeOut(_Out):
    name: str
    category: str
    type: str | None = None
    enumeration: list[dict[str, Any]] | None = None


class AttributesOut(_Out):
    attributes: list[AttributeOut]


class ProcessOut(_Out):
    process_id: int = Field(alias="processId")


class ProcessStatusOut(_Out):
    id: int
    status: Literal["queued", "in_process", "completed"]
    name: str
    export_url: str | None = None
