"""The plugin: entry point, settings, lazy client import, the fake command."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from mutuality_adapters.hubspot import plugin
from mutuality_adapters.hubspot.settings import HubSpotSettings

from mutuality_core.errors import ConfigError, MissingDependencyError
from mutuality_core.ports import AdapterPlugin, ScoreWriter, Source


def test_entry_point_loads_the_plugin():
    (ep,) = [e for e in entry_points(group="mutuality.adapters") if e.name == "hubspot"]
    loaded = ep.load()
    assert loaded is plugin and isinstance(loaded, AdapterPlugin)
    assert set(plugin.commands()) == {"setup", "fake"}


def test_importing_the_adapter_does_not_import_the_client():
    code = (
        "import sys; import mutuality_adapters.hubspot as h; h.plugin.commands(); "
        "import mutuality_adapters.hubspot.fake; print('hubspot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_missing_client_is_a_one_line_missing_dependency(monkeypatch):
    monkeypatch.setitem(sys.modules, "hubspot", None)  # makes `import hubspot` fail
    with pytest.raises(MissingDependencyError) as info:
        plugin.connect({}, environ={"HUBSPOT_ACCESS_TOKEN": "x"})
    assert "pip install 'mutuality[hubspot]'" in str(info.value)


def test_connect_gives_a_source_and_writer_keyed_by_portal_id():
    pytest.importorskip("hubspot")
    from mutuality_adapters.hubspot.fake import Portal, running_fake_hubspot

    with running_fake_hubspot(portal=Portal(portal_id=8675309)) as server:
        connection = plugin.connect(
            {"base_url": server.base_url}, environ={"HUBSPOT_ACCESS_TOKEN": "pat-x"}
        )
        assert server.app.stats["account details"] == 1
    assert isinstance(connection.source, Source) and not connection.source.complete_history
    assert isinstance(connection.writer, ScoreWriter) and connection.writer.batch_size == 100
    assert connection.target == "hubspot:portal-8675309"
    named = plugin.connect({"target": "hubspot:portal-42"}, environ={"HUBSPOT_ACCESS_TOKEN": "x"})
    assert named.target == "hubspot:portal-42"  # no request: nothing listens on the default URL


def test_settings_come_from_the_mapping_then_the_environment():
    env = {"HUBSPOT_ACCESS_TOKEN": "env-token", "MUTUALITY_HUBSPOT_BASE_URL": "http://h:1/"}
    settings = HubSpotSettings.from_mapping({}, environ=env)
    assert settings.access_token == "env-token" and settings.base_url == "http://h:1"
    assert "env-token" not in repr(settings)
    mine = HubSpotSettings.from_mapping(
        {"access_token": "file-token", "base_url": "https://x", "property_prefix": "m_",
         "properties": {"band": "custom_band"}, "include_tasks": "true", "max_requests": 50},
        environ=env,
    )  # fmt: skip
    assert mine.access_token == "file-token" and mine.base_url == "https://x"
    assert mine.properties.score == "m_score" and mine.properties.band == "custom_band"
    assert mine.include_tasks and mine.max_requests == 50


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "HUBSPOT_ACCESS_TOKEN"),
        ({"access_token": "x", "batch_size": 500}, "batch_size must be <= 100"),
        ({"access_token": "x", "search_page_size": 201}, "search_page_size must be <= 200"),
        ({"access_token": "x", "base_url": "ftp://x"}, "base_url"),
        ({"access_token": "x", "colour": "red"}, "unknown hubspot setting"),
        ({"access_token": "x", "properties": {"nope": "y"}}, "unknown score field"),
        ({"access_token": "x", "max_requests": "lots"}, "max_requests must be a number"),
    ],
)
def test_bad_settings_are_clear_errors(settings, message):
    with pytest.raises(ConfigError, match=message):
        HubSpotSettings.from_mapping(settings, environ={})


def test_fake_command_help_runs():
    from click.testing import CliRunner

    result = CliRunner().invoke(plugin.commands()["fake"], ["--help"])
    assert result.exit_code == 0 and "--rate-limit" in result.output
    assert "--day-seconds" in result.output and "--retry-after" in result.output


def test_fake_command_serves_a_seeded_portal(tmp_path):
    import json
    import urllib.request

    (tmp_path / "contacts.csv").write_text("id,email\n1,a@x.com\n2,b@x.com\n")
    (tmp_path / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction,outcome,thread_id,duration_seconds,"
        "automated,tags\n10,1,2026-01-01T00:00:00Z,email,inbound,completed,,,false,\n"
    )
    code = "from mutuality_adapters.hubspot.commands import fake_command; fake_command()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "--port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("fake HubSpot on http://127.0.0.1:")
        base = first.split()[3]
        with urllib.request.urlopen(base + "/_fake/stats", timeout=5) as response:
            stats = json.loads(response.read())
        assert stats["records"]["contacts"] == 2 and stats["records"]["emails"] == 1
    finally:
        process.terminate()
        process.wait(timeout=5)
