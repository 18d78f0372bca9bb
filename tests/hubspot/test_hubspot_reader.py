"""The HubSpot source: full scans, incremental windows, ties, the 10,000 cap, crashes."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.reader import HubSpotSource

pytest.importorskip("hubspot")

EMAIL = {"hs_timestamp": "2026-01-05T09:00:00Z", "hs_email_direction": "EMAIL"}


def source_for(server, settings_for, fake_time, wall, **overrides):
    settings = settings_for(server.base_url, **overrides)
    api = HubSpotApi(settings, clock=fake_time.clock, sleep=fake_time.sleep)
    return HubSpotSource(api, settings, now_ms=wall)


def drain(source, cursor):
    contacts, activities, cursors = [], [], []
    for page in source.read(cursor):
        contacts.extend(page.contacts)
        activities.extend(page.activities)
        if page.cursor is not None:
            cursors.append(page.cursor)
    return contacts, activities, cursors


def test_full_scan_uses_list_pages_with_embedded_associations(server, portal, settings_for,
                                                              fake_time, wall):  # fmt: skip
    contacts = [portal.add_contact({"email": f"c{i}@x.com"}) for i in range(250)]
    for i in range(330):
        portal.add_engagement("emails", EMAIL, [contacts[i % 250], contacts[(i + 1) % 250]])
    portal.add_engagement("calls", {"hs_timestamp": "2026-01-06T00:00:00Z"}, [contacts[0]])
    portal.add_engagement("notes", {"hs_timestamp": "2026-01-06T00:00:00Z"}, [])  # no contacts
    source = source_for(server, settings_for, fake_time, wall)
    read_contacts, activities, cursors = drain(source, None)
    assert sorted(int(c.id) for c in read_contacts) == contacts
    assert len(activities) == 330 * 2 + 1
    assert Counter(a.channel.value for a in activities) == {"email": 660, "call": 1}
    stats = server.app.stats
    # 3 contact pages, 4 email pages, 1 page per other type; no association or search calls.
    assert stats["list contacts"] == 3 and stats["list emails"] == 4
    assert stats["total"] == 3 + 4 + 4
    final = json.loads(cursors[-1])["types"]
    assert set(final) == {"contacts", "emails", "calls", "meetings", "notes", "communications"}
    assert all(p["mode"] == "search" for p in final.values())


def test_incremental_reads_only_what_changed(server, portal, settings_for, fake_time, wall):
    a = portal.add_contact({"email": "a@x.com"})
    b = portal.add_contact({"email": "b@x.com"})
    portal.add_engagement("emails", EMAIL, [a])
    source = source_for(server, settings_for, fake_time, wall)
    *_, cursors = drain(source, None)
    wall.advance(60)
    portal.update("contacts", b, {"firstname": "Bea"})
    new_email = portal.add_engagement("emails", EMAIL, [a, b])
    portal.add_engagement("meetings", {"hs_timestamp": "2026-01-07T00:00:00Z",
                                       "hs_meeting_outcome": "COMPLETED"}, [b])  # fmt: skip
    wall.advance(1)
    server.app.reset_stats()
    contacts, activities, cursors = drain(source, cursors[-1])
    assert [c.id for c in contacts] == [str(b)] and contacts[0].first_name == "Bea"
    assert sorted((a_.id, a_.contact_id) for a_ in activities if a_.channel.value == "email") == [
        (f"emails:{new_email}", str(a)),
        (f"emails:{new_email}", str(b)),
    ]
    assert [x.direction.value for x in activities if x.channel.value == "meeting"] == ["mutual"]
    stats = server.app.stats
    assert stats["total"] == 6 + 2  # one search per type + one association read per changed type
    server.app.reset_stats()
    wall.advance(1)
    contacts, activities, cursors = drain(source, cursors[-1])
    assert contacts == [] and activities == []
    assert server.app.stats["total"] == 6  # a no-change run: one empty search per type


def test_safety_lag_defers_recent_changes_without_losing_them(server, portal, settings_for,
                                                             fake_time, wall):  # fmt: skip
    source = source_for(server, settings_for, fake_time, wall, search_lag_seconds=30)
    *_, cursors = drain(source, None)
    wall.advance(120)
    cid = portal.add_contact({"email": "late@x.com"})  # modified "now": maybe not indexed yet
    contacts, _, more = drain(source, cursors[-1])
    assert contacts == []
    wall.advance(31)
    contacts, _, _ = drain(source, (more or cursors)[-1])
    assert [c.id for c in contacts] == [str(cid)]


@pytest.mark.parametrize("same_timestamp", [False, True])
def test_more_than_10000_changes_are_read_exactly_once(server, portal, settings_for, fake_time,
                                                       wall, same_timestamp):  # fmt: skip
    source = source_for(server, settings_for, fake_time, wall)
    *_, cursors = drain(source, None)
    base = wall.ms + 1000
    ids = [
        portal.add_contact(
            {"email": f"x{i}@x.com"}, modified_ms=base if same_timestamp else base + i
        )
        for i in range(10_250)
    ]
    wall.ms = base + 20_000
    contacts, _, cursors = drain(source, cursors[-1])
    seen = Counter(c.id for c in contacts)
    assert len(seen) == 10_250 and set(seen.values()) == {1}
    assert set(seen) == {str(i) for i in ids}
    assert server.app.stats["status 400"] == 0
    # 52 searches for 10,250 contacts at 200 per page (plus the initial scan and the other types)
    assert server.app.stats["search contacts"] == 52
    contacts, _, _ = drain(source, cursors[-1])
    assert contacts == []


def test_more_than_10000_engagements_on_one_timestamp(server, portal, settings_for, fake_time,
                                                      wall):  # fmt: skip
    cid = portal.add_contact()
    source = source_for(server, settings_for, fake_time, wall)
    *_, cursors = drain(source, None)
    stamp = wall.ms + 500
    ids = [portal.add_engagement("notes", {"hs_timestamp": "2026-01-01T00:00:00Z"}, [cid],
                                 modified_ms=stamp) for _ in range(10_100)]  # fmt: skip
    wall.ms = stamp + 1000
    server.app.reset_stats()
    _, activities, _ = drain(source, cursors[-1])
    assert Counter(a.id for a in activities) == Counter({f"notes:{i}": 1 for i in ids})
    assert server.app.stats["search notes"] == 51
    assert server.app.stats["associations notes->contacts"] == 11  # 1,000 ids per call


def test_a_crash_mid_read_resumes_without_losing_or_repeating_much(server, portal, settings_for,
                                                                   fake_time, wall):  # fmt: skip
    contacts = [portal.add_contact() for _ in range(450)]
    for i in range(300):
        portal.add_engagement("calls", {"hs_timestamp": "2026-01-02T00:00:00Z"}, [contacts[i]])
    source = source_for(server, settings_for, fake_time, wall)
    seen_contacts, seen_activities = Counter(), Counter()
    pages = source.read(None)
    last = None
    for _ in range(6):  # crash after 6 stored pages (inside the calls scan)
        page = next(pages)
        seen_contacts.update(c.id for c in page.contacts)
        seen_activities.update(a.id for a in page.activities)
        last = page.cursor
    pages.close()
    more_contacts, more_activities, _ = drain(source, last)
    seen_contacts.update(c.id for c in more_contacts)
    seen_activities.update(a.id for a in more_activities)
    assert set(seen_contacts) == {str(c) for c in contacts} and max(seen_contacts.values()) == 1
    assert len(seen_activities) == 300 and max(seen_activities.values()) == 1

    # And in an incremental window:
    wall.advance(10)
    for c in contacts:
        portal.update("contacts", c, {"firstname": "N"})
    wall.advance(10)
    *_, cursors = drain(source, None)
    wall.advance(10)
    for c in contacts:
        portal.update("contacts", c, {"firstname": "M"})
    wall.advance(10)
    pages = source.read(cursors[-1])
    first = next(pages)
    pages.close()
    assert len(first.contacts) == 200
    wall.advance(10)
    rest, _, _ = drain(source, first.cursor)
    assert {c.id for c in rest} | {c.id for c in first.contacts} == {str(c) for c in contacts}
    assert not {c.id for c in rest} & {c.id for c in first.contacts}


def test_contacts_changed_only_by_our_write_are_not_treated_as_changed(server, portal,
                                                                       settings_for, fake_time,
                                                                       wall):  # fmt: skip
    source = source_for(server, settings_for, fake_time, wall)
    setup_properties(source.api, source.settings)
    ours = portal.add_contact()
    theirs = portal.add_contact()
    *_, cursors = drain(source, None)
    wall.advance(60)
    names = source.settings.properties
    portal.update("contacts", ours, {names.score: "50", names.written_at: str(wall.ms)})
    portal.update("contacts", theirs, {names.score: "50", names.written_at: str(wall.ms)})
    wall.advance(3600)
    portal.update("contacts", theirs, {"firstname": "Edited later by a person"})
    wall.advance(1)
    contacts, _, _ = drain(source, cursors[-1])
    assert [c.id for c in contacts] == [str(theirs)]
    assert source.skipped_own_writes == 1


def test_engagement_with_many_contacts_pages_through_v4(server, portal, settings_for, fake_time,
                                                       wall):  # fmt: skip
    contacts = [portal.add_contact() for _ in range(620)]
    props = {"hs_timestamp": "2026-01-01T00:00:00Z", "hs_meeting_outcome": "COMPLETED"}
    meeting = portal.add_engagement("meetings", props, contacts)
    source = source_for(server, settings_for, fake_time, wall)
    _, activities, _ = drain(source, None)
    assert sorted(int(a.contact_id) for a in activities) == contacts
    assert {a.id for a in activities} == {f"meetings:{meeting}"}
    assert server.app.stats["associations meetings->contacts"] == 2  # 500 + 120


def test_tasks_are_off_by_default_and_read_when_enabled(server, portal, settings_for, fake_time,
                                                       wall):  # fmt: skip
    cid = portal.add_contact()
    portal.add_engagement("tasks", {"hs_timestamp": "2026-01-01T00:00:00Z",
                                    "hs_task_status": "COMPLETED"}, [cid])  # fmt: skip
    source = source_for(server, settings_for, fake_time, wall)
    _, activities, cursors = drain(source, None)
    assert activities == [] and server.app.stats["list tasks"] == 0
    with_tasks = source_for(server, settings_for, fake_time, wall, include_tasks=True)
    wall.advance(5)
    _, activities, _ = drain(with_tasks, cursors[-1])  # tasks newly enabled: scanned once
    assert [a.channel.value for a in activities] == ["task"]


def test_an_engagement_without_a_time_is_reported_as_rejected(server, portal, settings_for,
                                                              fake_time, wall):  # fmt: skip
    cid = portal.add_contact()
    bad = portal.add_engagement("notes", {}, [cid])
    good = portal.add_engagement("notes", {"hs_timestamp": "2026-01-01T00:00:00Z"}, [cid])
    source = source_for(server, settings_for, fake_time, wall)
    pages = list(source.read(None))
    assert [a.id for p in pages for a in p.activities] == [f"notes:{good}"]
    rejected = [r for p in pages for r in p.rejected]
    assert [(r.where, r.error) for r in rejected] == [(f"hubspot notes {bad}", "no hs_timestamp")]


def test_a_search_refusing_the_optional_properties_goes_on_without_them(
    server, portal, settings_for, fake_time, wall, caplog
):
    from mutuality_adapters.hubspot.fake import Fault
    from mutuality_adapters.hubspot.mapping import ENGAGEMENT_PROPERTIES

    a = portal.add_contact({"email": "a@x.com"})
    source = source_for(server, settings_for, fake_time, wall)
    *_, cursors = drain(source, None)
    wall.advance(60)
    sent = {**EMAIL, "hs_email_headers": '{"from": {"email": "noreply@seller.example"}}'}
    portal.add_engagement("emails", sent, [a])
    wall.advance(1)
    server.app.inject(Fault(status=400, times=1, path="emails/search", method="POST"))
    seen: list[list[str]] = []
    search = source.api.search
    source.api.search = lambda t, body: (seen.append(list(body["properties"])), search(t, body))[1]
    with caplog.at_level("WARNING", logger="mutuality_adapters.hubspot.reader"):
        _, activities, _ = drain(source, cursors[-1])
    assert [x.contact_id for x in activities] == [str(a)]
    assert activities[0].automated is False  # the sender was not read: the heuristic saw less
    assert "hs_email_from_email" in seen[1] and seen[2] == list(ENGAGEMENT_PROPERTIES["emails"])
    assert "reading without them" in caplog.text
    # a 400 that is not about optional properties still stops the run
    server.app.inject(Fault(status=400, times=2, path="contacts/search", method="POST"))
    wall.advance(60)
    with pytest.raises(Exception, match="400"):
        drain(source, cursors[-1])


def test_a_call_that_left_a_voicemail_is_tagged_in_full_and_incremental_reads(
    server, portal, settings_for, fake_time, wall
):
    cid = portal.add_contact()
    props = {"hs_timestamp": "2026-01-01T00:00:00Z", "hs_call_status": "NO_ANSWER",
             "hs_call_has_voicemail": "true"}  # fmt: skip
    portal.add_engagement("calls", props, [cid])
    source = source_for(server, settings_for, fake_time, wall)
    _, activities, cursors = drain(source, None)
    assert [a.tags for a in activities] == [{"voicemail"}]
    wall.advance(60)
    portal.add_engagement("calls", props, [cid])
    wall.advance(1)
    _, activities, _ = drain(source, cursors[-1])  # through search
    assert [a.tags for a in activities] == [{"voicemail"}]
