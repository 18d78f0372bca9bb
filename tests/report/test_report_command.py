"""`mutuality report` on the sample CRM, with and without a state file, and for CRMs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mutuality_adapters.files import connect as connect_files
from mutuality_adapters.sqlite_state import SQLiteStateStore
from mutuality_cli.main import cli
from mutuality_report import from_state
from mutuality_report.book import band_rows
from mutuality_report.sources import display_name
from report_helpers import LATER, LATER_AT, expected_top, invoke, synced_twice, top_names

from mutuality_core.sync import run_sync, score_source

ENV = {"HUBSPOT_ACCESS_TOKEN": "t"}
NAMED = ("Ada Chaser", "Bo Answer")


def test_the_report_of_the_sample_crm_names_the_core_s_most_one_sided_contacts(crm):
    synced_twice(crm)
    out = invoke("report", "--path", str(crm), "--output", "r.html", "--top", "7")
    assert "Report of 320 contacts written to r.html" in out
    page = Path("r.html").read_text("utf-8")
    for band in ("you_invest_more", "they_invest_more"):
        expected = expected_top(band, 7)
        assert len(expected) == 7
        assert top_names(page, band) == expected
    assert "the last run (run 2)" in page
    assert "mutuality-" in page  # the algorithm version, in the header and the runs table


def test_changes_come_from_the_values_the_last_run_replaced(crm):
    synced_twice(crm)
    with SQLiteStateStore(".mutuality/state.sqlite") as state:
        book = from_state(connect_files(crm), state)
        rows = state.written_history(connect_files(crm).target)
    moved = {r["contact_id"]: r["previous_band"] for r in rows if r["previous_band"] != r["band"]}
    assert moved, "the sample CRM changes between March and June"
    assert {cid: book.history.changes[cid].band for cid in moved} == moved
    assert sum(r.moved_in for r in band_rows(book.entries, book.history)) == len(moved)
    names = {e.contact_id: e.name for e in book.entries}
    assert all(names.values()), "every sample contact has a name from contacts.csv"


def test_without_a_state_file_the_report_scores_the_folder_and_creates_nothing(crm):
    out = invoke("report", "--path", str(crm), "--as-of", LATER, "--output", "r.html", "-q")
    assert out == ""
    page = Path("r.html").read_text("utf-8")
    assert (
        "computed as of 2026-06-30 00:00 UTC" in page
        and "No earlier values to compare with" in page
    )
    assert not Path(".mutuality").exists()


def test_as_of_scores_afresh_and_compares_with_what_the_last_sync_wrote(crm):
    invoke("sync", "--path", str(crm), "--as-of", "2026-03-31T00:00:00Z", "-q")
    page = invoke("report", "--path", str(crm), "--as-of", LATER, "--output", "-", "-q")
    assert page.startswith("<!DOCTYPE html>")  # only the page on stdout
    assert "before the last run (run 1)" in page
    assert "Report of" not in page  # no summary line mixed into it


def test_the_page_is_written_whole_or_not_at_all(crm):
    Path("taken").write_text("a file, not a folder")
    result = CliRunner().invoke(cli, ["report", "--path", str(crm), "--output", "taken/r.html"])
    assert result.exit_code != 0 and "cannot write the report to taken/r.html" in result.output


def test_a_hubspot_book_is_reported_from_the_state_without_any_request(tmp_path, crm):
    pytest.importorskip("hubspot")
    from mutuality_adapters.hubspot import plugin
    from mutuality_adapters.hubspot.fake import Portal, running_fake_hubspot, seed_from_files
    from mutuality_adapters.hubspot.properties import setup_properties

    folder = _small_folder(tmp_path / "small")
    portal = Portal(portal_id=4242)
    seed_from_files(portal, folder)
    with running_fake_hubspot(portal=portal) as server:
        connection = plugin.connect({"base_url": server.base_url, "access_token": "t"}, environ={})
        setup_properties(connection.source.api, connection.source.settings)
        with SQLiteStateStore(tmp_path / "state.sqlite") as state:
            run_sync(connection, state, as_of=LATER_AT, now=lambda: LATER_AT)
        connection.close()
    # the fake portal is gone: the report must not need it
    result = CliRunner().invoke(
        cli,
        ["report", "--adapter", "hubspot", "-o", "target=hubspot:portal-4242",
         "--state", str(tmp_path / "state.sqlite"), "--output", "hs.html"],
        env=ENV,
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = Path("hs.html").read_text("utf-8")
    assert "hubspot:portal-4242" in page and "Ada Chaser" in page
    expected = _core_bands(folder)
    for band in ("you_invest_more", "they_invest_more"):
        assert top_names(page, band) == [n for n, b in expected.items() if b == band]
    with SQLiteStateStore(tmp_path / "state.sqlite") as state:
        book = from_state(plugin.connect({"target": "hubspot:portal-4242"}, environ=ENV), state)
    assert {e.name: e.band for e in book.entries} == expected
    assert {e.name: e.company for e in book.entries}["Ada Chaser"] == "Quiet Corp"


def test_a_salesforce_book_is_reported_from_the_state(tmp_path, crm):
    pytest.importorskip("simple_salesforce")
    from mutuality_adapters.salesforce import plugin
    from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_folder
    from mutuality_adapters.salesforce.fields import FIELDS

    folder = _small_folder(tmp_path / "small")
    with FakeSalesforce() as fake:
        seed_folder(fake.org, folder)
        for spec in FIELDS:  # as `mutuality setup salesforce` creates them
            fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
        environ = fake.environ()
        connection = plugin.connect({}, environ=environ)
        with SQLiteStateStore(tmp_path / "state.sqlite") as state:
            run_sync(connection, state, as_of=LATER_AT, now=lambda: LATER_AT)
            book = from_state(connection, state)
        connection.close()
    assert len(book.entries) == 3
    named = {e.name: e.band for e in book.entries if e.name in NAMED}  # Salesforce names k3 "k3"
    assert named == {n: b for n, b in _core_bands(folder).items() if n in NAMED}
    assert {e.name: e.company for e in book.entries}["Ada Chaser"] == "Quiet Corp"
    assert "Ada Chaser" in book.render()


def _core_bands(folder: Path) -> dict[str | None, str]:
    """Each contact's band as the core scores the folder itself (name, or None unnamed)."""
    scored = score_source(connect_files(folder).source, as_of=LATER_AT)
    return {display_name(c): s.band.value for c, s in scored}


def _small_folder(folder: Path) -> Path:
    """Two contacts: one you keep chasing, one who answers; plus one without a name."""
    folder.mkdir(parents=True)
    (folder / "contacts.csv").write_text(
        "id,email,first_name,last_name,company\n"
        "k1,ada@quiet.example,Ada,Chaser,Quiet Corp\n"
        "k2,bo@busy.example,Bo,Answer,Busy Corp\n"
        "k3,,,,\n",
        encoding="utf-8",
    )
    rows = ["id,contact_id,occurred_at,channel,direction,outcome,thread_id,duration_seconds,"
            "automated,tags"]  # fmt: skip
    for n in range(12):
        day = f"2026-0{3 + n % 3}-{10 + n:02d}T10:00:00Z"
        rows.append(f"a{n},k1,{day},email,outbound,completed,t{n},,false,")
        rows.append(f"b{n},k2,{day},email,outbound,completed,u{n},,false,")
        rows.append(f"c{n},k2,{day[:-10]}T15:00:00Z,email,inbound,completed,u{n},,false,")
    (folder / "activities.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_values_from_before_the_history_was_kept_are_not_called_changes(tmp_path, crm):
    invoke("sync", "--path", str(crm), "--as-of", LATER, "-q")
    with SQLiteStateStore(".mutuality/state.sqlite") as state:
        # as a state file migrated from schema version 1 holds them: no run, no previous value
        state._db.execute("UPDATE written SET run_id = NULL")
        book = from_state(connect_files(crm), state)
    assert book.history.since is None and book.history.changes == {}
    assert "No earlier values to compare with" in book.render()
