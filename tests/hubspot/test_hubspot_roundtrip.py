"""Files folder -> fake HubSpot (seeded as a real portal holds the data) -> HubSpot adapter.

What goes in comes back: every channel/direction/outcome/automated/tags combination
HubSpot can represent returns equal to the files adapter's activity, except the
documented differences (docs/hubspot.md, "Round trip"): ids become HubSpot ids
and an email thread id gains the prefix ``hs:``. What HubSpot cannot represent is
changed in exactly the documented way. The sample CRM scores to the same band
for every contact through both adapters.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from mutuality_adapters import files
from mutuality_adapters.hubspot import plugin
from mutuality_adapters.hubspot.fake import Portal, running_fake_hubspot, seed_from_files
from mutuality_adapters.hubspot.mapping import activity_id_for

from mutuality_core.model import Activity
from mutuality_core.sync import score_source

pytest.importorskip("hubspot")

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sample_crm"
COLUMNS = ["id", "contact_id", "occurred_at", "channel", "direction", "outcome",
           "thread_id", "duration_seconds", "automated", "tags"]  # fmt: skip


def representable_rows() -> Iterator[dict[str, str]]:
    """One row per combination that HubSpot can hold (before contacts are assigned)."""
    for direction in ("outbound", "inbound"):
        for outcome in ("completed", "bounced", "scheduled"):
            for automated, tags in (
                ("false", ""), ("false", "ask"), ("false", "give"), ("false", "ask;give"),
                ("true", ""), ("true", "newsletter"), ("true", "give"),
            ):  # fmt: skip
                for thread in ("", "t-1"):
                    yield dict(channel="email", direction=direction, outcome=outcome,
                               automated=automated, tags=tags, thread_id=thread)  # fmt: skip
        yield dict(channel="email", direction=direction, automated="true", tags="sequence")
    for automated in ("false", "true"):  # forwarded to the CRM: whose mail is unknown
        yield dict(channel="email", direction="unknown", automated=automated, tags="forwarded")
    for direction in ("outbound", "inbound", "unknown"):
        yield dict(channel="call", direction=direction, outcome="completed", duration_seconds="95")
        yield dict(channel="call", direction=direction, outcome="completed", tags="ask")
        yield dict(channel="call", direction=direction, outcome="no_answer")
        yield dict(channel="call", direction=direction, outcome="no_answer", tags="voicemail")
        yield dict(channel="call", direction=direction, outcome="no_answer", tags="busy;give")
        yield dict(channel="call", direction=direction, outcome="canceled")
        yield dict(channel="call", direction=direction, outcome="scheduled")
    yield dict(channel="meeting", direction="mutual", outcome="completed", duration_seconds="1800")
    yield dict(channel="meeting", direction="mutual", outcome="completed", tags="give")
    for direction in ("outbound", "inbound", "unknown"):
        for outcome in ("scheduled", "no_show", "canceled"):
            yield dict(channel="meeting", direction=direction, outcome=outcome)
        yield dict(channel="meeting", direction=direction, outcome="canceled", tags="ask")
    for tags in ("", "internal", "ask", "give;internal"):
        yield dict(channel="note", direction="unknown", outcome="completed", tags=tags)
    for kind in ("sms", "whats_app", "linkedin_message"):
        yield dict(channel="message", direction="unknown", tags=kind)
        yield dict(channel="message", direction="unknown", tags=f"{kind};ask")
    for outcome in ("completed", "scheduled"):
        yield dict(channel="task", direction="unknown", outcome=outcome, tags="todo")


#: Rows HubSpot cannot hold, and exactly what comes back instead (docs/hubspot.md).
UNREPRESENTABLE: list[tuple[dict[str, str], dict[str, Any]]] = [
    # a held meeting is two-way whoever booked it
    (dict(channel="meeting", direction="outbound", outcome="completed"), {"direction": "mutual"}),
    (dict(channel="meeting", direction="inbound", outcome="completed"), {"direction": "mutual"}),
    # HubSpot's meeting outcomes have no "declined"
    (dict(channel="meeting", direction="outbound", outcome="declined"), {"outcome": "canceled"}),
    # only emails carry an automated signal
    (dict(channel="call", direction="outbound", outcome="completed", automated="true"),
     {"automated": False}),
    # a forwarded email's direction is not recorded; the tag says it was forwarded
    (dict(channel="email", direction="outbound", outcome="completed"), None),  # control row
    (dict(channel="email", direction="mutual", outcome="completed"),
     {"direction": "unknown", "tags": {"forwarded"}}),
    # every communication has a channel type; every task a type
    (dict(channel="message", direction="unknown"), {"tags": {"sms"}}),
    (dict(channel="task", direction="unknown", outcome="completed"), {"tags": {"todo"}}),
    # HubSpot has no "other" engagement: it becomes a note
    (dict(channel="other", direction="unknown"), {"channel": "note"}),
]  # fmt: skip


def write_folder(folder: Path, rows: list[dict[str, str]], contacts: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name", "last_name", "company"])
        for n in range(contacts):
            writer.writerow([f"c{n}", f"person{n}@buyer{n % 3}.example", f"P{n}", "Test", ""])
    with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in COLUMNS})


def numbered(base: list[dict[str, str]], contacts: int) -> list[dict[str, str]]:
    """Give each combination an id, a time and a contact; every tenth is shared by two."""
    rows = []
    for n, row in enumerate(base):
        when = f"2026-0{1 + n % 6}-{1 + n % 28:02d}T{n % 24:02d}:15:00Z"
        full = {"outcome": "completed", "automated": "false", **row, "id": f"a{n:04d}",
                "occurred_at": when}  # fmt: skip
        rows.append({**full, "contact_id": f"c{n % contacts}"})
        if n % 10 == 0:
            rows.append({**full, "contact_id": f"c{(n + 1) % contacts}"})
    return rows


def read_files(folder: Path) -> dict[tuple[str, str], Activity]:
    out = {}
    for page in files.connect(folder).source.read(None):
        out.update({(a.contact_id, a.id): a for a in page.activities})
    return out


def read_hubspot(portal: Portal, **settings: Any) -> list[Activity]:
    with running_fake_hubspot(portal=portal) as server:
        values = {"base_url": server.base_url, "access_token": "t", **settings}
        connection = plugin.connect(values, environ={})
        return [a for page in connection.source.read(None) for a in page.activities]


def round_trip(folder: Path) -> tuple[dict[tuple[str, str], Activity], dict[Any, Activity]]:
    portal = Portal()
    seeded = seed_from_files(portal, folder)
    contact_key = {str(v): k for k, v in seeded.contact_ids.items()}
    activity_key = {activity_id_for(*v): k for k, v in seeded.engagement_ids.items()}
    back = {}
    for activity in read_hubspot(portal, include_tasks=True):
        key = (contact_key[activity.contact_id], activity_key[activity.id])
        assert key not in back
        back[key] = activity
    return read_files(folder), back


def as_read_back(original: Activity, hubspot: Activity) -> Activity:
    """The original with only the documented, always-present differences applied."""
    return attrs.evolve(
        original,
        id=hubspot.id,
        contact_id=hubspot.contact_id,
        thread_id=f"hs:{original.thread_id}" if original.thread_id else None,
    )


def test_every_representable_combination_comes_back_unchanged(tmp_path: Path) -> None:
    rows = numbered(list(representable_rows()), contacts=7)
    write_folder(tmp_path, rows, contacts=7)
    original, back = round_trip(tmp_path)
    assert len(original) == len(rows) and set(back) == set(original)
    different = {
        k: (a, back[k]) for k, a in original.items() if as_read_back(a, back[k]) != back[k]
    }
    assert different == {}
    # the folder really covers what it claims to
    combos = {(a.channel.value, a.direction.value, a.outcome.value, a.automated)
              for a in original.values()}  # fmt: skip
    assert ("email", "outbound", "completed", True) in combos
    assert ("email", "inbound", "completed", True) in combos
    assert {("meeting", d, "no_show", False) for d in ("outbound", "inbound", "unknown")} <= combos
    assert {t for a in original.values() for t in a.tags} >= {"ask", "give", "newsletter"}


def test_what_hubspot_cannot_hold_changes_exactly_as_documented(tmp_path: Path) -> None:
    rows = numbered([row for row, _ in UNREPRESENTABLE], contacts=3)
    write_folder(tmp_path, rows, contacts=3)
    original, back = round_trip(tmp_path)
    expected_by_id = {f"a{n:04d}": change for n, (_, change) in enumerate(UNREPRESENTABLE)}
    for key, activity in original.items():
        change: Mapping[str, Any] = expected_by_id[activity.id] or {}
        tags = activity.tags | change.get("tags", frozenset())
        expected = attrs.evolve(as_read_back(activity, back[key]), **{**change, "tags": tags})
        assert back[key] == expected, activity.id


def test_more_recipients_than_the_threshold_make_an_email_bulk(tmp_path: Path) -> None:
    base = {"id": "blast", "occurred_at": "2026-03-01T09:00:00Z", "channel": "email",
            "direction": "outbound", "outcome": "completed", "automated": "false"}  # fmt: skip
    rows = [{**base, "contact_id": f"c{n}"} for n in range(21)]
    rows.append({**base, "id": "small", "contact_id": "c0"})
    write_folder(tmp_path, rows, contacts=21)
    original, back = round_trip(tmp_path)
    assert {k for k, a in back.items() if a.automated} == {(f"c{n}", "blast") for n in range(21)}
    assert not any(a.automated for a in original.values())


@pytest.mark.slow
def test_the_sample_crm_scores_the_same_band_through_both_adapters() -> None:
    as_of = datetime(2026, 6, 30, tzinfo=timezone.utc)
    by_files = {c.id: s.band for c, s in score_source(files.connect(SAMPLE).source, as_of=as_of)}
    portal = Portal()
    seeded = seed_from_files(portal, SAMPLE)
    contact_key = {str(v): k for k, v in seeded.contact_ids.items()}
    with running_fake_hubspot(portal=portal) as server:
        connection = plugin.connect({"base_url": server.base_url, "access_token": "t"}, environ={})
        by_hubspot = {
            contact_key[c.id]: s.band for c, s in score_source(connection.source, as_of=as_of)
        }
    with (SAMPLE / "contacts.csv").open(encoding="utf-8") as handle:
        assert len(by_files) == sum(1 for _ in csv.DictReader(handle))
    assert by_hubspot.keys() == by_files.keys()
    differing = {k: (v, by_hubspot[k]) for k, v in by_files.items() if by_hubspot[k] != v}
    assert differing == {}
