"""``mutuality setup hubspot``: idempotent creation, type conflicts, dry runs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from mutuality_adapters.hubspot import plugin
from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.properties import setup_properties

from mutuality_core.errors import ConfigError

pytest.importorskip("hubspot")


def test_creates_group_and_properties_then_is_idempotent(server, portal, settings_for, fake_time):
    settings = settings_for(server.base_url)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    first = setup_properties(api, settings)
    assert [a.kind for a in first] == ["create-group"] + ["create-property"] * 8
    defs = portal.property_defs["contacts"]
    assert defs["mutuality_score"]["type"] == "number"
    assert defs["mutuality_band"]["type"] == "enumeration"
    assert {o["value"] for o in defs["mutuality_band"]["options"]} == {
        "mutual", "you_invest_more", "they_invest_more", "dormant", "insufficient_data",
    }  # fmt: skip
    assert defs["mutuality_reasons"]["type"] == "string"
    assert defs["mutuality_scored_at"]["type"] == "datetime"
    assert all(defs[n]["groupName"] == "mutuality" for n in settings.properties.as_dict().values())
    server.app.reset_stats()
    second = setup_properties(api, settings)
    assert {a.kind for a in second} == {"ok"}
    assert server.app.stats["POST properties"] == 0


def test_missing_band_options_are_added(server, portal, settings_for, fake_time):
    settings = settings_for(server.base_url)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    setup_properties(api, settings)
    portal.property_defs["contacts"]["mutuality_band"]["options"] = [
        {"label": "Mutual", "value": "mutual", "displayOrder": 0, "hidden": False}
    ]
    actions = setup_properties(api, settings)
    assert [a.kind for a in actions if a.kind != "ok"] == ["add-options"]
    assert len(portal.property_defs["contacts"]["mutuality_band"]["options"]) == 5


def test_wrong_type_is_a_clear_error_and_nothing_is_created(server, portal, settings_for,
                                                            fake_time):  # fmt: skip
    settings = settings_for(server.base_url)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    api.create_group("contacts", "other", "Other")
    api.create_property(
        "contacts",
        {"name": "mutuality_score", "label": "x", "type": "string", "fieldType": "text",
         "groupName": "other"},
    )  # fmt: skip
    with pytest.raises(ConfigError, match="mutuality_score exists as type 'string'"):
        setup_properties(api, settings)
    assert "mutuality_band" not in portal.property_defs["contacts"]
    assert portal.property_defs["contacts"]["mutuality_score"]["type"] == "string"


def test_setup_command_dry_run_and_prefix(server, portal, token, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", token)
    monkeypatch.setenv("MUTUALITY_HUBSPOT_BASE_URL", server.base_url)
    command = plugin.commands()["setup"]
    runner = CliRunner()
    result = runner.invoke(command, ["--dry-run", "--prefix", "rel_"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "would create contact property rel_score (number/number)" in result.output
    assert "rel_score" not in portal.property_defs["contacts"]
    assert token not in result.output
    result = runner.invoke(command, ["--prefix", "rel_", "--group", "rel"], catch_exceptions=False)
    assert result.exit_code == 0 and "done: 9 change(s) made" in result.output
    assert portal.property_defs["contacts"]["rel_band"]["groupName"] == "rel"
    (tmp_path / "mutuality.toml").write_text('[adapters.hubspot]\nproperty_prefix = "rel_"\n')
    result = runner.invoke(command, ["--group", "rel"], catch_exceptions=False)
    assert "done: 0 change(s) made; 8 in place" in result.output
