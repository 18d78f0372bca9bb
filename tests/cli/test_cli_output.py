"""`--format table|json|jsonl|csv` (and `--json`) on every listing command."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_cli import output
from mutuality_cli.main import cli

AS_OF = "2026-06-30T00:00:00Z"


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny CRM (a non-ASCII name, a comma in a company) synced once: (folder, state file)."""
    folder = tmp_path_factory.mktemp("crm")
    (folder / "contacts.csv").write_text(
        "id,email,first_name,last_name,company\n"
        'c1,zoe@example.com,Zoë,Brandt,"Acme, Inc"\n'
        "c2,li@example.com,Li,Wei,Initech\n",
        encoding="utf-8",
    )
    rows = ["id,contact_id,occurred_at,channel,direction,outcome,thread_id"]
    for day in range(1, 21):
        for contact in ("c1", "c2"):
            direction = "outbound" if day % 3 else "inbound"
            rows.append(
                f"a{contact}{day},{contact},2026-06-{day:02d}T10:00:00Z,email,{direction},,"
                f"t{contact}{day // 2}"
            )
    (folder / "activities.csv").write_text("\n".join(rows) + "\n")
    state = tmp_path_factory.mktemp("state") / "state.sqlite"
    result = CliRunner().invoke(
        cli, ["sync", "--path", str(folder), "--as-of", AS_OF, "--state", str(state), "-q"]
    )
    assert result.exit_code == 0, result.output
    return folder, state


#: command -> (its arguments, the listing that declares its columns, JSON is a list of rows)
COMMANDS = {
    "adapters": (lambda f, s: ["adapters"], output.ADAPTERS, True),
    "state stores": (lambda f, s: ["state", "stores"], output.STATE_STORES, True),
    "runs": (lambda f, s: ["runs", "--state", str(s)], output.RUNS, True),
    "state show": (lambda f, s: ["state", "show", "--state", str(s)], output.TARGETS, False),
    "config show": (lambda f, s: ["config", "show", "--path", str(f)], output.SETTINGS, False),
    "explain": (
        lambda f, s: ["explain", "c1", "--path", str(f), "--as-of", AS_OF, "--state", str(s)],
        output.SIGNALS,
        False,
    ),
    "score": (
        lambda f, s: ["score", "--path", str(f), "--as-of", AS_OF, "--state", str(s), "-q"],
        output.SCORES,
        True,
    ),
}


def run(runner: CliRunner, args: list[str]) -> str:
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def jsonl_rows(text: str) -> list[dict]:
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


@pytest.mark.parametrize("name", COMMANDS)
def test_every_format_parses_and_agrees(runner, synced, name):
    arguments, listing, json_is_rows = COMMANDS[name]
    args = arguments(*synced)

    jsonl = jsonl_rows(run(runner, [*args, "--format", "jsonl"]))
    assert jsonl, f"{name} listed nothing"

    as_json = json.loads(run(runner, [*args, "--format", "json"]))
    if json_is_rows:
        assert as_json == jsonl
    else:
        assert isinstance(as_json, dict)

    reader = csv.DictReader(io.StringIO(run(runner, [*args, "--format", "csv"])))
    assert tuple(reader.fieldnames or ()) == listing.columns
    as_csv = list(reader)
    assert len(as_csv) == len(jsonl)
    first = listing.columns[0]
    if first in jsonl[0]:
        assert [r[first] for r in as_csv] == [str(r[first]) for r in jsonl]

    table = run(runner, [*args, "--format", "table"])
    assert table.strip()


@pytest.mark.parametrize("name", COMMANDS)
def test_json_flag_is_format_json(runner, synced, name):
    args = COMMANDS[name][0](*synced)
    assert run(runner, [*args, "--json"]) == run(runner, [*args, "--format", "json"])
    both = runner.invoke(cli, [*args, "--json", "--format", "json"])
    assert both.exit_code == 0
    clash = runner.invoke(cli, [*args, "--json", "--format", "csv"])
    assert clash.exit_code == 2
    assert "--json is --format json; it cannot go with --format csv" in clash.stderr


def test_documents_keep_their_json_shape_and_jsonl_lists_their_rows(runner, synced):
    folder, state = synced
    explain = ["explain", "c1", "--path", str(folder), "--as-of", AS_OF, "--state", str(state)]
    document = json.loads(run(runner, [*explain, "--json"]))
    signals = jsonl_rows(run(runner, [*explain, "--format", "jsonl"]))
    assert signals == [{"contact_id": "c1", **c} for c in document["components"]]
    assert document["name"] == "Zoë Brandt"

    shown = json.loads(run(runner, ["state", "show", "--state", str(state), "--json"]))
    targets = jsonl_rows(run(runner, ["state", "show", "--state", str(state), "--format", "jsonl"]))
    assert shown == {"state": str(state), "targets": targets}
    assert targets[0]["target"] == f"files:{folder}" and targets[0]["written"] == 2

    config = ["config", "show", "--path", str(folder)]
    data = json.loads(run(runner, [*config, "--json"]))
    settings = {r["key"]: r for r in jsonl_rows(run(runner, [*config, "--format", "jsonl"]))}
    assert settings["adapter"] == {"key": "adapter", "value": "files", "origin": "default"}
    assert settings["state_store"]["value"] == data["state_store"] == "sqlite"
    assert settings["adapters.files.path"] == {
        "key": "adapters.files.path",
        "value": str(folder),
        "origin": "flag",
    }
    assert settings["scoring.half_life_days"]["value"] == data["scoring"]["half_life_days"]
    assert settings["batch_size"]["value"] is None  # every setting, set or not


def test_csv_quotes_and_joins_what_it_must(runner, synced):
    folder, state = synced
    text = run(runner, ["score", "--path", str(folder), "--as-of", AS_OF, "--format", "csv"])
    rows = {r["contact_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["c1"]["name"] == "Zoë Brandt"
    reasons = jsonl_rows(run(runner, ["score", "--path", str(folder), "--as-of", AS_OF]))[0]
    assert rows["c1"]["reasons"] == "; ".join(reasons["reasons"])

    store = SQLiteStateStore(state)
    try:
        with store.lock(f"files:{folder}", owner="nightly, eu"):
            shown = run(runner, ["state", "show", "--state", str(state), "--format", "csv"])
    finally:
        store.close()
    [target] = list(csv.DictReader(io.StringIO(shown)))
    assert target["locked_by"] == "nightly, eu" and int(target["lock_pid"]) > 0
    assert target["written"] == "2"


def test_runs_csv_has_the_tables_columns_and_jsonl_the_whole_records(runner, synced):
    _, state = synced
    text = run(runner, ["runs", "--state", str(state), "--format", "csv"])
    assert text.splitlines()[0] == (
        "run_id,target,started_at,finished_at,status,written,repaired,retried,failed"
    )
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["status"] == "ok" and row["written"] == "2"
    [record] = jsonl_rows(run(runner, ["runs", "--state", str(state), "--format", "jsonl"]))
    assert record["report"]["written"] == 2 and "options" in record


def test_json_lists_print_one_row_per_line(runner, synced):
    folder, _ = synced
    text = run(runner, ["score", "--path", str(folder), "--as-of", AS_OF, "--format", "json"])
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]" and len(lines) == 2 + 2
    assert json.loads(lines[1].rstrip(",")) == json.loads(text)[0]


def test_empty_listings(runner, install_adapters, install_state_stores, tmp_path):
    install_adapters({})
    install_state_stores({})
    assert run(runner, ["adapters", "--format", "json"]) == "[]\n"
    assert run(runner, ["adapters", "--format", "jsonl"]) == ""
    assert run(runner, ["state", "stores", "--format", "csv"]).splitlines() == [
        ",".join(output.STATE_STORES.columns)
    ]
    assert run(runner, ["adapters"]).startswith(
        "No adapters installed (entry-point group mutuality.adapters is empty).\n"
    )
    assert run(runner, ["state", "stores"]) == (
        "No state stores installed (entry-point group mutuality.state_stores is empty).\n"
    )


def test_empty_runs_and_state(runner, tmp_path):
    state = tmp_path / "state.sqlite"
    SQLiteStateStore(state).close()
    assert run(runner, ["runs", "--state", str(state)]) == f"No runs recorded in {state} yet.\n"
    assert run(runner, ["runs", "--state", str(state), "--json"]) == "[]\n"
    assert run(runner, ["state", "show", "--state", str(state)]) == (
        f"State file {state}\nNo targets yet.\n"
    )
    assert json.loads(run(runner, ["state", "show", "--state", str(state), "--json"])) == {
        "state": str(state),
        "targets": [],
    }


def test_state_show_text_is_unchanged(runner, synced):
    folder, state = synced
    store = SQLiteStateStore(state)
    try:
        with store.lock(f"files:{folder}", owner="nightly"):
            holder = store.lock_holder(f"files:{folder}")
            text = run(runner, ["state", "show", "--state", str(state)])
    finally:
        store.close()
    assert holder is not None
    assert text == (
        f"State file {state}\n"
        f"  files:{folder}: contacts 0, activities 0, written 2\n"
        f"    locked by nightly (pid {holder['pid']} on {holder['host']}, since "
        f"{holder['started_at']})\n"
    )


def test_config_show_text_lists_set_values_with_their_origin(runner, tmp_path):
    Path("mutuality.toml").write_text('lock_expires_after = 600\n[adapters.files]\npath = "crm"\n')
    text = run(runner, ["config", "show"])
    lines = text.splitlines()
    assert lines[:5] == [
        f"# config file: {Path.cwd() / 'mutuality.toml'}",
        'adapter = "files"  # default',
        f'state = "{Path.cwd() / ".mutuality" / "state.sqlite"}"  # default',
        'state_store = "sqlite"  # default',
        f"lock_expires_after = 600.0  # file {Path.cwd() / 'mutuality.toml'}",
    ]
    assert lines[5:7] == ["", "[scoring]"]
    assert lines[-2:] == [
        "[adapters.files]",
        f'path = "crm"  # file {Path.cwd() / "mutuality.toml"}',
    ]


def test_renderers_on_their_own():
    listing = output.Listing(("a", "b"), flat=lambda row: {**row, "b": row["b"]["x"]})
    rows = [{"a": [1, 2], "b": {"x": 'é, "q"'}}, {"a": None, "b": {"x": 3}}]
    out = io.StringIO()
    assert output.write(listing, iter(rows), "csv", out) == 2
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["a", "b"],
        ["1; 2", 'é, "q"'],
        ["", "3"],
    ]
    out = io.StringIO()
    output.write(listing, iter(rows), "jsonl", out)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == rows
    out = io.StringIO()
    output.write(listing, iter(rows), "json", out)
    assert json.loads(out.getvalue()) == rows
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        output.write(listing, rows, "xml", io.StringIO())
