"""The CLI skeleton: help, adapter listing, exit codes, option validation."""

from __future__ import annotations

import json

import click
import pytest
from cli_fakes import FakePlugin
from mutuality_cli.main import cli

from mutuality_core.errors import (
    AuthenticationError,
    ConfigError,
    CrmUnavailableError,
    InvalidInputError,
    LockHeldError,
    MissingDependencyError,
    QuotaExhaustedError,
)


def test_help_lists_commands_and_exit_codes(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("score", "sync", "explain", "adapters", "runs", "setup", "fake"):
        assert command in result.output
    assert "Exit codes:" in result.output
    assert "4  another run holds the lock" in result.output


def test_unknown_command_is_a_usage_error(runner):
    result = runner.invoke(cli, ["frobnicate"])
    assert result.exit_code == 2


def test_adapters_lists_ok_and_failed_adapters(runner, install_adapters):
    install_adapters(
        {
            "memory": FakePlugin(),
            "hubspot": MissingDependencyError("hubspot-api-client", "hubspot"),
            "broken": RuntimeError("boom\nsecond line"),
        }
    )
    result = runner.invoke(cli, ["adapters"])
    assert result.exit_code == 0, result.output
    table, engines = result.output.split("\n\n")
    lines = {line.split()[0]: line for line in table.splitlines()[2:]}
    assert "ok" in lines["memory"] and "In-memory test adapter" in lines["memory"]
    assert engines.startswith("Scoring engines (--engine): python: available (the reference)")
    assert "columnar: " in engines
    assert "fake-dist 9.9.9" in lines["memory"]
    assert "failed: hubspot-api-client is not installed" in lines["hubspot"]
    assert "pip install 'mutuality[hubspot]'" in lines["hubspot"]
    assert "failed: boom second line" in lines["broken"]


def test_adapters_json(runner, install_adapters):
    install_adapters({"memory": FakePlugin(), "bad": ImportError("no module named x")})
    result = runner.invoke(cli, ["adapters", "--json"])
    assert result.exit_code == 0
    data = {a["name"]: a for a in json.loads(result.stdout)}
    assert data["memory"]["status"] == "ok"
    assert data["memory"]["version"] == "9.9.9"
    assert data["bad"]["status"] == "failed"
    assert data["bad"]["error"] == "no module named x"


def test_object_that_is_not_a_plugin_is_reported(runner, install_adapters):
    install_adapters({"odd": object()})
    result = runner.invoke(cli, ["adapters", "--json"])
    [info] = json.loads(result.stdout)
    assert info["status"] == "failed"
    assert "missing name, summary, connect" in info["error"]


def test_real_entry_points_include_the_files_adapter(runner):
    result = runner.invoke(cli, ["adapters", "--json"])
    assert result.exit_code == 0
    names = [a["name"] for a in json.loads(result.stdout)]
    assert {"files", "hubspot", "salesforce"} <= set(names)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad setting x; fix it"), 2),
        (InvalidInputError("contacts.csv:3: bad email"), 2),
        (MissingDependencyError("simple-salesforce", "salesforce"), 2),
        (CrmUnavailableError("cannot reach the CRM; check the network"), 3),
        (AuthenticationError("token refused; set HUBSPOT_ACCESS_TOKEN"), 3),
        (LockHeldError("another run holds the lock"), 4),
        (QuotaExhaustedError("quota ran out; rerun later"), 1),
    ],
)
@pytest.mark.parametrize("command", ["sync", "score", "explain"])
def test_typed_errors_map_to_documented_exit_codes(runner, install_adapters, error, code, command):
    install_adapters({"memory": FakePlugin(connect_error=error)})
    args = [command, *(["c1"] if command == "explain" else []), "--adapter", "memory"]
    result = runner.invoke(cli, args)
    assert result.exit_code == code, result.output
    assert result.stderr.strip() == f"Error: {error}".replace("\n", " ")
    assert result.stdout == ""


def test_selecting_an_unknown_adapter_names_the_installed_ones(runner, install_adapters):
    install_adapters({"memory": FakePlugin()})
    result = runner.invoke(cli, ["sync", "--adapter", "nope"])
    assert result.exit_code == 2
    assert "no adapter named 'nope'; installed adapters: memory" in result.stderr


def test_selecting_an_adapter_with_a_missing_extra_gives_the_pip_line(runner, install_adapters):
    install_adapters({"hubspot": MissingDependencyError("hubspot-api-client", "hubspot")})
    result = runner.invoke(cli, ["sync", "--adapter", "hubspot"])
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: hubspot-api-client is not installed; install it with: "
        "pip install 'mutuality[hubspot]'\n"
    )


def test_selecting_a_broken_adapter_is_a_configuration_error(runner, install_adapters):
    install_adapters({"broken": RuntimeError("syntax error in plugin")})
    result = runner.invoke(cli, ["score", "--adapter", "broken"])
    assert result.exit_code == 2
    assert "adapter 'broken' failed to load: syntax error in plugin" in result.stderr


@pytest.mark.parametrize("as_of", ["2026-06-30T00:00:00", "2026-06-30", "yesterday"])
def test_as_of_must_be_aware_iso(runner, install_adapters, as_of):
    install_adapters({"memory": FakePlugin()})
    result = runner.invoke(cli, ["score", "--adapter", "memory", "--as-of", as_of])
    assert result.exit_code == 2
    assert "--as-of" in result.stderr
    assert ("no time zone" in result.stderr) or ("not an ISO 8601" in result.stderr)


def test_secret_options_on_the_command_line_are_refused(runner, install_adapters):
    plugin = FakePlugin()
    install_adapters({"memory": plugin})
    result = runner.invoke(
        cli, ["sync", "--adapter", "memory", "-o", "access_token=hunter2-secret"]
    )
    assert result.exit_code == 2
    assert "refusing 'access_token' on the command line" in result.stderr
    assert "hunter2" not in result.output
    assert plugin.seen_settings == []


def test_malformed_option_is_a_usage_error(runner, install_adapters):
    install_adapters({"memory": FakePlugin()})
    result = runner.invoke(cli, ["sync", "--adapter", "memory", "-o", "novalue"])
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.stderr


def _command(name: str) -> click.Command:
    @click.command(name=name, help=f"{name} command")
    @click.option("--port", type=int, default=0)
    def command(port: int) -> None:
        click.echo(f"{name} ran on port {port}")

    return command


def test_plugin_setup_and_fake_commands_are_mounted(runner, install_adapters):
    install_adapters(
        {
            "crm": FakePlugin(
                extra_commands={"setup": _command("setup-crm"), "fake": _command("fake-crm")}
            ),
            "plain": FakePlugin(),
            "hubspot": MissingDependencyError("hubspot-api-client", "hubspot"),
        }
    )
    listing = runner.invoke(cli, ["setup", "--help"])
    assert listing.exit_code == 0
    assert "crm" in listing.output and "plain" not in listing.output
    ran = runner.invoke(cli, ["fake", "crm", "--port", "8123"])
    assert ran.exit_code == 0, ran.output
    assert ran.stdout == "fake-crm ran on port 8123\n"
    ran = runner.invoke(cli, ["setup", "crm"])
    assert ran.stdout == "setup-crm ran on port 0\n"
    nothing = runner.invoke(cli, ["setup", "plain"])
    assert nothing.exit_code == 2
    assert "adapter 'plain' offers no `setup` command" in nothing.stderr
    missing = runner.invoke(cli, ["setup", "hubspot"])
    assert missing.exit_code == 2
    assert "pip install 'mutuality[hubspot]'" in missing.stderr
    unknown = runner.invoke(cli, ["setup", "zzz"])
    assert unknown.exit_code == 2


class _BrokenCommands(FakePlugin):
    def commands(self):
        raise ModuleNotFoundError("No module named 'crm_sdk'")


def test_a_plugin_whose_commands_fail_still_lists_and_fails_in_one_line(runner, install_adapters):
    install_adapters({"odd": _BrokenCommands(), "memory": FakePlugin()})
    listing = runner.invoke(cli, ["adapters", "--json"])
    assert listing.exit_code == 0
    assert {a["name"]: a["commands"] for a in json.loads(listing.stdout)}["odd"] == []
    assert runner.invoke(cli, ["setup", "--help"]).exit_code == 0
    used = runner.invoke(cli, ["setup", "odd"])
    assert used.exit_code == 2
    assert used.stderr == (
        "Error: adapter 'odd' could not load its commands: No module named 'crm_sdk'\n"
    )


def test_an_adapter_whose_extra_is_missing_is_listed_as_failed(runner, monkeypatch):
    """Our CRM adapters import their SDK lazily; the listing still tells the user up front."""
    from mutuality_cli import discovery

    real_installed = discovery._installed
    monkeypatch.setattr(
        discovery, "_installed", lambda name: name != "hubspot-api-client" and real_installed(name)
    )
    listing = runner.invoke(cli, ["adapters", "--json"])
    adapters = {a["name"]: a for a in json.loads(listing.stdout)}
    assert adapters["hubspot"]["status"] == "failed"
    assert adapters["hubspot"]["error"] == (
        "hubspot-api-client is not installed; install it with: pip install 'mutuality[hubspot]'"
    )
    assert adapters["files"]["status"] == "ok"
    assert adapters["salesforce"]["status"] == "ok"

    used = runner.invoke(cli, ["sync", "--adapter", "hubspot"])
    assert used.exit_code == 2
    assert used.stderr == (
        "Error: hubspot-api-client is not installed; install it with: "
        "pip install 'mutuality[hubspot]'\n"
    )


def test_extra_check_reads_the_distribution_requirements(install_adapters, runner, monkeypatch):
    from cli_fakes import FakeDist, FakeEntryPoint
    from mutuality_cli import discovery

    dist = FakeDist(
        requires=["attrs>=23", 'no-such-sdk>=1; extra == "memory"', 'x; extra == "other"']
    )
    ep = FakeEntryPoint("memory", FakePlugin(), dist=dist)
    monkeypatch.setattr(discovery, "entry_points", lambda: [ep])
    error = discovery.missing_extra(ep)
    assert error is not None and error.package == "no-such-sdk" and error.extra == "memory"
    listing = runner.invoke(cli, ["adapters"])
    assert "failed: no-such-sdk is not installed" in listing.stdout


def test_interrupt_exits_130_with_a_hint(runner, install_adapters):
    install_adapters({"memory": FakePlugin(connect_error=KeyboardInterrupt())})
    result = runner.invoke(cli, ["sync", "--adapter", "memory"])
    assert result.exit_code == 130
    assert "Interrupted; work done so far is saved, rerun to continue." in result.stderr
