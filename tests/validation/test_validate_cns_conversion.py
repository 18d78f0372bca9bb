"""Turning the study's calls and SMS into contacts and activities, and joining labels."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from cns_study import write_study

from mutuality_core.model import Channel, Direction, Outcome

# Person 7 and person 3 talk; person 9 texts person 2 (9 is not in the Facebook layer).
CALLS = "100,3,7,60\n200,7,3,-1\n300,7,3,0\n"
SMS = "150,7,3\n150,7,3\n400,9,2\n"
FRIENDS = "3,7\n2,5\n"


@pytest.fixture
def study(tmp_path: Path) -> Path:
    return write_study(tmp_path / "study", calls=CALLS, sms=SMS, friends=FRIENDS)


def test_interactions_are_loaded_in_time_order_with_missed_calls_kept(
    cns: ModuleType, study: Path
) -> None:
    interactions = cns.load_interactions(study)
    assert [(i.kind, i.at_seconds) for i in interactions] == [
        ("call", 100),
        ("sms", 150),
        ("sms", 150),
        ("call", 200),
        ("call", 300),
        ("sms", 400),
    ]
    assert interactions[3].duration == -1
    assert interactions[1].row != interactions[2].row  # duplicate rows stay distinct


def test_each_pair_is_one_contact_seen_from_its_lower_id(cns: ModuleType, study: Path) -> None:
    contacts, activities = cns.convert(cns.load_interactions(study))
    assert [c.id for c in contacts] == ["2-9", "3-7"]
    by_id = {a.id: a for a in activities}
    assert len(by_id) == len(activities) == 6

    answered = by_id["call-1"]  # 3 called 7 for 60 s: 3 is "you"
    assert (answered.contact_id, answered.channel, answered.direction) == (
        "3-7",
        Channel.CALL,
        Direction.OUTBOUND,
    )
    assert (answered.outcome, answered.duration_seconds) == (Outcome.COMPLETED, 60.0)
    assert answered.occurred_at == cns.STUDY_START + timedelta(seconds=100)

    missed = by_id["call-2"]  # 7 called 3, duration -1: an unanswered call
    assert (missed.direction, missed.outcome, missed.duration_seconds) == (
        Direction.INBOUND,
        Outcome.NO_ANSWER,
        None,
    )
    zero = by_id["call-3"]  # answered, zero seconds: still a completed call
    assert (zero.outcome, zero.duration_seconds) == (Outcome.COMPLETED, 0.0)

    text = by_id["sms-3"]  # 9 texted 2; the pair is "2-9" seen from 2
    assert (text.contact_id, text.channel, text.direction) == ("2-9", Channel.MESSAGE, "inbound")


def test_mirror_view_flips_every_direction_and_keeps_ids(cns: ModuleType, study: Path) -> None:
    interactions = cns.load_interactions(study)
    contacts, first = cns.convert(interactions)
    mirror_contacts, second = cns.convert(interactions, mirror=True)
    assert [c.id for c in mirror_contacts] == [c.id for c in contacts]
    flipped = {Direction.OUTBOUND: Direction.INBOUND, Direction.INBOUND: Direction.OUTBOUND}
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert (a.id, a.contact_id, a.occurred_at, a.channel, a.outcome) == (
            b.id,
            b.contact_id,
            b.occurred_at,
            b.channel,
            b.outcome,
        )
        assert b.direction is flipped[a.direction]


def test_to_activity_refuses_a_person_outside_the_pair(cns: ModuleType, study: Path) -> None:
    interaction = cns.load_interactions(study)[0]
    with pytest.raises(ValueError, match="not in pair"):
        cns.to_activity(interaction, you=5)


def test_labels_exist_only_when_both_people_are_in_the_facebook_layer(
    cns: ModuleType, study: Path
) -> None:
    friendships = cns.load_friendships(study)
    assert friendships.users == frozenset({2, 3, 5, 7})
    assert friendships.label((3, 7)) is True
    assert friendships.label((2, 5)) is True
    assert friendships.label((2, 3)) is False
    assert friendships.label((2, 9)) is None


def test_traffic_counts_attempts_both_ways_and_the_last_record(
    cns: ModuleType, study: Path
) -> None:
    _, activities = cns.convert(cns.load_interactions(study))
    traffic = cns.traffic_by_contact(activities)
    assert (traffic["3-7"].outbound, traffic["3-7"].inbound, traffic["3-7"].total) == (1, 4, 5)
    assert traffic["3-7"].last_at == cns.STUDY_START + timedelta(seconds=300)
    assert (traffic["2-9"].outbound, traffic["2-9"].inbound) == (0, 1)


def test_files_folder_holds_one_row_per_contact_and_activity(
    cns: ModuleType, study: Path, tmp_path: Path
) -> None:
    contacts, activities = cns.convert(cns.load_interactions(study))
    folder = tmp_path / "crm"
    cns.write_files_folder(folder, contacts, activities)
    with (folder / "contacts.csv").open(newline="") as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == ["2-9", "3-7"]
    with (folder / "activities.csv").open(newline="") as handle:
        rows = {r["id"]: r for r in csv.DictReader(handle)}
    assert set(rows) == {a.id for a in activities}
    assert rows["call-2"]["outcome"] == "no_answer"
    assert rows["call-2"]["duration_seconds"] == ""
    assert rows["call-1"]["occurred_at"] == "2026-01-05T00:01:40Z"


def test_missing_file_says_which_folder_is_expected(cns: ModuleType, tmp_path: Path) -> None:
    with pytest.raises(cns.ValidationError, match="copenhagen-networks-study"):
        cns.load_interactions(tmp_path)


def test_wrong_columns_are_reported(cns: ModuleType, tmp_path: Path) -> None:
    study = write_study(tmp_path, calls="", sms="", friends="")
    (study / "sms.csv").write_text("time,from,to\n1,2,3\n")
    with pytest.raises(cns.ValidationError, match="expected columns"):
        cns.load_interactions(study)


def test_the_files_adapter_reads_the_folder_back_unchanged(
    cns: ModuleType, study: Path, tmp_path: Path
) -> None:
    contacts, activities = cns.convert(cns.load_interactions(study), mirror=True)
    folder = tmp_path / "crm"
    cns.write_files_folder(folder, contacts, activities)
    connection = cns.load_files_plugin().connect({"path": str(folder)}, environ={})
    try:
        pages = list(connection.source.read(None))
    finally:
        connection.close()
    read_contacts = [c for page in pages for c in page.contacts]
    read_activities = [a for page in pages for a in page.activities]
    assert sorted(c.id for c in read_contacts) == [c.id for c in contacts]
    assert {c.id: c.first_name for c in read_contacts} == {
        "2-9": "2",
        "3-7": "3",
    }  # seen from b: the contact is a
    assert sorted(read_activities, key=lambda a: a.id) == sorted(activities, key=lambda a: a.id)
