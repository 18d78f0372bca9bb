"""Malformed input files: every bad line is a row rejection, at its own line, or a clear stop."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from mutuality_adapters.files import FilesSource

from mutuality_core.errors import InvalidInputError
from mutuality_core.ports import Page

CONTACTS = "id,email\nc1,ann@x.com\nc2,bob@x.com\n"
HEADER = "id,contact_id,occurred_at,channel,direction,thread_id\n"


def activity(n: int, contact: str = "c1") -> str:
    return f"a{n},{contact},2026-01-{n % 28 + 1:02d}T10:00:00Z,email,outbound,t{n}\n"


def folder(tmp_path: Path, activities: str, contacts: str = CONTACTS, suffix: str = "csv") -> Path:
    (tmp_path / f"contacts.{suffix}").write_text(contacts, encoding="utf-8")
    (tmp_path / "activities.csv").write_text(activities, encoding="utf-8")
    return tmp_path


def read_all(source: FilesSource) -> list[Page]:
    return list(source.read(None))


def activity_ids(pages: list[Page]) -> list[str]:
    return [a.id for p in pages for a in p.activities]


def rejections(pages: list[Page]) -> list[tuple[str, str]]:
    return [(r.where, r.error) for p in pages for r in p.rejected]


def jsonl(*lines: object) -> str:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)


# -- item 5: JSON Lines lines that are not objects are row rejections -------------------------


def test_jsonl_lines_that_are_not_objects_are_skipped_and_saved_as_they_were(tmp_path):
    contacts = jsonl({"id": "c1"}, "{not json", [1, 2], {"id": "c2", "tier": "gold"}, "42")
    path = folder(tmp_path, HEADER + activity(1, "c2"), contacts, suffix="jsonl")
    source = FilesSource(path, skip_invalid=True)
    pages = read_all(source)
    assert sorted(c.id for p in pages for c in p.contacts) == ["c1", "c2"]
    assert [(where, error[:20]) for where, error in rejections(pages)] == [
        ("contacts.jsonl:2", "invalid JSON: Expect"),
        ("contacts.jsonl:3", "expected a JSON obje"),
        ("contacts.jsonl:5", "expected a JSON obje"),
    ]
    assert activity_ids(pages) == ["a1"]
    source.write_rejects()
    with (path / "rejects.csv").open(newline="", encoding="utf-8") as f:
        saved = [(r["line"], r["record"]) for r in csv.DictReader(f)]
    assert saved == [("2", "{not json"), ("3", "[1, 2]"), ("5", "42")]


def test_a_bad_first_jsonl_line_is_skipped_too(tmp_path):
    contacts = jsonl("[]", {"id": "c1", "tier": "gold"})
    pages = read_all(
        FilesSource(folder(tmp_path, HEADER, contacts, suffix="jsonl"), skip_invalid=True)
    )
    assert [c.extra for p in pages for c in p.contacts] == [{"tier": "gold"}]
    assert [where for where, _ in rejections(pages)] == ["contacts.jsonl:1"]


def test_a_bad_jsonl_line_stops_a_strict_read_at_its_line(tmp_path):
    contacts = jsonl({"id": "c1"}, {"id": "c2"}, "nope")
    with pytest.raises(
        InvalidInputError, match=r"contacts\.jsonl:3: invalid JSON: .*--skip-invalid"
    ):
        read_all(FilesSource(folder(tmp_path, HEADER, contacts, suffix="jsonl")))


# -- item 5: huge CSV fields are read; a CSV error names its own line -------------------------


def test_a_field_over_128_kib_is_read(tmp_path):
    notes = "x" * 300_000
    activities = HEADER + activity(1) + activity(2).replace(",t2\n", f",{notes}\n") + activity(3)
    pages = read_all(FilesSource(folder(tmp_path, activities)))
    assert activity_ids(pages) == ["a1", "a2", "a3"]
    assert [a.thread_id for p in pages for a in p.activities][1] == notes


def test_a_malformed_csv_error_names_the_line_it_is_on(tmp_path, monkeypatch, files_engine):
    if files_engine == "columnar":
        pytest.skip("forces csv.reader's field size error; pyarrow has no such limit")
    # a field over the limit, with the limit made small on purpose
    activities = HEADER + activity(1) + activity(2).replace(",t2\n", f",{'y' * 5000}\n")
    monkeypatch.setattr("mutuality_adapters.files.records.FIELD_SIZE_LIMIT", 1000)
    limit = csv.field_size_limit(1000)
    try:
        with pytest.raises(InvalidInputError) as caught:
            read_all(FilesSource(folder(tmp_path, activities)))
    finally:
        csv.field_size_limit(limit)
    assert "activities.csv:3: malformed CSV: field larger than field limit" in str(caught.value)
    assert "enclosed in double quotes" in str(caught.value)


# -- item 6: a stray quote is reported where it is and never skipped silently ---------------


def stray_quote_file(lost: int) -> str:
    rows = [activity(n) for n in range(1, 3)]
    rows.append('a3,c1,2026-01-03T10:00:00Z,"email,outbound,t3\n')  # line 4
    rows += [activity(n) for n in range(4, 4 + lost)]
    return HEADER + "".join(rows)


def test_a_stray_quote_is_reported_on_the_line_it_opens(tmp_path):
    with pytest.raises(InvalidInputError) as caught:
        read_all(FilesSource(folder(tmp_path, stray_quote_file(37))))
    message = str(caught.value)
    assert "activities.csv:4: unbalanced quote: the record starting on line 4 runs to line 41" in (
        message
    )


def test_a_stray_quote_stops_even_when_skipping_so_no_row_is_lost_silently(tmp_path):
    with pytest.raises(InvalidInputError, match=r"activities\.csv:4: unbalanced quote.*37 line"):
        read_all(FilesSource(folder(tmp_path, stray_quote_file(37)), skip_invalid=True))


def test_a_stray_quote_in_contacts_is_reported_the_same_way(tmp_path):
    contacts = 'id,email,tier\nc1,"ann@x.com,gold\nc2,bob@x.com,gold\nc3,c@x.com,\n'
    with pytest.raises(InvalidInputError, match=r"contacts\.csv:2: unbalanced quote"):
        read_all(FilesSource(folder(tmp_path, HEADER, contacts), skip_invalid=True))


def test_a_bad_row_spanning_lines_is_rejected_at_its_first_line(tmp_path):
    activities = (
        HEADER + activity(1) + 'a2,c1,yesterday,email,outbound,"line one\nline two"\n' + activity(3)
    )
    pages = read_all(FilesSource(folder(tmp_path, activities), skip_invalid=True))
    assert [where for where, _ in rejections(pages)] == ["activities.csv:3"]
    assert activity_ids(pages) == ["a1", "a3"]


def test_bad_jsonl_lines_are_rejected_once_when_workers_read(tmp_path):
    """Every worker reads every line; a bad line goes to one partition only, as a row does."""
    from datetime import datetime, timezone

    from mutuality_core.config import ScoringConfig

    lines = [
        {"id": f"a{n}", "contact_id": f"c{n % 2 + 1}", "occurred_at": "2026-01-01T10:00:00Z",
         "channel": "email", "direction": "outbound"}
        for n in range(40)
    ]  # fmt: skip
    text = jsonl(*lines[:10], "{broken", *lines[10:30], "[3]", *lines[30:])
    (tmp_path / "contacts.csv").write_text(CONTACTS)
    (tmp_path / "activities.jsonl").write_text(text)
    as_of = datetime(2026, 6, 1, tzinfo=timezone.utc)
    found = []
    for workers in (1, 2):
        source = FilesSource(tmp_path, skip_invalid=True, workers=workers)
        scored = source.read_scored(as_of=as_of, config=ScoringConfig())
        assert (scored is None) == (workers == 1)
        if scored is None:  # one process: the ordinary read
            pages = read_all(source)
            found.append(
                ([(r.where, r.error) for p in pages for r in p.rejected], len(activity_ids(pages)))
            )
        else:
            found.append(([(r.where, r.error) for r in scored.rejections], scored.activities_read))
    assert found[0] == found[1]
    assert [where for where, _ in found[0][0]] == ["activities.jsonl:11", "activities.jsonl:32"]
    assert found[1][1] == 40
