"""The columnar read takes a clean contacts.csv with pyarrow: the row parser's contacts."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyarrow")

from mutuality_adapters.files.columnar import read_contacts_in_columns
from mutuality_adapters.files.records import open_records
from mutuality_adapters.files.rows import CONTACT_COLUMNS, RejectLog, parse_contacts

from mutuality_core.errors import InvalidInputError

CLEAN = (
    "id,email,first_name,last_name,company,owner,region\n"
    "c1, p1@x.com ,Ann,,Co 1,rev,\n"
    "\n"
    " c2 ,,  ,Lee, ,,emea\r\n"
    "c3,p3@x.com,Bo,Ng,Co 3,rev,apac"
)


def by_row_parser(path: Path) -> dict[str, tuple[object, ...]]:
    contacts, _ = parse_contacts(open_records(path, CONTACT_COLUMNS), RejectLog(True))
    return {cid: (c.id, c.email, c.first_name, c.last_name, c.company, c.extra)
            for cid, c in contacts.items()}  # fmt: skip


def test_a_clean_file_gives_the_row_parsers_contacts(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(CLEAN)
    contacts = read_contacts_in_columns(path)
    assert contacts is not None
    got = {cid: (c.id, c.email, c.first_name, c.last_name, c.company, c.extra)
           for cid, c in contacts.items()}  # fmt: skip
    assert got == by_row_parser(path)
    assert list(got) == ["c1", "c2", "c3"]
    assert got["c2"] == ("c2", None, None, "Lee", None, {"region": "emea"})


@pytest.mark.parametrize(
    "text",
    [
        "id,email\nc1,a@x.com\nc1,b@x.com\n",  # a repeated id: the row parser says where
        "id,email\nc1,a@x.com\n ,b@x.com\n",  # an empty id
        'id,email\nc1,"a@x.com"\n',  # quotes: left to the csv module
        "id,email\nc1,a@x.com,extra\n",  # a row of the wrong width
        "id,email\n",  # no contacts: the row parser's error
    ],
)
def test_anything_else_is_left_to_the_row_parser(tmp_path: Path, text: str) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text(text)
    assert read_contacts_in_columns(path) is None


def test_bad_utf8_stops_with_the_row_parsers_message(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_bytes(b"id,email\nc1,\xff@x.com\n")
    messages = []
    for read in (read_contacts_in_columns, by_row_parser):
        with pytest.raises(InvalidInputError) as caught:
            read(path)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "contacts.csv:2: byte 0xff" in messages[0]
