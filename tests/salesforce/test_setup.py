from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce
from mutuality_adapters.salesforce.fields import FIELDS
from mutuality_adapters.salesforce.setup import run_setup

from mutuality_core.errors import ConfigError


def test_dry_run_changes_nothing(fake: FakeSalesforce, connect: Any) -> None:
    client = connect().source.client
    report = run_setup(client, dry_run=True, grant_permission_set="Mutuality_Integration")
    assert fake.org.custom_fields == {}
    assert sum(line.endswith(")") and "would create" in line for line in report.lines) == len(
        FIELDS
    )
    assert any("would create it" in line for line in report.lines)


def test_creates_fields_explains_fls_then_grants_it(fake: FakeSalesforce, connect: Any) -> None:
    client = connect().source.client
    first = run_setup(client)
    assert sorted(first.created) == sorted(s.name for s in FIELDS)
    assert fake.org.custom_fields["Contact.Mutuality_Score__c"]["metadata"]["precision"] == 5
    assert not first.ready and "field-level security" in first.lines[-1]
    second = run_setup(client, grant_permission_set="Mutuality_Integration")
    assert second.created == [] and second.ready
    assert any("created" in line for line in second.lines if "permission set" in line)
    again = run_setup(client, grant_permission_set="Mutuality_Integration")
    assert again.ready and not any("granted" in line for line in again.lines)
    assert len(fake.org.records["PermissionSetAssignment"]) == 1
    assert len(fake.org.records["FieldPermissions"]) == len(FIELDS)


def test_wrong_type_is_a_clear_error(fake: FakeSalesforce, connect: Any) -> None:
    fake.org.add_custom_field(
        "Contact.Mutuality_Score__c", {"type": "Text", "length": 10}, visible=True
    )
    with pytest.raises(ConfigError, match=r"Mutuality_Score__c exists with type 'string'.*double"):
        run_setup(connect().source.client)
    assert "Contact.Mutuality_Band__c" not in fake.org.custom_fields


def test_setup_and_fake_commands(
    fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    commands = plugin.commands()
    assert set(commands) == {"setup", "fake"}
    for key, value in fake.environ().items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(commands["setup"], ["--grant-permission-set", "Mutuality_Integration"])
    assert result.exit_code == 0, result.output
    assert "ready to sync" in result.output
    assert fake.session_id not in result.output
    dry = runner.invoke(commands["setup"], ["--dry-run"])
    assert dry.exit_code == 0 and "present" in dry.output
    help_text = runner.invoke(commands["fake"], ["--help"]).output
    assert "--port" in help_text and "--data" in help_text and "--daily-limit" in help_text


def test_fake_command_port_in_use_is_a_clear_error(fake: FakeSalesforce) -> None:
    result = CliRunner().invoke(plugin.commands()["fake"], ["--port", str(fake.port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{fake.port}" in result.output


def test_a_lost_create_answer_is_checked_not_retried(fake: FakeSalesforce, connect: Any) -> None:
    """Tooling POST answered 503 after creating the field: setup finds it, no duplicate."""
    fake.org.fail_next("lost_answer", method="POST", path_contains="tooling/sobjects/CustomField")
    fake.org.fail_next("lost_answer", method="POST", path_contains="sobjects/PermissionSet")
    report = run_setup(connect().source.client, grant_permission_set="Mutuality_Integration")
    assert report.ready, report.lines
    assert sorted(report.created) == sorted(s.name for s in FIELDS)
    posts = [r for r in fake.org.requests if r == ("POST", "tooling/sobjects/CustomField")]
    assert len(posts) == len(FIELDS)  # one each: the lost answer was not retried
    assert len(fake.org.records["PermissionSet"]) == 1


@pytest.mark.parametrize(
    ("name", "metadata", "expected"),
    [
        ("Mutuality_Reasons__c", {"type": "Text", "length": 100}, r"Text\(255\)"),
        ("Mutuality_Score__c", {"type": "Number", "precision": 3, "scale": 0}, r"Number\(5,2\)"),
        ("Mutuality_Lean__c", {"type": "Number", "precision": 3, "scale": 3}, r"Number\(4,3\)"),
        (
            "Mutuality_Confidence__c",
            {"type": "Percent", "precision": 3, "scale": 2},
            "'percent'",
        ),
    ],
)
def test_an_existing_field_too_small_or_of_another_kind_is_a_clear_error(
    fake: FakeSalesforce, connect: Any, name: str, metadata: dict[str, Any], expected: str
) -> None:
    """Text(100) reasons would fail writes; Number(3,0) would round every night."""
    fake.org.add_custom_field(f"Contact.{name}", metadata, visible=True)
    with pytest.raises(ConfigError, match=rf"Contact\.{name} .*{expected}"):
        run_setup(connect().source.client)


def test_a_bigger_existing_number_field_is_accepted(fake: FakeSalesforce, connect: Any) -> None:
    fake.org.add_custom_field(
        "Contact.Mutuality_Score__c", {"type": "Number", "precision": 8, "scale": 3}, visible=True
    )
    report = run_setup(connect().source.client, grant_permission_set="Mutuality_Integration")
    assert report.ready


def test_a_refused_field_permission_grant_is_not_reported_as_granted(
    fake: FakeSalesforce, connect: Any
) -> None:
    fake.org.reject_inserts["FieldPermissions"] = (
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "insufficient access rights on cross-reference id",
    )
    report = run_setup(connect().source.client, grant_permission_set="Mutuality_Integration")
    assert not report.ready
    assert not any("granted" in line for line in report.lines)
    refused = [line for line in report.lines if "INSUFFICIENT_ACCESS_OR_READONLY" in line]
    assert refused and "Manage Profiles and Permission Sets" in refused[0]
    assert fake.org.records["FieldPermissions"] == {}
