"""``mutuality setup salesforce``: create the Mutuality fields on Contact and check them.

Fields are created through the Tooling API (``tooling/sobjects/CustomField``). A
field created that way is invisible to every user until field-level security (FLS)
grants it, so the check afterwards is a Contact ``describe`` *as the integration
user*: what it shows is exactly what a sync can write. ``grant_permission_set``
creates (or reuses) a permission set that grants read and edit on the fields and
assigns it to the integration user.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

import attrs

from mutuality_adapters.salesforce.client import SalesforceClient
from mutuality_adapters.salesforce.fields import FIELDS, FieldSpec, fls_gaps
from mutuality_core.errors import AuthenticationError, ConfigError, CrmUnavailableError

__all__ = ["SetupReport", "run_setup"]

logger = logging.getLogger(__name__)


@attrs.define
class SetupReport:
    lines: list[str] = attrs.field(factory=list)
    created: list[str] = attrs.field(factory=list)
    ready: bool = False

    def say(self, line: str) -> None:
        self.lines.append(line)
        logger.info("setup: %s", line)


def _describe_contact(client: SalesforceClient) -> dict[str, Mapping[str, Any]]:
    described = client.call(lambda sf: sf.Contact.describe(), what="describing Contact")
    return {f["name"]: f for f in described.get("fields", [])}


def _existing_custom_fields(client: SalesforceClient) -> set[str]:
    soql = "SELECT Id, DeveloperName FROM CustomField WHERE TableEnumOrId = 'Contact'"
    result = client.call(
        lambda sf: sf.toolingexecute("query/", params={"q": soql}),
        what="listing Contact's custom fields (Tooling API)",
    )
    return {f"{r['DeveloperName']}__c" for r in (result or {}).get("records", [])}


def _create_custom_field(sf: Any, *, body: Mapping[str, Any]) -> Any:
    return sf.toolingexecute("sobjects/CustomField/", method="POST", data=body)


def _check_type(spec: FieldSpec, field: Mapping[str, Any]) -> str | None:
    """Why an existing field cannot hold what mutuality writes, or None.

    The size matters as much as the type: a Text(100) field rejects long reasons,
    and a Number(3,0) score is rounded to a whole number on every write.
    """
    if field.get("type") not in spec.accepted_types:
        return (
            f"Contact.{spec.name} exists with type {field.get('type')!r}; mutuality needs "
            f"{' or '.join(sorted(spec.accepted_types))}. Rename or delete that field in "
            "Setup > Object Manager > Contact > Fields, then run setup again"
        )
    meta = spec.metadata
    if meta.get("type") == "Number":
        precision, scale = int(field.get("precision") or 0), int(field.get("scale") or 0)
        want_p, want_s = int(meta["precision"]), int(meta["scale"])
        if scale < want_s or precision - scale < want_p - want_s:
            return (
                f"Contact.{spec.name} is Number({precision},{scale}); mutuality needs "
                f"Number({want_p},{want_s}) (at least {want_p - want_s} digits before and "
                f"{want_s} after the decimal point), or values would be rounded or refused. "
                "Edit the field in Setup > Object Manager > Contact > Fields (or delete it "
                "and run setup again)"
            )
    if "length" in meta:
        length, want = int(field.get("length") or 0), int(meta["length"])
        if length < want:
            return (
                f"Contact.{spec.name} is Text({length}); mutuality needs Text({want}), or "
                "longer values would be refused. Edit the field in Setup > Object Manager > "
                "Contact > Fields (or delete it and run setup again)"
            )
    return None


def _refuse_wrong_types(visible: Mapping[str, Mapping[str, Any]]) -> None:
    """A ConfigError naming every existing Mutuality field of the wrong type or size."""
    problems = [p for s in FIELDS if s.name in visible if (p := _check_type(s, visible[s.name]))]
    if problems:
        raise ConfigError("; ".join(problems))


def run_setup(
    client: SalesforceClient,
    *,
    dry_run: bool = False,
    grant_permission_set: str | None = None,
) -> SetupReport:
    report = SetupReport()
    visible = _describe_contact(client)
    existing = _existing_custom_fields(client)
    _refuse_wrong_types(visible)
    for spec in FIELDS:
        if spec.name in visible:
            report.say(f"Contact.{spec.name}: present ({visible[spec.name]['type']})")
        elif spec.name in existing:
            report.say(f"Contact.{spec.name}: exists but the integration user cannot see it (FLS)")
        elif dry_run:
            report.say(f"Contact.{spec.name}: would create ({spec.metadata['type']})")
        else:
            body = {
                "FullName": f"Contact.{spec.name}",
                "Metadata": {
                    "label": spec.label,
                    "description": f"Written by mutuality: {spec.help}",
                    "inlineHelpText": spec.help,
                    **spec.metadata,
                },
            }
            try:
                client.call(
                    functools.partial(_create_custom_field, body=body),
                    what=f"creating Contact.{spec.name} (Tooling API)",
                )
            except CrmUnavailableError:
                # A create is never repeated blindly: its answer may have been lost
                # after Salesforce made the field (a retry would hit DUPLICATE_DEVELOPER_NAME).
                if spec.name not in _existing_custom_fields(client):
                    raise
                logger.info("Contact.%s was created after all", spec.name)
            report.created.append(spec.name)
            report.say(f"Contact.{spec.name}: created ({spec.metadata['type']})")
    if grant_permission_set:
        _grant(client, report, grant_permission_set, dry_run=dry_run)
    if dry_run:
        report.say("dry run: nothing was changed")
        return report
    visible = _describe_contact(client)
    _refuse_wrong_types(visible)
    hidden, readonly = fls_gaps(visible)
    if hidden or readonly:
        report.say(
            "field-level security: the integration user cannot "
            + ("see " + ", ".join(hidden) if hidden else "")
            + (" and " if hidden and readonly else "")
            + ("edit " + ", ".join(readonly) if readonly else "")
            + ". Grant Read and Edit on these Contact fields to the integration user's "
            "permission set (Setup > Permission Sets > Object Settings > Contacts), or "
            "rerun with --grant-permission-set Mutuality_Integration"
        )
    else:
        report.ready = True
        report.say("all Mutuality fields are visible and editable: ready to sync")
    return report


def _refusals(answers: Any) -> list[str]:
    """The errors in a Collections create answer (one entry per failed record)."""
    if answers is None:
        return []
    if not isinstance(answers, list):
        return [f"unexpected answer {answers!r:.200}"]
    out = []
    for item in answers:
        if not item.get("success"):
            errors = item.get("errors") or [{}]
            code = errors[0].get("statusCode") or "UNKNOWN"
            if code != "ALL_OR_NONE_OPERATION_ROLLED_BACK":
                out.append(f"{code}: {errors[0].get('message') or ''}".strip().rstrip(":"))
    if not out and any(not item.get("success") for item in answers):
        out.append("ALL_OR_NONE_OPERATION_ROLLED_BACK")
    return sorted(set(out))


def _permission_set(client: SalesforceClient, name: str) -> list[Mapping[str, Any]]:
    return client.call(
        lambda sf: sf.query(f"SELECT Id FROM PermissionSet WHERE Name = '{name}'"),
        what="looking up the permission set",
    )["records"]


def _grant(client: SalesforceClient, report: SetupReport, name: str, *, dry_run: bool) -> None:
    if not name.replace("_", "").isalnum():
        raise ConfigError(
            f"--grant-permission-set takes an API name (letters, digits, _); got {name!r}"
        )
    info = client.call(lambda sf: sf.oauth2("userinfo"), what="identifying the integration user")
    user_id = (info or {}).get("user_id")
    if not user_id:
        raise AuthenticationError(
            "Salesforce's userinfo did not say which user this session belongs to, so the "
            "permission set cannot be assigned. Log in as the integration user itself "
            "(username/password/token or JWT rather than a shared session id), or assign "
            "the permission set in Setup > Users and run setup without "
            "--grant-permission-set"
        )
    found = _permission_set(client, name)
    if dry_run:
        state = "reuse" if found else "create"
        report.say(
            f"permission set {name}: would {state} it, grant Read/Edit on the "
            "Mutuality fields and assign it to the integration user"
        )
        return
    if found:
        perm_set_id = found[0]["Id"]
        report.say(f"permission set {name}: found")
    else:
        try:
            created = client.call(
                lambda sf: sf.restful(
                    "sobjects/PermissionSet/",
                    method="POST",
                    json={"Name": name, "Label": name.replace("_", " ")},
                ),
                what="creating the permission set",
            )
            perm_set_id = created["id"]
        except CrmUnavailableError:
            again = _permission_set(client, name)  # the answer may be all that was lost
            if not again:
                raise
            perm_set_id = again[0]["Id"]
        report.say(f"permission set {name}: created")
    have = _granted_fields(client, perm_set_id)
    missing = [s for s in FIELDS if f"Contact.{s.name}" not in have]
    if missing:
        payload = {
            "allOrNone": True,
            "records": [
                {
                    "attributes": {"type": "FieldPermissions"},
                    "ParentId": perm_set_id,
                    "SobjectType": "Contact",
                    "Field": f"Contact.{s.name}",
                    "PermissionsRead": True,
                    "PermissionsEdit": True,
                }
                for s in missing
            ],
        }
        try:
            answers = client.call(
                lambda sf: sf.restful("composite/sobjects", method="POST", json=payload),
                what="granting field-level security",
            )
        except CrmUnavailableError:
            answers = None  # the answer was lost: what the org now has says what happened
        refused = _refusals(answers)
        if answers is None:
            now = _granted_fields(client, perm_set_id)
            if not all(f"Contact.{s.name}" in now for s in missing):
                refused = ["the request failed and the grants are not there"]
        if refused:
            report.say(
                f"permission set {name}: granting Read/Edit on the Mutuality fields was "
                f"refused ({'; '.join(refused)}). Give the integration user 'Manage Profiles "
                "and Permission Sets' and run setup again, or grant Read and Edit on the "
                "fields yourself (Setup > Permission Sets > "
                f"{name} > Object Settings > Contacts)"
            )
        else:
            report.say(f"permission set {name}: granted Read/Edit on {len(missing)} fields")

    def assigned() -> bool:
        return bool(
            client.call(
                lambda sf: sf.query(
                    "SELECT Id FROM PermissionSetAssignment WHERE PermissionSetId = "
                    f"'{perm_set_id}' AND AssigneeId = '{user_id}'"
                ),
                what="checking the permission set assignment",
            )["records"]
        )

    if not assigned():
        try:
            client.call(
                lambda sf: sf.restful(
                    "sobjects/PermissionSetAssignment/",
                    method="POST",
                    json={"PermissionSetId": perm_set_id, "AssigneeId": user_id},
                ),
                what="assigning the permission set",
            )
        except CrmUnavailableError:
            if not assigned():  # only the answer may have been lost
                raise
        report.say(f"permission set {name}: assigned to the integration user")


def _granted_fields(client: SalesforceClient, perm_set_id: str) -> set[str]:
    """The Contact fields (``Contact.X``) the permission set grants access to."""
    records = client.call(
        lambda sf: sf.query(
            "SELECT Field FROM FieldPermissions WHERE ParentId = "
            f"'{perm_set_id}' AND SobjectType = 'Contact'"
        ),
        what="reading the permission set's field permissions",
    )["records"]
    return {r["Field"] for r in records}
