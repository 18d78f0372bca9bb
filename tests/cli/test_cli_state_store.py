"""The state store chosen through the `mutuality.state_stores` entry-point group, and the
set-up every command shares (logging, configuration, closing what it opened)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cli_fakes import FakePlugin, FakeStateStorePlugin, MemorySource, MemoryWriter
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_adapters.sqlite_state import plugin as sqlite_plugin
from mutuality_cli.main import cli

from mutuality_core.model import Activity, Contact
from mutuality_core.ports import Connection

AS_OF = "2026-06-30T00:00:00Z"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    crm = tmp_path / "crm"
    crm.mkdir()
    (crm / "contacts.csv").write_text("id\nc1\n")
    (crm / "activities.csv").write_text(
        "id,contact_id,occurred_at,channel,direction\na1,c1,2026-06-01T10:00:00Z,email,outbound\n"
    )
    return crm


@pytest.fixture
def plain(install_state_stores) -> FakeStateStorePlugin:
    """A third party's store ("plain", run methods only) installed beside SQLite."""
    store = FakeStateStorePlugin()
    install_state_stores({"plain": store, "sqlite": sqlite_plugin})
    return store


def test_state_stores_lists_the_installed_ones(runner):
    table = runner.invoke(cli, ["state", "stores"])
    assert table.exit_code == 0, table.output
    header, _, sqlite = table.stdout.splitlines()[:3]
    assert header.split() == ["name", "version", "status", "summary"]
    assert sqlite.split()[:4] == ["sqlite", "mutuality", "0.1.0", "ok"]
    [listed] = json.loads(runner.invoke(cli, ["state", "stores", "--json"]).stdout)
    assert listed["entry_point"] == "mutuality_adapters.sqlite_state:plugin"


def test_a_broken_or_unknown_store_is_listed_or_named(
    runner, install_state_stores, folder, tmp_path
):
    install_state_stores({"sqlite": sqlite_plugin, "odd": object(), "gone": ImportError("no pg")})
    listing = runner.invoke(cli, ["state", "stores", "--json"])
    listed = {s["name"]: s for s in json.loads(listing.stdout)}
    assert listed["odd"]["error"].endswith(
        "is not a mutuality state store plugin (missing name, summary, open)"
    )
    assert listed["gone"]["status"] == "failed" and listed["sqlite"]["status"] == "ok"

    state = str(tmp_path / "s.sqlite")
    unknown = runner.invoke(cli, ["runs", "--state", state, "--state-store", "nope"])
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "Error: no state store named 'nope'; installed state stores: gone, odd, sqlite "
        "(install a plugin package or fix --state-store)\n"
    )
    broken = runner.invoke(
        cli, ["sync", "--path", str(folder), "--state", state, "--state-store", "gone"]
    )
    assert broken.exit_code == 2
    assert "state store 'gone' failed to load: no pg; run `mutuality state stores`" in broken.stderr
    assert not Path(state).exists()


def test_sync_and_runs_go_through_the_chosen_store(runner, plain, folder, tmp_path):
    state = tmp_path / "elsewhere.sqlite"
    args = ["--state", str(state), "--state-store", "plain"]
    synced = runner.invoke(cli, ["sync", "--path", str(folder), "--as-of", AS_OF, *args])
    assert synced.exit_code == 0, synced.output
    assert plain.opened == [(str(state), True, None)]
    runs = runner.invoke(cli, ["runs", "--json", *args])
    assert runs.exit_code == 0, runs.output
    assert [r["target"] for r in json.loads(runs.stdout)] == [f"files:{folder}"]
    assert plain.opened[1] == (str(state), False, None)  # runs only looks
    assert all(store.closed for store in plain.stores)


def test_the_store_comes_from_flag_env_or_file(runner, plain, tmp_path):
    state = tmp_path / "s.sqlite"
    SQLiteStateStore(state).close()
    Path("mutuality.toml").write_text(f'state_store = "plain"\nstate = "{state}"\n')
    assert runner.invoke(cli, ["runs"]).exit_code == 0
    assert len(plain.opened) == 1
    shown = json.loads(runner.invoke(cli, ["config", "show", "--json"]).stdout)
    assert shown["state_store"] == "plain" and shown["origins"]["state_store"].startswith("file ")

    Path("mutuality.toml").write_text(f'state = "{state}"\n')
    assert runner.invoke(cli, ["runs"], env={"MUTUALITY_STATE_STORE": "plain"}).exit_code == 0
    assert len(plain.opened) == 2
    flagged = runner.invoke(
        cli, ["runs", "--state-store", "sqlite"], env={"MUTUALITY_STATE_STORE": "plain"}
    )
    assert flagged.exit_code == 0 and len(plain.opened) == 2  # the flag wins


def test_lock_expiry_reaches_the_store(runner, plain, folder, tmp_path):
    state = tmp_path / "s.sqlite"
    args = ["sync", "--path", str(folder), "--state", str(state), "--state-store", "plain"]
    result = runner.invoke(cli, args, env={"MUTUALITY_LOCK_EXPIRES_AFTER": "300"})
    assert result.exit_code == 0, result.output
    assert plain.opened == [(str(state), True, 300.0)]


def test_a_store_without_admin_says_what_state_commands_need(runner, plain, folder, tmp_path):
    state = tmp_path / "s.sqlite"
    args = ["--state", str(state), "--state-store", "plain"]
    assert runner.invoke(cli, ["sync", "--path", str(folder), *args]).exit_code == 0
    for command in (["show"], ["unlock", "t"], ["reset", "t", "--yes"]):
        result = runner.invoke(cli, ["state", *command, *args])
        assert result.exit_code == 2, result.output
        assert result.stderr == (
            f"Error: the 'plain' state store cannot do `mutuality state {command[0]}`: it does "
            "not list, unlock or reset targets (StateStoreAdmin in mutuality_core.ports); use "
            "that store's own tools for it\n"
        )
    assert len(plain.stores) == 4 and all(store.closed for store in plain.stores)


def test_an_admin_store_is_closed_even_when_the_command_fails(runner, plain, folder, tmp_path):
    plain.admin = True
    state = tmp_path / "s.sqlite"
    args = ["--state", str(state), "--state-store", "plain"]
    assert runner.invoke(cli, ["sync", "--path", str(folder), *args]).exit_code == 0
    shown = runner.invoke(cli, ["state", "show", "--json", *args])
    assert json.loads(shown.stdout)["targets"][0]["target"] == f"files:{folder}"
    typo = runner.invoke(cli, ["state", "reset", "files:/typo", "--yes", *args])
    assert typo.exit_code == 2 and "no state for 'files:/typo'" in typo.stderr
    assert runner.invoke(cli, ["state", "unlock", "files:/typo", *args]).exit_code == 0
    assert len(plain.stores) == 4 and all(store.closed for store in plain.stores)


def test_read_only_commands_create_no_state_in_the_chosen_store(runner, plain, folder, tmp_path):
    state = tmp_path / "none" / "s.sqlite"
    args = [
        "--path",
        str(folder),
        "--as-of",
        AS_OF,
        "--state",
        str(state),
        "--state-store",
        "plain",
    ]
    assert runner.invoke(cli, ["score", *args]).exit_code == 0
    assert runner.invoke(cli, ["explain", "c1", *args]).exit_code == 0
    assert [create for _, create, _ in plain.opened] == [False, False]
    assert not state.parent.exists()


def test_a_sqlite_location_that_is_a_url_is_an_error_even_for_score(runner, folder):
    result = runner.invoke(cli, ["score", "--path", str(folder), "--state", "pg://db/x"])
    assert result.exit_code == 2
    assert "the sqlite state store keeps state in a file, not at a URL (pg://db/x)" in result.stderr


def _closing_adapter(closed: list[str]) -> FakePlugin:
    contact = Contact(id="c1", email="c1@example.com")
    activity = Activity(
        id="a1",
        contact_id="c1",
        occurred_at=datetime(2026, 6, 1, tzinfo=timezone.utc),
        channel="email",
        direction="outbound",
    )

    def make(settings, environ):
        return Connection(
            target="memory:1",
            source=MemorySource([contact], [activity]),
            writer=MemoryWriter(),
            close=lambda: closed.append("connection"),
        )

    return FakePlugin(make_connection=make)


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (["score"], 0),
        (["explain", "c1"], 0),
        (["sync"], 0),
        (["report", "--output", "-", "-q"], 0),
        (["explain", "nobody"], 2),  # unknown contact
        (["verify"], 2),  # the fake writer cannot list what it holds
    ],
)
def test_every_command_closes_its_connection(runner, install_adapters, tmp_path, command, code):
    """However the command ends: the connection (and the state store) close with its context."""
    closed: list[str] = []
    install_adapters({"memory": _closing_adapter(closed)})
    state = ["--state", str(tmp_path / "s.sqlite"), "--as-of", AS_OF]
    if command == ["verify"]:
        state = state[:2]
        assert runner.invoke(cli, ["sync", "--adapter", "memory", *state]).exit_code == 0
        closed.clear()
    result = runner.invoke(cli, [*command, "--adapter", "memory", *state])
    assert result.exit_code == code, result.output
    assert closed == ["connection"]


def test_verbose_configures_logging_for_every_command(runner, tmp_path):
    state = tmp_path / "s.sqlite"
    SQLiteStateStore(state).close()
    quiet = runner.invoke(cli, ["runs", "--state", str(state)])
    assert "opening the sqlite state store" not in quiet.stderr
    loud = runner.invoke(cli, ["runs", "-v", "--state", str(state)])
    assert f"INFO mutuality_cli.runtime: opening the sqlite state store at {state}" in loud.stderr
    listing = runner.invoke(cli, ["adapters", "-vv"])
    assert listing.exit_code == 0
