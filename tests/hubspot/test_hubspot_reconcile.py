"""The portal is the truth (issue 12): drifted scores are repaired, failed writes retried,
deleted contacts forgotten, and ``verify`` counts what differs. Against the fake portal."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_cli.main import cli
from test_hubspot_sync import Harness, seed

from mutuality_core.reconcile import verify_connection

pytest.importorskip("hubspot")

SCORE_PROPERTIES = (
    "mutuality_score", "mutuality_band", "mutuality_lean", "mutuality_strength",
    "mutuality_confidence", "mutuality_reasons", "mutuality_scored_at", "mutuality_written_at",
)  # fmt: skip


@pytest.fixture
def harness(server, portal, wall, fake_time, settings_for, tmp_path):
    h = Harness(server, portal, wall, fake_time, settings_for, tmp_path)
    setup_properties(h.connection().source.api, h.settings)
    server.app.reset_stats()
    yield h
    h.state.close()


def clear_scores(portal, contact_id) -> None:
    """What a person (or a restored backup) does: empty every mutuality property."""
    portal.update("contacts", contact_id, dict.fromkeys(SCORE_PROPERTIES, ""))


def other_band(band: str) -> str:
    return "dormant" if band != "dormant" else "mutual"


def delete_contact(portal, contact_id: int) -> None:
    with portal.lock:
        del portal.records["contacts"][contact_id]
        portal.sorted_ids("contacts").remove(contact_id)


def verify(harness):
    return verify_connection(harness.connection(), harness.state)


def test_cleared_scores_are_rewritten_by_a_full_sync_and_an_incremental_then_writes_nothing(
    harness, portal, server
):
    ids = seed(portal, 120)
    assert harness.sync().written == 120
    for cid in ids:
        clear_scores(portal, cid)
    harness.wall.advance(600)
    server.app.reset_stats()
    full = harness.sync(full=True)
    assert full.repaired == 120 and full.repaired_by_reason == {"missing": 120}
    assert full.changed == 0 and full.written == 120 and full.failed == 0
    assert harness.writes == {str(i): 1 for i in ids}
    assert all(portal.get("contacts", i).properties["mutuality_band"] for i in ids)
    # the full read listed the contacts with their properties: no request was added for it
    assert server.app.stats["list contacts"] == 2  # 120 contacts, 100 a page
    server.app.reset_stats()
    again = harness.sync()
    assert not again.full and again.written == 0 and again.repaired == 0
    assert server.app.stats["batch/update contacts"] == 0


def test_a_band_edited_by_hand_is_rewritten_by_the_next_incremental_sync_alone(
    harness, portal, server
):
    ids = seed(portal, 40)
    harness.sync()
    harness.wall.advance(600)  # well after our own write
    edited = ids[7]
    band = portal.get("contacts", edited).properties["mutuality_band"]
    portal.update("contacts", edited, {"mutuality_band": other_band(band)})
    server.app.reset_stats()
    report = harness.sync()
    assert not report.full
    assert report.repairs == ((str(edited), "edited"),) and report.written == 1
    assert harness.writes == {str(edited): 1}
    assert portal.get("contacts", edited).properties["mutuality_band"] == band
    run = harness.state.runs(limit=1)[0]["report"]
    assert run["repaired"] == 1 and run["repairs"] == [
        {"contact_id": str(edited), "reason": "edited"}
    ]


def test_three_ids_that_fail_are_written_by_the_next_run_and_shown_retried(harness, portal, server):
    ids = seed(portal, 50)
    failing = [str(i) for i in ids[10:13]]
    # a 207 naming them (HubSpot had them missing for a moment); not retried in the run
    server.app.fail_updates(failing, times=1, category="OBJECT_NOT_FOUND",
                            message="resource not found")  # fmt: skip
    first = harness.sync()
    assert first.written == 47 and first.failed == 3
    assert sorted(f.contact_id for f in first.failures) == failing
    assert first.forgotten == ()  # a failed write is no proof of a deletion
    server.app.reset_stats()
    second = harness.sync()  # no activity changed
    assert second.written == 3 and second.retried == 3 and second.failed == 0
    assert sorted(harness.writes) == failing
    runs = harness.state.runs(limit=2)
    assert runs[1]["report"]["failed"] == 3 and runs[0]["report"]["retried"] == 3
    server.app.reset_stats()
    assert harness.sync().written == 0  # and then they are like any other contact


def test_a_contact_failing_the_same_way_is_reported_every_run(harness, portal, server):
    ids = seed(portal, 10)
    stuck = str(ids[3])
    server.app.fail_updates([stuck], times=100, category="VALIDATION_ERROR",
                            message="Property values were not valid")  # fmt: skip
    reports = [harness.sync() for _ in range(4)]
    assert [r.failed for r in reports] == [1, 1, 1, 1]
    assert [r.failure_runs[stuck] for r in reports] == [1, 2, 3, 4]
    assert [len(r.persistent_failures) for r in reports] == [0, 0, 1, 1]
    last = reports[-1].to_dict()["persistent_failures"][0]
    assert last["contact_id"] == stuck and "VALIDATION_ERROR" in last["error"]
    assert last["runs"] == 4


def test_a_deleted_contact_is_forgotten_by_a_full_sync_and_never_written_again(
    harness, portal, server
):
    ids = seed(portal, 30)
    harness.sync()
    gone = ids[4]
    delete_contact(portal, gone)
    incremental = harness.sync()
    assert incremental.forgotten == ()  # search does not show deletions
    full = harness.sync(full=True)
    assert full.forgotten == (str(gone),) and full.to_dict()["forgotten_ids"] == [str(gone)]
    assert str(gone) not in harness.state.written(harness.connection().target)
    server.app.reset_stats()
    harness.wall.advance(90 * 86400)  # three months on: every score moves
    later = harness.sync()
    assert later.written > 0 and later.failed == 0
    assert str(gone) not in harness.writes


def test_verify_counts_a_clean_a_cleared_and_an_edited_portal(harness, portal, server, token):
    ids = seed(portal, 30)
    harness.sync()
    clean = verify(harness)
    assert (clean.in_sync, clean.missing, clean.edited, clean.differs) == (30, 0, 0, False)
    server.app.reset_stats()
    runner = CliRunner()
    env = {
        "MUTUALITY_HUBSPOT_BASE_URL": server.base_url,
        "HUBSPOT_ACCESS_TOKEN": token,
        "MUTUALITY_HUBSPOT_SEARCH_LAG_SECONDS": "0",
    }
    state = str(harness.state.path)
    args = ["verify", "--adapter", "hubspot", "--state", state, "--format", "json"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["in_sync"] == 30
    assert server.app.stats["batch/update contacts"] == 0  # read only
    assert server.app.stats["list contacts"] == 1  # one page of score properties

    portal.update("contacts", ids[0], {"mutuality_band": other_band(
        portal.get("contacts", ids[0]).properties["mutuality_band"])})  # fmt: skip
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1
    counts = json.loads(result.stdout)
    assert (counts["in_sync"], counts["edited"], counts["missing"]) == (29, 1, 0)
    assert counts["examples"]["edited"] == [str(ids[0])]

    for cid in ids:
        clear_scores(portal, cid)
    text = runner.invoke(cli, ["verify", "--adapter", "hubspot", "--state", state], env=env)
    assert text.exit_code == 1
    assert "missing                30" in text.stdout and "sync --full" in text.stdout
    harness.sync(full=True)
    assert runner.invoke(cli, args, env=env).exit_code == 0
