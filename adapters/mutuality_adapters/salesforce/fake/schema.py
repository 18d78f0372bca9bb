"""The objects and fields the fake org knows, and which org features switch them on."""

from __future__ import annotations

from typing import Any

#: object -> field -> describe type. Call-center fields and the objects of optional
#: features are removed per org by :func:`org_schema`.
STANDARD_FIELDS: dict[str, dict[str, str]] = {
    "Contact": {
        "Id": "id",
        "Email": "email",
        "FirstName": "string",
        "LastName": "string",
        "AccountId": "reference",
        "CreatedDate": "datetime",
        "LastModifiedDate": "datetime",
        "LastModifiedById": "reference",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "Task": {
        "Id": "id",
        "WhoId": "reference",
        "WhatId": "reference",
        "Subject": "string",
        "Type": "picklist",
        "TaskSubtype": "picklist",
        "Status": "picklist",
        "IsClosed": "boolean",
        "ActivityDate": "date",
        "CompletedDateTime": "datetime",
        "CallType": "picklist",
        "CallDurationInSeconds": "int",
        "CallDisposition": "string",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
    },
    "Event": {
        "Id": "id",
        "WhoId": "reference",
        "WhatId": "reference",
        "Subject": "string",
        "StartDateTime": "datetime",
        "EndDateTime": "datetime",
        "ActivityDateTime": "datetime",
        "ActivityDate": "date",
        "DurationInMinutes": "int",
        "IsAllDayEvent": "boolean",
        "IsChild": "boolean",
        "IsGroupEvent": "boolean",
        "Type": "picklist",
        "OwnerId": "reference",
        "CreatedById": "reference",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
        "IsArchived": "boolean",
    },
    "EventRelation": {
        "Id": "id",
        "EventId": "reference",
        "RelationId": "reference",
        "Status": "picklist",
        "IsInvitee": "boolean",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "EmailMessage": {
        "Id": "id",
        "Incoming": "boolean",
        "MessageDate": "datetime",
        "ActivityId": "reference",
        "Status": "picklist",
        "Subject": "string",
        "ThreadIdentifier": "string",
        "IsBounced": "boolean",
        "CreatedDate": "datetime",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "EmailMessageRelation": {
        "Id": "id",
        "EmailMessageId": "reference",
        "RelationId": "reference",
        "RelationType": "picklist",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "TaskWhoRelation": {
        "Id": "id",
        "TaskId": "reference",
        "RelationId": "reference",
        "Type": "string",
        "SystemModstamp": "datetime",
        "IsDeleted": "boolean",
    },
    "User": {"Id": "id", "Username": "string", "Name": "string"},
    "PermissionSet": {"Id": "id", "Name": "string", "Label": "string"},
    "FieldPermissions": {
        "Id": "id",
        "ParentId": "reference",
        "SobjectType": "string",
        "Field": "string",
        "PermissionsRead": "boolean",
        "PermissionsEdit": "boolean",
    },
    "PermissionSetAssignment": {
        "Id": "id",
        "PermissionSetId": "reference",
        "AssigneeId": "reference",
    },
}

CALL_CENTER_FIELDS = ("CallType", "CallDurationInSeconds", "CallDisposition")

#: (parent object, relationship name, child object, child's field pointing at the parent)
CHILD_RELATIONSHIPS: tuple[tuple[str, str, str, str], ...] = (
    ("Task", "TaskWhoRelations", "TaskWhoRelation", "TaskId"),
    ("Event", "EventRelations", "EventRelation", "EventId"),
    ("EmailMessage", "EmailMessageRelations", "EmailMessageRelation", "EmailMessageId"),
)

KEY_PREFIXES = {
    "Contact": "003",
    "Task": "00T",
    "Event": "00U",
    "EventRelation": "0RE",
    "EmailMessage": "02s",
    "EmailMessageRelation": "0Rd",
    "TaskWhoRelation": "0RT",
    "User": "005",
    "PermissionSet": "0PS",
    "FieldPermissions": "01k",
    "PermissionSetAssignment": "0Pa",
    "CustomField": "00N",
    "Job": "750",
}


def org_schema(
    *, enhanced_email: bool, shared_activities: bool, call_center: bool
) -> dict[str, dict[str, str]]:
    schema = {name: dict(fields) for name, fields in STANDARD_FIELDS.items()}
    if not enhanced_email:
        del schema["EmailMessage"], schema["EmailMessageRelation"]
    if not shared_activities:
        del schema["TaskWhoRelation"]
    if not call_center:
        for field in CALL_CENTER_FIELDS:
            del schema["Task"][field]
    return schema


def describe_field(name: str, kind: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": name,
        "type": kind,
        "custom": name.endswith("__c"),
        "updateable": kind not in ("id",) and name not in ("SystemModstamp", "IsDeleted"),
        "nillable": True,
        "length": 0,
        "precision": 0,
        "scale": 0,
        "picklistValues": [],
    }
    if extra:
        field.update(extra)
    return field
