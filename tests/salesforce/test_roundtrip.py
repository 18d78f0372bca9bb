"""Files-format activities -> fake Salesforce (seed_folder) -> the adapter -> activities.

Every combination of channel, direction, outcome, automated and tags goes through a
fake org, once with the custom activity fields (tags, meeting outcome) and once
without them (Subject hashtags and prefixes only). What comes back must equal the
original except for the losses listed in docs/salesforce.md ("What Salesforce
cannot hold"), which :func:`salesforce_form` spells out one by one. The sample CRM
must come back unchanged and give every contact the same band as the files adapter.
"""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from mutuality_adapters.files import connect as connect_files
from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_folder
from mutuality_adapters.salesforce.fake.seed import BOOKING_USER_ID

from mutuality_core.model import Activity, Channel, Direction, Outcome
from mutuality_core.scoring import score_activities

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
AS_OF = datetime(2026, 6, 30, tzinfo=timezone.utc)
START = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
TAG_SETS = ("", "ask", "give;newsletter", "by_them")
SETTINGS = {"booking_user_ids": BOOKING_USER_ID}

_SCHEDULED = Outcome.SCHEDULED
_HELD = (Outcome.COMPLETED, Outcome.UNKNOWN)


def _write_folder(folder: Path, rows: list[dict[str, str]], contacts: Iterable[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, ["id", "email", "first_name", "last_name", "company"])
        writer.writeheader()
        for cid in contacts:
            writer.writerow({"id": cid, "email": f"{cid}@example.com", "last_name": cid})
    with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _every_combination() -> list[dict[str, str]]:
    rows = []
    combos = itertools.product(Channel, Direction, Outcome, (False, True), TAG_SETS)
    for n, (channel, direction, outcome, automated, tags) in enumerate(combos):
        duration = ""
        if outcome is Outcome.COMPLETED and channel in (Channel.CALL, Channel.MEETING):
            duration = "2700" if channel is Channel.MEETING else "120"
        if outcome is Outcome.NO_ANSWER and channel is Channel.CALL and n % 2:
            duration = "0"  # as a dialer logs it; half of them have no duration at all
        rows.append(
            {
                "id": f"a{n:05d}",
                "contact_id": f"c{n % 40:02d}",
                "occurred_at": (START + timedelta(minutes=7 * n)).isoformat(),
                "channel": channel.value,
                "direction": direction.value,
                "outcome": outcome.value,
                "thread_id": f"th{n}" if channel is Channel.EMAIL else "",
                "duration_seconds": duration,
                "automated": "true" if automated else "false",
                "tags": tags,
            }
        )
    return rows


def salesforce_form(a: Activity, *, custom_fields: bool) -> Activity:
    """What Salesforce can hold of ``a``: the documented losses, one rule each."""
    form = _salesforce_form(a, custom_fields=custom_fields)
    if form.outcome is _SCHEDULED and form.channel is not Channel.MEETING:
        # an open Task has only its due date (ActivityDate), read as midnight UTC
        midnight = form.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
        return attrs.evolve(form, occurred_at=midnight)
    return form


def _salesforce_form(a: Activity, *, custom_fields: bool) -> Activity:
    task_outcome = _SCHEDULED if a.outcome is _SCHEDULED else Outcome.COMPLETED
    plain = {"thread_id": None, "duration_seconds": None}
    if a.channel is Channel.EMAIL:
        if a.automated:  # Task ListEmail: sent by a tool, so outbound, no thread
            return attrs.evolve(a, direction=Direction.OUTBOUND, outcome=task_outcome, **plain)
        if a.outcome is _SCHEDULED:  # an open Task Email: not sent yet
            return attrs.evolve(a, direction=Direction.OUTBOUND, **plain)
        # EmailMessage: Incoming is yes/no, IsBounced is the only failure it records
        direction = Direction.INBOUND if a.direction is Direction.INBOUND else Direction.OUTBOUND
        outcome = Outcome.BOUNCED if a.outcome is Outcome.BOUNCED else Outcome.COMPLETED
        return attrs.evolve(a, direction=direction, outcome=outcome)
    if a.channel is Channel.CALL:
        if a.automated:  # Task Cadence: a sales-engagement step, read as a task
            return attrs.evolve(
                a, channel=Channel.TASK, direction=Direction.OUTBOUND, outcome=task_outcome, **plain
            )
        # CallType Inbound/Outbound; 0 s = no answer; other outcomes are not recorded
        direction = Direction.INBOUND if a.direction is Direction.INBOUND else Direction.OUTBOUND
        if a.outcome is Outcome.NO_ANSWER:
            return attrs.evolve(a, direction=direction, duration_seconds=0.0)
        return attrs.evolve(a, direction=direction, outcome=task_outcome)
    if a.channel is Channel.MEETING:
        outcome = a.outcome
        if outcome in (Outcome.BOUNCED, Outcome.NO_ANSWER, Outcome.UNKNOWN):
            outcome = Outcome.COMPLETED  # no Salesforce form: the Event reads as held
        if outcome is _SCHEDULED and not custom_fields:
            outcome = Outcome.COMPLETED  # only the outcome field can say "not yet held"
        if outcome is Outcome.COMPLETED:
            return attrs.evolve(
                a,
                direction=Direction.MUTUAL,
                outcome=outcome,
                automated=False,
                duration_seconds=a.duration_seconds or 1800.0,  # an Event has a length
            )
        # not held: the organiser (you, or the contact through a booking tool)
        booked = a.direction is Direction.INBOUND and outcome is not Outcome.DECLINED
        return attrs.evolve(
            a,
            direction=Direction.INBOUND if booked else Direction.OUTBOUND,
            outcome=outcome,
            automated=False,
            duration_seconds=None,
        )
    if a.channel is Channel.MESSAGE:  # Task LinkedIn: logged by you
        return attrs.evolve(
            a, direction=Direction.OUTBOUND, outcome=task_outcome, automated=False, **plain
        )
    if a.channel is Channel.NOTE:  # Task of Type Note: nobody's side
        return attrs.evolve(a, direction=Direction.UNKNOWN, outcome=task_outcome, **plain)
    # task and other: a Task, your to-do
    return attrs.evolve(
        a, channel=Channel.TASK, direction=Direction.OUTBOUND, outcome=task_outcome, **plain
    )


def _read_back(folder: Path, *, custom_fields: bool) -> dict[tuple[str, str], Activity]:
    """Activities read through the fake org, keyed and named by their seed ids."""
    with FakeSalesforce() as fake:
        seed_folder(fake.org, folder, custom_fields=custom_fields)
        contacts = {v: k for k, v in fake.org.seed_contact_ids.items()}
        activities = {v: k for k, v in fake.org.seed_activity_ids.items()}
        connection = plugin.connect(SETTINGS, environ=fake.environ())
        try:
            pages = list(connection.source.read(None))
        finally:
            connection.close()
    out = {}
    for a in (a for p in pages for a in p.activities):
        original = attrs.evolve(a, id=activities[a.id], contact_id=contacts[a.contact_id])
        out[(original.contact_id, original.id)] = original
    return out


def _files(folder: Path) -> dict[tuple[str, str], Activity]:
    pages = connect_files(folder).source.read(None)
    return {(a.contact_id, a.id): a for p in pages for a in p.activities}


@pytest.mark.parametrize("custom_fields", [True, False], ids=["custom-fields", "subject-only"])
def test_every_combination_round_trips_but_the_documented_losses(
    tmp_path: Path, custom_fields: bool
) -> None:
    rows = _every_combination()
    _write_folder(tmp_path, rows, sorted({r["contact_id"] for r in rows}))
    originals = _files(tmp_path)
    back = _read_back(tmp_path, custom_fields=custom_fields)
    assert sorted(back) == sorted(originals), "every activity once, for its contact"
    wrong = {
        key: (salesforce_form(a, custom_fields=custom_fields), back[key])
        for key, a in originals.items()
        if back[key] != salesforce_form(a, custom_fields=custom_fields)
    }
    assert not wrong, list(wrong.items())[:3]
    exact = Counter(
        (a.channel.value, a.direction.value, a.outcome.value)
        for key, a in originals.items()
        if back[key] == a
    )
    # what the score's evidence is made of survives intact
    for kept in [
        ("email", "outbound", "completed"),
        ("email", "inbound", "completed"),
        ("email", "outbound", "bounced"),
        ("call", "inbound", "completed"),
        ("call", "outbound", "no_answer"),
        ("meeting", "mutual", "completed"),
        ("meeting", "outbound", "canceled"),
        ("meeting", "inbound", "canceled"),
        ("meeting", "outbound", "no_show"),
        ("meeting", "inbound", "no_show"),
        ("meeting", "outbound", "declined"),
        ("note", "unknown", "completed"),
        ("message", "outbound", "completed"),
        ("task", "outbound", "completed"),
    ]:
        assert exact[kept] > 0, kept
    assert all(back[k].tags == a.tags for k, a in originals.items()), "tags are never lost"


def _bands(activities: Iterable[Activity]) -> dict[str, str]:
    return {s.contact_id: s.band.value for s in score_activities(activities, as_of=AS_OF)}


@pytest.mark.parametrize("custom_fields", [True, False], ids=["custom-fields", "subject-only"])
def test_sample_crm_reads_and_scores_the_same_as_the_files_adapter(custom_fields: bool) -> None:
    originals = _files(SAMPLE)
    back = _read_back(SAMPLE, custom_fields=custom_fields)
    assert len(originals) == 23_867
    differ = [key for key, a in originals.items() if back.get(key) != a]
    assert not differ, [(originals[k], back.get(k)) for k in differ[:3]]
    assert len(back) == len(originals)
    files_bands = _bands(originals.values())
    assert len(files_bands) == 317
    assert _bands(back.values()) == files_bands
