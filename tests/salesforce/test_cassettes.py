"""The happy path through simple-salesforce, replayed from a vcrpy cassette.

The cassette was recorded against the fake org (the only Salesforce here), whose
responses follow the documented shapes (see docs/salesforce.md). To record it
again, delete it and run ``MUTUALITY_RECORD_CASSETTES=1 pytest tests/salesforce/test_cassettes.py``
(recording into an existing file appends to it).
Authorization headers are filtered; a test checks no secret is left in any cassette.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

vcr = pytest.importorskip("vcr")

from mutuality_adapters.salesforce import plugin  # noqa: E402
from mutuality_adapters.salesforce.fake import FakeOrg, FakeSalesforce, seed_rows  # noqa: E402
from mutuality_adapters.salesforce.fields import FIELDS  # noqa: E402

from mutuality_core.model import Band, Contact, MutualityScore  # noqa: E402
from mutuality_core.ports import ScoreUpdate  # noqa: E402

from .conftest import Clock, activity, contact_rows  # noqa: E402

CASSETTES = Path(__file__).parent / "cassettes"
HAPPY = CASSETTES / "happy_path.yaml"
RECORD = os.environ.get("MUTUALITY_RECORD_CASSETTES") == "1"
SESSION = "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog7T.RECORDING.ONLY"
PORT = 18765
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


def _recorder() -> Any:
    return vcr.VCR(
        record_mode="all" if RECORD else "none",
        # the body too: a write (Collections PATCH, Bulk job POST, CSV upload) must
        # send what was recorded, not only reach the same URL
        match_on=["method", "scheme", "host", "path", "query", "body"],
        filter_headers=["authorization", "cookie", "set-cookie"],
        decode_compressed_response=True,
    )


@contextmanager
def _org() -> Iterator[dict[str, str]]:
    """While recording, a live fake; on replay, only the environment pointing at it."""
    if not RECORD:
        yield {
            "SALESFORCE_INSTANCE_URL": f"http://127.0.0.1:{PORT}",
            "SALESFORCE_SESSION_ID": SESSION,
        }
        return
    clock = Clock(datetime(2026, 11, 1, 12, tzinfo=timezone.utc))
    org = FakeOrg(clock=clock, session_id=SESSION, max_page_size=2)
    for spec in FIELDS:
        org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
    seed_rows(
        org,
        contact_rows(4),
        [
            activity("e1", "c0", direction="inbound", thread_id="t1"),
            activity("m1", "c1", channel="meeting", direction="mutual"),
            activity("m1", "c2", channel="meeting", direction="mutual"),
            activity("k1", "c3", channel="call", duration_seconds="120"),
            activity("old", "c3", when="2024-06-01T10:00:00+00:00", channel="call"),
        ],
    )
    clock.tick(1)  # the data exists before the run starts
    with FakeSalesforce(org, port=PORT) as fake:
        yield fake.environ()


def _update(contact_id: str, score: float) -> ScoreUpdate:
    result = MutualityScore(
        contact_id=contact_id,
        score=score,
        lean=0.1,
        strength=20.0,
        band=Band.MUTUAL,
        confidence=0.4,
        reasons=("both sides reach out",),
        components=(),
        algorithm="t",
        as_of=AS_OF,
    )
    return ScoreUpdate(Contact(id=contact_id), result, AS_OF)


def test_happy_path_through_the_real_client() -> None:
    if not RECORD and not HAPPY.exists():
        pytest.fail(f"missing cassette {HAPPY}; record it with MUTUALITY_RECORD_CASSETTES=1")
    clock = Clock(datetime(2026, 11, 1, 12, tzinfo=timezone.utc))
    with _org() as environ, _recorder().use_cassette(str(HAPPY)) as cassette:
        connection = plugin.connect(
            {"bulk_threshold": 3, "bulk_poll_seconds": 0},
            environ=environ,
            sleep=lambda s: None,
            clock=clock,
        )
        pages = list(connection.source.read(None))
        contacts = [c for p in pages for c in p.contacts]
        activities = [a for p in pages for a in p.activities]
        assert len(contacts) == 4 and len({c.id for c in contacts}) == 4
        more = [r for r in cassette.requests if re.search(r"/query/\w+-\d+$", r.path)]
        assert len(more) >= 2  # followed nextRecordsUrl
        assert sorted(a.channel.value for a in activities) == [
            "call",
            "call",
            "email",
            "meeting",
            "meeting",
        ]
        ids = sorted(c.id for c in contacts)
        small = connection.writer.write([_update(ids[0], 50.0)])  # sObject Collections
        bulk = connection.writer.write([_update(i, 60.0) for i in ids[1:]])  # Bulk API 2.0
        assert [r.ok for r in small] == [True] and [r.ok for r in bulk] == [True] * 3
        assert connection.writer.stats == {
            "collections_requests": 1,
            "bulk_jobs": 1,
            "lock_retries": 0,
        }
        connection.close()
        if not RECORD:
            assert cassette.all_played


def test_no_secrets_in_cassettes() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert files, "no cassettes committed"
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert SESSION not in text and "RECORDING.ONLY" not in text
        assert "Bearer" not in text and "OAuth " not in text
        assert "authorization" not in text.lower()
        assert "security_token" not in text.lower() and "password" not in text.lower()
