"""The files source: what it reads, and a clear message for every kind of bad input."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from mutuality_adapters.files import FilesSource, connect, plugin
from mutuality_adapters.files.rows import parse_timestamp

from mutuality_core.errors import ConfigError, InvalidInputError
from mutuality_core.model import Channel, Direction, Outcome
from mutuality_core.ports import AdapterPlugin, Page

CONTACTS = (
    "id,email,first_name,last_name,company,tier\nc1,ann@x.com,Ann,Lee,Acme,gold\nc2,,Bob,,,\n"
)
ACTIVITIES = (
    "id,contact_id,occurred_at,channel,direction,outcome,thread_id,duration_seconds,automated,tags\n"
    "a1,c1,2026-01-01T10:00:00Z,email,outbound,,t1,,no,Ask; give\n"
    "a2,c1,2026-01-02T10:00:00+02:00,EMAIL,inbound,completed,t1,,0,\n"
    "a3,c2,2026-01-03T09:30:00.250+00:00,call,inbound,no_answer,,65.5,true,\n"
)


def folder(
    tmp_path: Path,
    contacts: str | bytes = CONTACTS,
    activities: str | bytes = ACTIVITIES,
    *,
    contacts_name: str = "contacts.csv",
    activities_name: str = "activities.csv",
) -> Path:
    for name, content in ((contacts_name, contacts), (activities_name, activities)):
        if isinstance(content, str):
            content = content.encode("utf-8")
        (tmp_path / name).write_bytes(content)
    return tmp_path


def read_all(source: FilesSource) -> list[Page]:
    return list(source.read(None))


def contacts_of(pages: list[Page]) -> dict:
    return {c.id: c for p in pages for c in p.contacts}


def activities_of(pages: list[Page]) -> dict:
    return {(a.contact_id, a.id): a for p in pages for a in p.activities}


def strict_error(tmp_path: Path, **files: str | bytes) -> str:
    with pytest.raises(InvalidInputError) as info:
        read_all(FilesSource(folder(tmp_path, **files)))
    return str(info.value)


# -- what a good folder gives -----------------------------------------------------------


def test_reads_contacts_with_extra_columns_passed_through(tmp_path):
    pages = read_all(FilesSource(folder(tmp_path)))
    contacts = contacts_of(pages)
    assert set(contacts) == {"c1", "c2"}
    ann = contacts["c1"]
    assert (ann.email, ann.first_name, ann.last_name, ann.company) == (
        "ann@x.com",
        "Ann",
        "Lee",
        "Acme",
    )
    assert dict(ann.extra) == {"tier": "gold"}
    bob = contacts["c2"]
    assert bob.email is None and bob.last_name is None and dict(bob.extra) == {}


def test_reads_every_activity_field(tmp_path):
    acts = activities_of(read_all(FilesSource(folder(tmp_path))))
    assert set(acts) == {("c1", "a1"), ("c1", "a2"), ("c2", "a3")}
    a1 = acts[("c1", "a1")]
    assert a1.occurred_at == datetime(2026, 1, 1, 10, tzinfo=timezone.utc)
    assert a1.channel is Channel.EMAIL and a1.direction is Direction.OUTBOUND
    assert a1.outcome is Outcome.COMPLETED and a1.thread_id == "t1"
    assert a1.tags == frozenset({"ask", "give"}) and a1.automated is False
    a2 = acts[("c1", "a2")]
    assert a2.occurred_at.utcoffset() == timedelta(hours=2)
    assert a2.channel is Channel.EMAIL  # case-insensitive
    a3 = acts[("c2", "a3")]
    assert a3.outcome is Outcome.NO_ANSWER and a3.duration_seconds == 65.5 and a3.automated
    assert a3.occurred_at.microsecond == 250_000 and a3.thread_id is None


def test_read_is_lazy_and_chunked_and_ends_with_a_fingerprint_cursor(tmp_path):
    rows = "".join(f"a{i},c1,2026-01-01T10:00:00Z,email,outbound,,,,,\n" for i in range(25))
    source = FilesSource(folder(tmp_path, activities=ACTIVITIES.splitlines(True)[0] + rows),
                         chunk_size=10)  # fmt: skip
    pages = source.read(None)
    assert iter(pages) is pages  # a generator, not a list
    pages = list(pages)
    assert [len(p.activities) for p in pages] == [0, 10, 10, 5, 0]
    assert pages[-1].cursor is not None and all(p.cursor is None for p in pages[:-1])
    again = list(source.read(pages[-1].cursor))  # a cursor does not narrow the read
    assert len(activities_of(again)) == 25
    (tmp_path / "activities.csv").write_text(ACTIVITIES)
    assert list(source.read(None))[-1].cursor != pages[-1].cursor


def test_jsonl_files_are_read_like_csv(tmp_path):
    contacts = [
        {"id": 1, "email": "ann@x.com", "tier": "gold"},
        {"id": "c2", "first_name": "Bob", "score_hint": 3},
    ]
    activities = [
        {"id": "a1", "contact_id": 1, "occurred_at": "2026-01-01T10:00:00Z", "channel": "email",
         "direction": "outbound", "tags": ["Ask", "give"], "automated": True},
        {"id": "a2", "contact_id": "c2", "occurred_at": "2026-01-02T10:00:00+00:00",
         "channel": "meeting", "direction": "mutual", "duration_seconds": 1800},
    ]  # fmt: skip
    path = folder(
        tmp_path,
        "\n".join(json.dumps(c) for c in contacts) + "\n\n",
        "\n".join(json.dumps(a) for a in activities),
        contacts_name="contacts.jsonl",
        activities_name="activities.jsonl",
    )
    pages = read_all(FilesSource(path))
    contacts_by_id = contacts_of(pages)
    assert set(contacts_by_id) == {"1", "c2"}
    assert dict(contacts_by_id["1"].extra) == {"tier": "gold"}
    assert dict(contacts_by_id["c2"].extra) == {"score_hint": "3"}  # a key only line 2 has
    acts = activities_of(pages)
    assert acts[("1", "a1")].tags == frozenset({"ask", "give"}) and acts[("1", "a1")].automated
    assert acts[("c2", "a2")].duration_seconds == 1800.0


def test_utf8_with_bom_is_read(tmp_path):
    pages = read_all(FilesSource(folder(tmp_path, b"\xef\xbb\xbf" + CONTACTS.encode())))
    assert set(contacts_of(pages)) == {"c1", "c2"}


def test_z_suffix_parses_without_python_311_help():
    assert parse_timestamp("2026-01-01T10:00:00Z", "occurred_at") == datetime(
        2026, 1, 1, 10, tzinfo=timezone.utc
    )


# -- bad input: strict mode stops at the first bad row, naming file:line -----------------


def test_latin1_bytes_name_the_file_line_and_byte_and_suggest_utf8(tmp_path):
    bad = (CONTACTS + "c3,zoe@x.com,Zo\xe9,,,\n").encode("latin-1")
    message = strict_error(tmp_path, contacts=bad)
    assert "contacts.csv:4" in message and "0xe9" in message and "UTF-8" in message


def test_utf16_file_is_refused_with_advice(tmp_path):
    message = strict_error(tmp_path, activities=ACTIVITIES.encode("utf-16"))
    assert "activities.csv" in message and "UTF-16" in message and "UTF-8" in message


def test_missing_columns_are_named(tmp_path):
    message = strict_error(
        tmp_path, activities="id,contact_id,occurred_at\na1,c1,2026-01-01T00:00Z\n"
    )
    assert "activities.csv:1" in message and "channel, direction" in message


def test_semicolon_separated_file_gets_a_hint(tmp_path):
    message = strict_error(tmp_path, contacts="id;email\nc1;a@x.com\n")
    assert "missing required column(s) id" in message and "separator" in message


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("a9,c1,yesterday,email,outbound", "occurred_at 'yesterday' is not an ISO 8601"),
        ("a9,c1,2026-01-01T10:00:00,email,outbound", "has no time zone"),
        ("a9,c1,2026-01-01,email,outbound", "has no time zone"),
        ("a9,c1,2026-01-01T10:00:00Z,fax,outbound", "channel must be one of email, call"),
        ("a9,c1,2026-01-01T10:00:00Z,email,sideways", "direction must be one of outbound"),
        ("a9,c1,2026-01-01T10:00:00Z,email,outbound,lost", "outcome must be one of completed"),
        ("a9,c1,2026-01-01T10:00:00Z,email,outbound,,,abc", "duration_seconds 'abc' is not a"),
        ("a9,c1,2026-01-01T10:00:00Z,email,outbound,,,-5", "duration_seconds must be >= 0"),
        ("a9,c1,2026-01-01T10:00:00Z,email,outbound,,,nan", "not a finite number"),
        ("a9,c1,2026-01-01T10:00:00Z,email,outbound,,,,maybe", "automated 'maybe' is not a yes/no"),
        ("a9,c404,2026-01-01T10:00:00Z,email,outbound", "contact_id 'c404' is not in contacts.csv"),
        (",c1,2026-01-01T10:00:00Z,email,outbound", "id is empty"),
        ("a1,c1,2026-01-05T10:00:00Z,email,outbound", "duplicate activity id 'a1' for contact"),
    ],
)  # fmt: skip
def test_each_bad_activity_row_gives_file_line_and_reason(tmp_path, row, expected):
    header = ACTIVITIES.splitlines(True)[0]
    fields = row.split(",")
    row = ",".join(fields + [""] * (10 - len(fields)))
    message = strict_error(
        tmp_path,
        activities=header + "a1,c1,2026-01-01T10:00:00Z,email,outbound,,,,,\n" + row + "\n",
    )
    assert message.startswith(f"{tmp_path / 'activities.csv'}:3: ")
    assert expected in message
    assert "--skip-invalid" in message
    if "duplicate" in expected:
        assert "an earlier row has the same id and contact_id" in message


def test_same_activity_id_for_two_contacts_is_allowed(tmp_path):
    header = ACTIVITIES.splitlines(True)[0]
    rows = "".join(f"m1,{c},2026-01-01T10:00:00Z,meeting,mutual,,,,,\n" for c in ("c1", "c2"))
    assert set(
        activities_of(read_all(FilesSource(folder(tmp_path, activities=header + rows))))
    ) == {
        ("c1", "m1"),
        ("c2", "m1"),
    }


def test_row_with_wrong_number_of_fields(tmp_path):
    message = strict_error(tmp_path, contacts="id,email\nc1,a@x.com,extra\n")
    assert "contacts.csv:2: expected 2 fields like the header, found 3" in message


def test_duplicate_contact_ids(tmp_path):
    message = strict_error(tmp_path, contacts=CONTACTS + "c1,other@x.com,,,,\n")
    assert "contacts.csv:4: duplicate contact id 'c1' (first on line 2)" in message


def test_duplicate_header_column(tmp_path):
    assert "column 'email' appears twice" in strict_error(tmp_path, contacts="id,email,email\n")


def test_line_numbers_count_physical_lines_of_multiline_fields(tmp_path):
    contacts = 'id,email,company\nc1,a@x.com,"Acme\nInc"\nc2,,\n'
    header = "id,contact_id,occurred_at,channel,direction\n"
    activities = (
        header
        + "a1,c2,2026-01-01T10:00:00Z,email,outbound\n\na2,c9,2026-01-01T10:00:00Z,email,outbound\n"
    )
    message = strict_error(tmp_path, contacts=contacts, activities=activities)
    assert "activities.csv:4: contact_id 'c9'" in message


def test_invalid_json_line(tmp_path):
    message = strict_error(
        tmp_path,
        contacts='{"id": "c1"}\n{"id": \n',
        contacts_name="contacts.jsonl",
    )
    assert "contacts.jsonl:2: invalid JSON" in message


def test_json_line_that_is_not_an_object(tmp_path):
    message = strict_error(
        tmp_path, contacts='{"id": "c1"}\n[1, 2]\n', contacts_name="contacts.jsonl"
    )
    assert "contacts.jsonl:2: expected a JSON object, got list" in message


@pytest.mark.parametrize("content", ["", "\n\n", "\ufeff"])
def test_empty_contacts_file(tmp_path, content):
    message = strict_error(tmp_path, contacts=content)
    assert "contacts.csv" in message and "empty" in message and "header" in message


def test_header_only_contacts_file(tmp_path):
    assert "no contacts (the file has only a header)" in strict_error(
        tmp_path, contacts="id,email\n"
    )


def test_header_only_activities_file_is_fine(tmp_path):
    pages = read_all(
        FilesSource(folder(tmp_path, activities="id,contact_id,occurred_at,channel,direction\n"))
    )
    assert len(contacts_of(pages)) == 2 and activities_of(pages) == {}


def test_empty_activities_file_is_an_error(tmp_path):
    assert "activities.csv: the file is empty" in strict_error(tmp_path, activities="")


def test_missing_files_and_ambiguous_files(tmp_path):
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    with pytest.raises(InvalidInputError, match=r"no activities\.csv or activities\.jsonl"):
        read_all(FilesSource(tmp_path))
    (tmp_path / "activities.csv").write_text(ACTIVITIES)
    (tmp_path / "activities.jsonl").write_text("")
    with pytest.raises(
        InvalidInputError, match=r"both activities\.csv and activities\.jsonl exist"
    ):
        read_all(FilesSource(tmp_path))


def test_folder_that_does_not_exist(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        plugin.connect({"path": str(tmp_path / "nope")}, environ={})
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_all(FilesSource(tmp_path / "nope"))


# -- skip_invalid: go on, count, report and keep every skipped row ------------------------


def test_skip_invalid_keeps_good_rows_and_reports_and_saves_every_bad_one(tmp_path):
    contacts = CONTACTS + "c1,dup@x.com,,,,\n,noid@x.com,,,,\nc3,c3@x.com,,,,\n"
    header = ACTIVITIES.splitlines(True)[0]
    activities = ACTIVITIES + (
        "b1,c3,2026-01-01T10:00:00,email,outbound,,,,,\n"  # naive
        "b2,c3,2026-01-01T10:00:00Z,fax,outbound,,,,,\n"  # enum
        "b3,c404,2026-01-01T10:00:00Z,email,outbound,,,,,\n"  # unknown contact
        "b4,c3,2026-01-01T10:00:00Z,email,inbound,,,,,\n"  # fine
    )
    path = folder(tmp_path, contacts, activities)
    source = FilesSource(path, skip_invalid=True)
    pages = read_all(source)
    assert set(contacts_of(pages)) == {"c1", "c2", "c3"}
    assert contacts_of(pages)["c1"].email == "ann@x.com"  # the first row wins
    assert set(activities_of(pages)) == {("c1", "a1"), ("c1", "a2"), ("c2", "a3"), ("c3", "b4")}
    rejected = [r for p in pages for r in p.rejected]
    assert [r.where for r in rejected] == [
        "contacts.csv:4",
        "contacts.csv:5",
        "activities.csv:5",
        "activities.csv:6",
        "activities.csv:7",
    ]
    assert source.last_rejections == tuple(rejected)
    assert not (path / "rejects.csv").exists()  # reading writes nothing
    source.write_rejects()  # what a real sync does when it finishes
    with (path / "rejects.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["line"]) for r in rows] == [tuple(w.where.split(":")) for w in rejected]
    assert rows[2]["record"] == "b1,c3,2026-01-01T10:00:00,email,outbound,,,,,"
    assert "no time zone" in rows[2]["error"]
    # nothing dropped silently: every data row is either read or rejected
    data_rows = len(contacts.splitlines()) - 1 + len(activities.splitlines()) - 1
    assert len(contacts_of(pages)) + len(activities_of(pages)) + len(rows) == data_rows
    assert header  # the header is not a data row


def test_activity_of_a_rejected_contact_points_at_that_contact_row(tmp_path):
    contacts = "id,email,x\nc1,,\nc2,,,oops\n"
    activities = (
        "id,contact_id,occurred_at,channel,direction\na1,c2,2026-01-01T10:00:00Z,email,outbound\n"
    )
    pages = read_all(FilesSource(folder(tmp_path, contacts, activities), skip_invalid=True))
    errors = [r.error for p in pages for r in p.rejected]
    assert (
        errors[-1] == "contact_id 'c2' belongs to a contact whose row was rejected (contacts.csv:3)"
    )


def test_skip_invalid_rewrites_the_rejects_file_each_run(tmp_path):
    path = folder(tmp_path, activities=ACTIVITIES + "b1,c1,bad,email,outbound,,,,,\n")
    source = FilesSource(path, skip_invalid=True)
    read_all(source)
    source.write_rejects()
    assert len((path / "rejects.csv").read_text().splitlines()) == 2
    (path / "activities.csv").write_text(ACTIVITIES)
    read_all(source)
    source.write_rejects()
    assert (path / "rejects.csv").read_text().splitlines() == ["file,line,error,record"]


def test_encoding_errors_stop_even_when_skipping(tmp_path):
    bad = (ACTIVITIES + "a9,c1,2026-01-01T10:00:00Z,email,outbound,,caf\xe9,,,\n").encode("latin-1")
    with pytest.raises(InvalidInputError, match=r"activities\.csv:5: byte 0xe9"):
        read_all(FilesSource(folder(tmp_path, activities=bad), skip_invalid=True))


# -- the plugin and its settings ----------------------------------------------------------


def test_plugin_conforms_and_builds_a_connection_from_settings(tmp_path):
    assert isinstance(plugin, AdapterPlugin)
    conn = plugin.connect({"path": str(folder(tmp_path)), "skip_invalid": "true"}, environ={})
    assert conn.target == f"files:{tmp_path.resolve()}"
    assert conn.source.skip_invalid is True
    assert conn.writer.path == tmp_path.resolve() / "scores.csv"
    assert conn.source.rejects_path == tmp_path.resolve() / "rejects.csv"
    other = plugin.connect(
        {
            "path": str(tmp_path),
            "output": str(tmp_path / "out.csv"),
            "rejects": str(tmp_path / "r.csv"),
        },
        environ={},
    )
    assert other.target != conn.target  # another output file is another target
    assert other.writer.path.name == "out.csv" and other.source.rejects_path.name == "r.csv"


def test_plugin_settings_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"adapters\.files\.path is required"):
        plugin.connect({}, environ={})
    with pytest.raises(ConfigError, match="skip_invalid must be true or false"):
        plugin.connect({"path": str(tmp_path), "skip_invalid": "maybe"}, environ={})
    with pytest.raises(ConfigError, match=r"output folder .* does not exist"):
        connect(tmp_path, output=tmp_path / "missing" / "scores.csv")
