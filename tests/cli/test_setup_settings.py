"""``mutuality setup NAME`` reads the adapter's settings exactly as ``mutuality sync`` does.

Otherwise setup can create ``mutuality_score`` while sync, told to use the prefix
``rel_`` by a variable, writes ``rel_score`` and fails every night with advice
(run setup) that cannot help.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from mutuality_adapters.command_settings import adapter_settings
from mutuality_adapters.hubspot.fake import Portal, running_fake_hubspot
from mutuality_cli.main import cli

from mutuality_core.errors import ConfigError

TOKEN = "pat-na1-00000000-setup-settings-test"


@pytest.fixture
def portal() -> Portal:
    portal = Portal()
    contact = portal.add_contact({"email": "ada@example.com", "firstname": "Ada"})
    for day, direction in ((3, "EMAIL"), (2, "INCOMING_EMAIL")):
        portal.add_engagement(
            "emails",
            {
                "hs_timestamp": f"2026-06-2{day}T10:00:00Z",
                "hs_email_direction": direction,
                "hs_email_subject": "Lunch?",
            },
            [contact],
        )
    return portal


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, portal: Portal):
    pytest.importorskip("hubspot")  # the adapter's client; the fake needs none
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("MUTUALITY_")]:
        monkeypatch.delenv(name)
    with running_fake_hubspot(portal=portal, token=TOKEN) as server:
        yield {
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "MUTUALITY_HUBSPOT_BASE_URL": server.base_url,
            "MUTUALITY_STATE": str(tmp_path / "state.sqlite"),
        }


def run(args: list[str], env: dict[str, str]) -> click.testing.Result:
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


def test_a_prefix_from_the_environment_reaches_setup_and_sync_alike(env, portal):
    env = {**env, "MUTUALITY_HUBSPOT_PROPERTY_PREFIX": "rel_"}
    setup = run(["setup", "hubspot"], env)
    assert setup.exit_code == 0, setup.output
    assert "rel_score" in portal.property_defs["contacts"]
    assert "mutuality_score" not in portal.property_defs["contacts"]

    sync = run(["sync", "--adapter", "hubspot", "--as-of", "2026-06-30T00:00:00Z"], env)
    assert sync.exit_code == 0, sync.output
    (contact,) = portal.iter_records("contacts")
    assert contact.properties["rel_band"] and contact.properties["rel_score"]


def test_options_override_the_environment_and_the_file_as_for_sync(env, portal, tmp_path):
    (tmp_path / "mutuality.toml").write_text(
        '[adapters.hubspot]\nproperty_prefix = "file_"\ngroup_name = "from_file"\n'
    )
    env = {**env, "MUTUALITY_HUBSPOT_PROPERTY_PREFIX": "env_"}
    result = run(["setup", "hubspot", "--dry-run", "-o", "property_prefix=opt_"], env)
    assert result.exit_code == 0, result.output
    assert "would create contact property opt_score" in result.output
    assert "would create property group from_file" in result.output

    # the file's base URL loses to the variable, in setup as in sync
    (tmp_path / "mutuality.toml").write_text(
        '[adapters.hubspot]\nbase_url = "http://127.0.0.1:9"\n'
    )
    result = run(["setup", "hubspot", "--dry-run"], env)
    assert result.exit_code == 0, result.output
    assert "would create contact property env_score" in result.output


def test_a_missing_config_file_is_named(env):
    result = run(["setup", "hubspot", "--config", "nowhere.toml"], env)
    assert result.exit_code == 2
    assert "nowhere.toml" in result.output and "does not exist" in result.output


def test_outside_the_mutuality_cli_the_same_three_layers_are_read(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MUTUALITY_CONFIG", raising=False)
    (tmp_path / "mutuality.toml").write_text(
        '[adapters.crm]\nprefix = "file_"\nregion = "eu"\nsandbox = false\n'
    )
    monkeypatch.setenv("MUTUALITY_CRM_PREFIX", "env_")
    monkeypatch.setenv("MUTUALITY_CRM_TIMEOUT", "")  # empty variables are ignored, as in sync
    assert adapter_settings("crm", None, ["region=us"]) == {
        "prefix": "env_",
        "region": "us",
        "sandbox": False,
    }
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        adapter_settings("crm", None, ["region"])
    with pytest.raises(ConfigError, match=r"missing\.toml does not exist"):
        adapter_settings("crm", "missing.toml")


def test_salesforce_setup_reads_mutuality_variables_and_options(tmp_path, monkeypatch):
    pytest.importorskip("simple_salesforce")
    from mutuality_adapters.salesforce.fake import FakeSalesforce

    monkeypatch.chdir(tmp_path)
    with FakeSalesforce() as fake:
        env = {
            "SALESFORCE_SESSION_ID": fake.session_id,
            "SALESFORCE_INSTANCE_URL": "",
            "MUTUALITY_SALESFORCE_INSTANCE_URL": fake.url,  # as sync would read it
        }
        result = run(["setup", "salesforce", "--dry-run", "-o", "retries=2"], env)
        assert result.exit_code == 0, result.output
        assert "Contact.Mutuality_Score__c: would create (Number)" in result.output
        assert fake.org.custom_fields == {}
        result = run(["setup", "salesforce", "--dry-run", "-o", "retrys=2"], env)
        assert result.exit_code == 2
        assert "unknown salesforce setting(s): retrys" in result.output
