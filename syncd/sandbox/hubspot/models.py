"""HubSpot request bodies, written for the sandbox from HubSpot's public API reference.

Our own models (the vendor's OpenAPI files may not be copied). HubSpot rejects unknown JSON
fields ("Unrecognized field"), so every body model forbids extras.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- CRM objects -----------------------------------------------------------------------------

FilterOperator = Literal[
    "BETWEEN",
    "CONTAINS_TOKEN",
    "EQ",
    "GT",
    "GTE",
    "HAS_PROPERTY",
    "IN",
    "LT",
    "LTE",
    "NEQ",
    "NOT_CONTAINS_TOKEN",
    "NOT_HAS_PROPERTY",
    "NOT_IN",
]


class SearchFilter(_Body):
    propertyName: str
    operator: FilterOperator
    value: str | None = None
    highValue: str | None = None
    values: list[str] | None = None


class FilterGroup(_Body):
    filters: list[SearchFilter]


class SearchSort(_Body):
    propertyName: str
    direction: Literal["ASCENDING", "DESCENDING"] = "ASCENDING"


class SearchRequest(_Body):
    filterGroups: list[FilterGroup] = Field(default_factory=list, max_length=5)
    # the API takes sort objects; its published schema says strings ("prop" / "-prop")
    sorts: list[SearchSort | str] = Field(default_factory=list)
    query: str | None = None
    properties: list[str] = Field(default_factory=list)
    limit: int = Field(default=10, ge=0)
    after: str | int | None = None


class ObjectId(_Body):
    id: str


class BatchReadRequest(_Body):
    inputs: list[ObjectId]
    properties: list[str] = Field(default_factory=list)
    propertiesWithHistory: list[str] = Field(default_factory=list)
    idProperty: str | None = None


class BatchUpdateInput(_Body):
    id: str
    idProperty: str | None = None
    objectWriteTraceId: str | None = None
    properties: dict[str, str | None]


class BatchUpdateRequest(_Body):
    inputs: list[BatchUpdateInput]


class BatchUpsertRequest(_Body):
    inputs: list[BatchUpdateInput]


class GdprDeleteRequest(_Body):
    objectId: str
    idProperty: str | None = None


# --- lists -----------------------------------------------------------------------------------


class ListCreateRequest(_Body):
    name: str = Field(min_length=1)
    objectTypeId: str
    processingType: Literal["MANUAL", "SNAPSHOT", "DYNAMIC"]
    customProperties: dict[str, str] | None = None
    listFolderId: int | None = None
    filterBranch: dict[str, object] | None = None
    membershipSettings: dict[str, object] | None = None
    listPermissions: dict[str, object] | None = None


class ListSearchRequest(_Body):
    query: str | None = None
    offset: int = Field(default=0, ge=0)
    count: int | None = Field(default=None, ge=0)
    processingTypes: list[str] | None = None
    listIds: list[str] | None = None
    objectTypeId: str | None = None
    additionalProperties: list[str] = Field(default_factory=list)
    sort: str | None = None


class MembershipChangeRequest(_Body):
    recordIdsToAdd: list[str]
    recordIdsToRemove: list[str]


class RecordIdInput(_Body):
    objectTypeId: str
    recordId: str


class RecordMembershipsBatchRead(_Body):
    inputs: list[RecordIdInput]


# --- properties ------------------------------------------------------------------------------


class PropertyOptionInput(_Body):
    label: str
    value: str
    hidden: bool = False
    description: str | None = None
    displayOrder: int | None = None


class PropertyCreate(_Body):
    name: str = Field(min_length=1)
    label: str
    type: Literal["bool", "date", "datetime", "enumeration", "number", "phone_number", "string"]
    fieldType: Literal[
        "booleancheckbox",
        "calculation_equation",
        "checkbox",
        "date",
        "file",
        "html",
        "number",
        "phonenumber",
        "radio",
        "select",
        "text",
        "textarea",
    ]
    groupName: str
    description: str | None = None
    options: list[PropertyOptionInput] = Field(default_factory=list)
    displayOrder: int | None = None
    hasUniqueValue: bool | None = None
    hidden: bool | None = None
    formField: bool | None = None
    externalOptions: bool | None = None
    dataSensitivity: str | None = None
    calculationFormula: str | None = None
    currencyPropertyName: str | None = None
    numberDisplayHint: str | None = None
    referencedObjectType: str | None = None
    showCurrencySymbol: bool | None = None
    textDisplayHint: str | None = None


# --- communication preferences ---------------------------------------------------------------

LegalBasis = Literal[
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
]


class SubscriptionChange(_Body):
    """v3 subscribe / unsubscribe body."""

    emailAddress: str
    subscriptionId: str
    legalBasis: LegalBasis | None = None
    legalBasisExplanation: str | None = None


class BatchInputString(_Body):
    inputs: list[str]
