"""Configuration precedence (flags > MUTUALITY_* > mutuality.toml > defaults) and secret masking."""

from __future__ import annotations

import json
from pathlib import Path

from cli_fakes import FakePlugin
from mutuality_cli.main import cli

TOML = """
adapter = "memory"
state = "from-file.sqlite"
min_score_change = 2.5
batch_size = 40

[scoring]
half_life_days = 60

[adapters.memory]
base_url = "http://file.example"
access_token = "file-token-value"
max_requests = 7
path = "file-path"

[adapters.other]
path = "ignored"
"""


def show(runner, *args, env=None):
    result = runner.invoke(cli, ["config", "show", "--json", *args], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), result


def test_defaults_without_any_configuration(runner):
    data, _ = show(runner)
    assert data["adapter"] == "files"
    assert data["state"] == str(Path.cwd() / ".mutuality" / "state.sqlite")
    assert data["config_file"] is None
    assert data["origins"]["adapter"] == "default"


def test_file_values_are_used_and_secrets_masked(runner):
    Path("mutuality.toml").write_text(TOML)
    data, result = show(runner)
    assert data["config_file"].endswith("mutuality.toml")
    assert data["adapter"] == "memory"
    assert data["state"] == str(Path.cwd() / "from-file.sqlite")
    assert data["min_score_change"] == 2.5
    assert data["batch_size"] == 40
    assert data["scoring"]["half_life_days"] == 60
    assert data["origins"]["scoring.half_life_days"].startswith("file ")
    assert data["scoring"]["dormant_after_days"] > 0  # defaults are shown too
    settings = data["adapters"]["memory"]
    assert settings["base_url"] == "http://file.example"
    assert settings["access_token"] == "********"
    assert settings["max_requests"] == 7
    assert "file-token-value" not in result.output


def test_env_overrides_file_and_flags_override_env(runner):
    Path("mutuality.toml").write_text(TOML)
    env = {
        "MUTUALITY_STATE": "from-env.sqlite",
        "MUTUALITY_MIN_SCORE_CHANGE": "0.5",
        "MUTUALITY_MEMORY_BASE_URL": "http://env.example",
        "MUTUALITY_MEMORY_ACCESS_TOKEN": "env-token-value",
        "MUTUALITY_MAX_REQUESTS": "9",
        "MUTUALITY_PATH": "env-path",
        "MUTUALITY_SCORING_HALF_LIFE_DAYS": "45",
    }
    data, result = show(runner, env=env)
    assert data["state"] == str(Path.cwd() / "from-env.sqlite")
    assert data["origins"]["state"] == "env MUTUALITY_STATE"
    assert data["min_score_change"] == 0.5
    assert data["scoring"]["half_life_days"] == 45
    assert data["origins"]["scoring.half_life_days"] == "env MUTUALITY_SCORING_HALF_LIFE_DAYS"
    settings = data["adapters"]["memory"]
    assert settings["base_url"] == "http://env.example"
    assert settings["max_requests"] == 9
    assert settings["path"] == "env-path"
    assert settings["access_token"] == "********"
    assert "env-token-value" not in result.output

    data, _ = show(
        runner,
        "--state",
        "flag.sqlite",
        "--max-requests",
        "11",
        "--path",
        "flag-path",
        "-o",
        "base_url=http://flag.example",
        env=env,
    )
    assert data["state"] == str(Path.cwd() / "flag.sqlite")
    assert data["origins"]["state"] == "flag"
    settings = data["adapters"]["memory"]
    assert settings["base_url"] == "http://flag.example"
    assert settings["max_requests"] == 11
    assert settings["path"] == "flag-path"


def test_adapter_specific_env_beats_the_short_form(runner):
    env = {"MUTUALITY_PATH": "short", "MUTUALITY_FILES_PATH": "specific"}
    data, _ = show(runner, env=env)
    assert data["adapters"]["files"]["path"] == "specific"


def test_the_adapter_receives_the_merged_settings_unmasked(runner, install_adapters):
    plugin = FakePlugin(connect_error=RuntimeError("stop here"))
    install_adapters({"memory": plugin})
    Path("mutuality.toml").write_text(TOML)
    runner.invoke(
        cli,
        ["score", "--skip-invalid", "-o", "extra=1"],
        env={"MUTUALITY_MEMORY_ACCESS_TOKEN": "env-token-value"},
    )
    [settings] = plugin.seen_settings
    assert settings == {
        "base_url": "http://file.example",
        "access_token": "env-token-value",
        "max_requests": 7,
        "path": "file-path",
        "skip_invalid": True,
        "extra": "1",
    }


def test_config_flag_and_env_select_the_file(runner, tmp_path):
    other = tmp_path / "elsewhere.toml"
    other.write_text('adapter = "from-env-file"\n')
    data, _ = show(runner, env={"MUTUALITY_CONFIG": str(other)})
    assert data["adapter"] == "from-env-file"
    flagged = tmp_path / "flagged.toml"
    flagged.write_text('adapter = "from-flag-file"\n')
    data, _ = show(runner, "--config", str(flagged), env={"MUTUALITY_CONFIG": str(other)})
    assert data["adapter"] == "from-flag-file"


def test_human_config_show_masks_secrets(runner):
    Path("mutuality.toml").write_text(TOML)
    result = runner.invoke(cli, ["config", "show"], env={"MUTUALITY_MEMORY_SESSION_ID": "sess-123"})
    assert result.exit_code == 0
    assert "file-token-value" not in result.output and "sess-123" not in result.output
    assert 'access_token = "********"' in result.output
    assert 'session_id = "********"' in result.output
    assert 'base_url = "http://file.example"' in result.output


def test_config_errors_exit_2_with_one_line(runner):
    Path("mutuality.toml").write_text('adapter = "x"\nbogus = 1\n')
    result = runner.invoke(cli, ["config", "show"])
    assert result.exit_code == 2
    assert "unknown key(s) bogus" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    Path("mutuality.toml").write_text("adapter = \n")
    result = runner.invoke(cli, ["config", "show"])
    assert result.exit_code == 2
    assert "is not valid TOML" in result.stderr

    Path("mutuality.toml").write_text("batch_size = 0\n")
    result = runner.invoke(cli, ["config", "show"])
    assert result.exit_code == 2
    assert "batch_size" in result.stderr

    result = runner.invoke(cli, ["config", "show", "--config", "missing.toml"])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr

    result = runner.invoke(cli, ["config", "show"], env={"MUTUALITY_BATCH_SIZE": "lots"})
    assert result.exit_code == 2
    assert "MUTUALITY_BATCH_SIZE" in result.stderr


def test_bad_scoring_settings_are_reported_before_any_run(runner, install_adapters):
    plugin = FakePlugin(connect_error=RuntimeError("must not connect"))
    install_adapters({"memory": plugin})
    Path("mutuality.toml").write_text('adapter = "memory"\n[scoring]\nhalf_lfe_days = 3\n')
    for args in (["config", "show"], ["sync"], ["score"], ["explain", "c1"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert "unknown scoring setting(s): half_lfe_days" in result.stderr
    assert plugin.seen_settings == []
    result = runner.invoke(cli, ["config", "show"], env={"MUTUALITY_SCORING_HALF_LIFE_DAYS": "-1"})
    assert result.exit_code == 2 and "half_life_days" in result.stderr
