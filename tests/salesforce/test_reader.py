from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fake.soql import canonical_datetime

from mutuality_core.model import Direction

from .conftest import Clock, activity, contact_rows, read_all


def activities_of(pages: list[Any]) -> list[Any]:
    return [a for p in pages for a in p.activities]


def contacts_of(pages: list[Any]) -> list[Any]:
    return [c for p in pages for c in p.contacts]


def test_full_read_maps_everything_once(fake: FakeSalesforce, connect: Any) -> None:
    ids = seed_rows(
        fake.org,
        contact_rows(3),
        [
            activity("e1", "c0", direction="inbound", thread_id="t"),  # EmailMessage + logged Task
            activity("e2", "c0", direction="outbound"),
            activity("m1", "c1", channel="meeting", direction="mutual"),
            activity("m1", "c2", channel="meeting", direction="mutual"),  # shared meeting
            activity("k1", "c1", channel="call", direction="outbound", duration_seconds="30"),
            activity(
                "k1", "c2", channel="call", direction="outbound", duration_seconds="30"
            ),  # shared task
            activity("old", "c2", when="2024-01-01T00:00:00+00:00", channel="call"),  # archived
        ],
    )
    assert len(fake.org.records["Task"]) == 4  # two logged-email tasks, one call, one archived call
    assert sum(bool(r.get("IsArchived")) for r in fake.org.records["Task"].values()) == 1
    meeting = next(iter(fake.org.records["Event"].values()))
    copy = {k: v for k, v in meeting.items() if k != "Id"}
    fake.org.insert("Event", {**copy, "IsChild": True, "WhoId": ids["c1"]})  # a group event's copy
    source = connect().source
    pages, _cursor = read_all(source, None)
    contacts = contacts_of(pages)
    assert sorted(c.id for c in contacts) == sorted(ids.values())
    acts = activities_of(pages)
    keys = Counter((a.id, a.contact_id) for a in acts)
    assert max(keys.values()) == 1
    per_contact = Counter(a.contact_id for a in acts)
    assert per_contact == {ids["c0"]: 2, ids["c1"]: 2, ids["c2"]: 3}
    emails = [a for a in acts if a.contact_id == ids["c0"]]
    assert {a.direction for a in emails} == {Direction.INBOUND, Direction.OUTBOUND}
    # the logged email is known by its Task id: one activity, from the EmailMessage
    task_ids = {
        r["Id"] for r in fake.org.records["Task"].values() if r.get("TaskSubtype") == "Email"
    }
    assert {a.id for a in emails} == task_ids


def test_second_read_returns_nothing_and_new_activity_only_itself(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    ids = seed_rows(fake.org, contact_rows(5), [activity(f"a{i}", f"c{i}") for i in range(5)])
    # Rows stamped in the same instant as a parent query may have missed it: the
    # reader re-reads their parents on the next run. Seeded data is older here.
    clock.tick(1)
    source = connect().source
    _pages, cursor = read_all(source, None)
    clock.tick(600)
    pages, cursor2 = read_all(source, cursor)
    assert contacts_of(pages) == [] and activities_of(pages) == []
    clock.tick(5)
    seed_rows(fake.org, [], [])
    new_id = fake.org.insert(
        "Task",
        {
            "WhoId": ids["c3"],
            "TaskSubtype": "Call",
            "CallType": "Inbound",
            "IsClosed": True,
            "CompletedDateTime": canonical_datetime(clock.now),
        },
    )
    pages, _ = read_all(source, cursor2)
    acts = activities_of(pages)
    assert [(a.id, a.contact_id) for a in acts] == [(new_id, ids["c3"])]
    assert any(new_id in p.deleted_activity_ids for p in pages)  # replaced, not duplicated


def test_five_thousand_equal_stamps_read_exactly_once_even_after_a_crash(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    stamp = canonical_datetime(clock.now)
    for i in range(5000):
        fake.org.insert("Contact", {"LastName": f"n{i}"}, stamp=stamp)
    source = connect(page_size=200).source
    pages = list(source.read(None))
    seen = [c.id for c in contacts_of(pages)]
    assert len(seen) == 5000 and len(set(seen)) == 5000
    # Resume from a page in the middle, as after a crash: only the rest comes back.
    middle = next(
        p
        for p in pages
        if p.contacts and len([c for q in pages[: pages.index(p) + 1] for c in q.contacts]) >= 2600
    )
    before = [c.id for q in pages[: pages.index(middle) + 1] for c in q.contacts]
    rest = [c.id for c in contacts_of(list(source.read(middle.cursor)))]
    assert sorted(before + rest) == sorted(seen)
    # The next run does not return them again.
    clock.tick(30)
    again = contacts_of(list(source.read(pages[-1].cursor)))
    assert again == []


def test_late_commit_with_older_stamp_is_caught(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    seed_rows(fake.org, contact_rows(2), [])
    source = connect().source
    _pages, cursor = read_all(source, None)
    late_stamp = canonical_datetime(clock.now)  # committed "now" but with the earlier stamp
    clock.tick(60)
    late = fake.org.insert("Contact", {"LastName": "late"}, stamp=late_stamp)
    pages, _ = read_all(source, cursor)
    assert [c.id for c in contacts_of(pages)] == [late]


def test_own_writes_are_not_changes_but_user_edits_are(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    ids = seed_rows(fake.org, contact_rows(2), [])
    fake.org.add_custom_field(
        "Contact.Mutuality_Score__c", {"type": "Number", "precision": 5, "scale": 2}, visible=True
    )
    connection = connect()
    _pages, cursor = read_all(connection.source, None)
    clock.tick(10)
    connection.source.client.call(
        lambda sf: sf.restful(
            "composite/sobjects",
            method="PATCH",
            json={
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": "Contact"}, "id": ids["c0"], "Mutuality_Score__c": 50}
                ],
            },
        ),
        what="test write",
    )
    fake.org.modify("Contact", ids["c1"], {"FirstName": "Changed"})
    clock.tick(10)
    pages, _ = read_all(connection.source, cursor)
    assert [(c.id, c.first_name) for c in contacts_of(pages)] == [(ids["c1"], "Changed")]


def test_relation_added_later_rereads_its_task(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    ids = seed_rows(fake.org, contact_rows(2), [activity("k", "c0", channel="call")])
    source = connect().source
    _pages, cursor = read_all(source, None)
    clock.tick(900)
    [task_id] = list(fake.org.records["Task"])
    fake.org.insert(
        "TaskWhoRelation", {"TaskId": task_id, "RelationId": ids["c1"], "Type": "Contact"}
    )
    pages, _ = read_all(source, cursor)
    assert sorted(a.contact_id for a in activities_of(pages)) == sorted(ids.values())
    assert any(task_id in p.deleted_activity_ids for p in pages if not p.activities)


def test_deleted_rows_become_deletions(fake: FakeSalesforce, connect: Any, clock: Clock) -> None:
    ids = seed_rows(fake.org, contact_rows(2), [activity("k", "c0", channel="call")])
    source = connect().source
    _pages, cursor = read_all(source, None)
    clock.tick(900)
    [task_id] = list(fake.org.records["Task"])
    fake.org.delete("Task", task_id)
    fake.org.delete("Contact", ids["c1"])
    pages, _ = read_all(source, cursor)
    assert task_id in [i for p in pages if p.cursor for i in p.deleted_activity_ids]
    assert [i for p in pages for i in p.deleted_contact_ids] == [ids["c1"]]


def test_org_without_optional_features_is_read_with_log_lines(
    clock: Clock, sleeps: list[float], caplog: Any
) -> None:
    from mutuality_adapters.salesforce import plugin

    with FakeSalesforce(
        clock=clock, enhanced_email=False, shared_activities=False, call_center=False
    ) as fake:
        ids = seed_rows(
            fake.org,
            contact_rows(2),
            [
                activity("e", "c0", direction="inbound"),
                activity("k", "c0", channel="call"),
                activity("k", "c1", channel="call"),
            ],
        )
        connection = plugin.connect({}, environ=fake.environ(), sleep=sleeps.append, clock=clock)
        # Listen on the adapter's own logger: other tests may stop propagation to root.
        reader_log = logging.getLogger("mutuality_adapters.salesforce.reader")
        reader_log.addHandler(caplog.handler)
        level = reader_log.level
        reader_log.setLevel(logging.INFO)
        try:
            pages, _ = read_all(connection.source, None)
        finally:
            reader_log.removeHandler(caplog.handler)
            reader_log.setLevel(level)
    acts = activities_of(pages)
    # without Shared Activities only the WhoId is credited; emails come from Tasks
    assert sorted((a.contact_id, a.channel.value) for a in acts) == [
        (ids["c0"], "call"),
        (ids["c0"], "email"),
    ]
    text = caplog.text
    assert (
        "no EmailMessage object" in text and "lacks CallType" in text and "TaskWhoRelation" in text
    )


def test_edited_logged_email_task_stays_one_email(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    ids = seed_rows(fake.org, contact_rows(1), [activity("e", "c0", direction="inbound")])
    clock.tick(1)  # seeded before the run (see the test above)
    source = connect().source
    first, cursor = read_all(source, None)
    [email] = activities_of(first)
    clock.tick(900)
    [task_id] = list(fake.org.records["Task"])
    fake.org.modify("Task", task_id, {"Subject": "edited by a user"})
    before = fake.org.calls["queryAll"]
    pages, _ = read_all(source, cursor)
    assert activities_of(pages) == []  # the EmailMessage (inbound) keeps carrying it
    assert not any(task_id in p.deleted_activity_ids for p in pages)
    assert (
        email.id == task_id
        and email.contact_id == ids["c0"]
        and email.direction is Direction.INBOUND
    )
    assert fake.org.calls["queryAll"] - before == 8  # 7 streams + 1 ActivityId lookup


def test_many_changed_relations_reread_parents_in_short_in_lists(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    ids = seed_rows(
        fake.org, contact_rows(2), [activity(f"k{i}", "c0", channel="call") for i in range(650)]
    )
    source = connect().source
    _pages, cursor = read_all(source, None)
    clock.tick(900)
    for task_id in list(fake.org.records["Task"]):
        fake.org.insert("TaskWhoRelation", {"TaskId": task_id, "RelationId": ids["c1"]})
    before = fake.org.calls["queryAll"]
    pages, _ = read_all(source, cursor)
    credited = [a for a in activities_of(pages) if a.contact_id == ids["c1"]]
    assert len(credited) == 650
    assert fake.org.calls["queryAll"] - before == 7 + 3  # 650 ids in IN lists of 300


def test_fake_refuses_overlong_uris_like_salesforce(fake: FakeSalesforce, connect: Any) -> None:
    from mutuality_core.errors import CrmUnavailableError

    client = connect().source.client
    ids = ", ".join(f"'003{i:015d}'" for i in range(700))
    with pytest.raises(CrmUnavailableError, match="414"):
        client.call(lambda sf: sf.query(f"SELECT Id FROM Contact WHERE Id IN ({ids})"), what="t")


def _describes(fake: FakeSalesforce) -> int:
    return sum(1 for _m, r in fake.org.requests if r == "sobjects" or r.endswith("/describe"))


def test_a_changed_activity_field_setting_describes_the_org_again(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    seed_rows(
        fake.org,
        contact_rows(1),
        [
            activity("e1", "c0", tags="ask"),
            activity("m1", "c0", channel="meeting", outcome="no_show", when="2026-10-02T10:00:00Z"),
        ],
    )
    # tags field switched off: the Subject has no hashtag, so no tag; the outcome
    # field is still read
    pages, cursor = read_all(connect(tags_field="").source, None)
    got = {a.channel.value: a for p in pages for a in p.activities}
    assert got["email"].tags == frozenset() and got["meeting"].outcome.value == "no_show"
    assert _describes(fake) == 4
    # back to the default: described again at once (not a day later), the field is read
    message_id = next(iter(fake.org.records["EmailMessage"]))
    clock.tick(60)
    fake.org.modify("EmailMessage", message_id, {"Subject": "e1 edited"})
    pages, _ = read_all(connect().source, cursor)
    assert _describes(fake) == 8
    emails = [a for p in pages for a in p.activities if a.channel.value == "email"]
    assert [a.tags for a in emails] == [frozenset({"ask"})]


def test_activity_fields_the_user_cannot_see_are_not_selected(
    fake: FakeSalesforce, connect: Any
) -> None:
    for obj in ("Task", "Event", "EmailMessage"):
        fake.org.add_custom_field(f"{obj}.Mutuality_Tags__c", {"type": "Text"}, visible=False)
    seed_rows(
        fake.org,
        contact_rows(1),
        [activity("e1", "c0", tags="ask"), activity("t1", "c0", channel="task", tags="give")],
        custom_fields=False,
    )
    fake.org.modify("Task", fake.org.seed_activity_ids["t1"], {"Subject": "t1 #give"})
    pages, _ = read_all(connect().source, None)  # no INVALID_FIELD from a hidden field
    tags = {a.channel.value: a.tags for p in pages for a in p.activities}
    # the seeder (an admin) filled the hidden field; only the Subject's hashtag is read
    assert tags == {"email": frozenset(), "task": frozenset({"give"})}


def test_relation_committed_between_parent_and_junction_queries_is_not_lost(
    fake: FakeSalesforce, connect: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relation stamped after its Event was read (same run) brings the Event back."""
    ids = seed_rows(fake.org, contact_rows(2), [activity("m", "c0", channel="meeting")])
    source = connect().source
    _pages, cursor = read_all(source, None)
    clock.tick(3600)
    [event_id] = list(fake.org.records["Event"])
    fake.org.modify("Event", event_id, {"Subject": "renamed"})  # read again by the next run
    real_query = fake.org._query
    inserted: list[str] = []

    def commit_relation_before_junction_query(text: str, *args: Any) -> Any:
        if text.startswith("SELECT Id, EventId") and not inserted:
            clock.tick(5)  # after the Event query, before the EventRelation query
            inserted.append(
                fake.org.insert(
                    "EventRelation",
                    {"EventId": event_id, "RelationId": ids["c1"], "Status": "Accepted"},
                )
            )
        return real_query(text, *args)

    monkeypatch.setattr(fake.org, "_query", commit_relation_before_junction_query)
    pages, cursor = read_all(source, cursor)
    credited = {a.contact_id for a in activities_of(pages) if a.id == event_id}
    for _ in range(2):  # or, at the latest, a later run
        clock.tick(600)
        later, cursor = read_all(source, cursor)
        credited |= {a.contact_id for a in activities_of(later) if a.id == event_id}
    assert inserted and ids["c1"] in credited


def test_a_big_group_event_credits_every_invitee_past_the_first_child_batch(
    clock: Clock,
) -> None:
    """Sub-query rows come in batches too (nested done/nextRecordsUrl): follow them."""
    from mutuality_adapters.salesforce import plugin

    with FakeSalesforce(clock=clock, max_child_page_size=200) as fake:
        ids = seed_rows(
            fake.org,
            contact_rows(450),
            [activity("m", f"c{i}", channel="meeting", direction="mutual") for i in range(450)],
        )
        assert len(fake.org.records["Event"]) == 1
        clock.tick(1)
        source = plugin.connect(
            {"bulk_poll_seconds": 0}, environ=fake.environ(), sleep=lambda s: None, clock=clock
        ).source
        pages, _ = read_all(source, None)
        credited = Counter(a.contact_id for a in activities_of(pages))
        assert set(credited) == set(ids.values()) and set(credited.values()) == {1}


def test_email_direction_follows_each_contacts_relation_type(
    fake: FakeSalesforce, connect: Any, clock: Clock
) -> None:
    """Incoming mail is the sender's effort only; on sent mail every recipient is outbound."""
    ids = seed_rows(
        fake.org,
        contact_rows(5),
        [
            activity("in", "c0", direction="inbound"),  # From c0
            activity("out", "c2", direction="outbound"),  # To c2
        ],
    )
    incoming = next(i for i, r in fake.org.records["EmailMessage"].items() if r["Incoming"])
    outgoing = next(i for i, r in fake.org.records["EmailMessage"].items() if not r["Incoming"])
    for message, contact, kind in (
        (incoming, "c1", "CcAddress"),  # cc'd on a mail c0 sent us
        (incoming, "c3", "ToAddress"),
        (outgoing, "c4", "CcAddress"),
        (outgoing, "c3", "BccAddress"),
    ):
        fake.org.insert(
            "EmailMessageRelation",
            {"EmailMessageId": message, "RelationId": ids[contact], "RelationType": kind},
        )
    clock.tick(1)
    pages, _ = read_all(connect().source, None)
    got = {
        (a.id, a.contact_id): a.direction
        for a in activities_of(pages)
        if a.id in {fake.org.records["EmailMessage"][m]["ActivityId"] for m in (incoming, outgoing)}
    }
    in_id = fake.org.records["EmailMessage"][incoming]["ActivityId"]
    out_id = fake.org.records["EmailMessage"][outgoing]["ActivityId"]
    assert got == {
        (in_id, ids["c0"]): Direction.INBOUND,
        (out_id, ids["c2"]): Direction.OUTBOUND,
        (out_id, ids["c4"]): Direction.OUTBOUND,
        (out_id, ids["c3"]): Direction.OUTBOUND,
    }
