"""Salesforce adapter against the fake org: API calls vs. the minimum, allowance, wall time.

    .venv/bin/python benchmarks/bench_salesforce.py [--contacts 20000] [--activities 400000]

Seeds the fake (logged emails exist as EmailMessage *and* Task, shared meetings,
archived activities), then runs ``run_sync`` three times against a SQLite state
file: a full run, a no-change rerun, and a rerun after 100 new activities; then
``verify`` once. The Contact query selects the Mutuality fields (the sync repairs
drifted contacts from them) in the same requests.

"Minimum" is what the page and batch sizes allow for the rows the full read has to
return: ceil(rows / 2000) per queried object, plus 4 requests per Bulk API 2.0 job
(create, upload, close, one status poll) or one request per 200 Collections updates.
The fake's Bulk jobs answer InProgress to their first status poll (bulk_job_polls=1)
and polls do not wait (bulk_poll_seconds=0): a real org's jobs take longer and cost
more polls (see docs/salesforce.md, section 7).
"""

from __future__ import annotations

import argparse
import math
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from mutuality_adapters.salesforce import plugin
from mutuality_adapters.salesforce.fake import FakeSalesforce, seed_rows
from mutuality_adapters.salesforce.fake.seed import BOOKING_USER_ID
from mutuality_adapters.salesforce.fields import FIELDS
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.reconcile import verify_connection
from mutuality_core.sync import run_sync

PAGE = 2000
DAILY_LIMIT = 200_000  # Enterprise Edition with 100 licences: 100,000 + 1,000 x 100


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_crm(
    n_contacts: int, n_activities: int, as_of: datetime, seed: int = 5
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    contacts = [
        {
            "id": f"c{i}",
            "email": f"p{i}@example.com",
            "first_name": f"F{i}",
            "last_name": f"L{i}",
            "company": f"Co{i % 500}",
        }
        for i in range(n_contacts)
    ]
    activities: list[dict[str, str]] = []
    channels = ("email", "email", "email", "call", "call", "meeting", "message", "task")
    i = 0
    while len(activities) < n_activities:
        contact = f"c{rng.randrange(n_contacts)}"
        channel = rng.choice(channels)
        when = (as_of - timedelta(days=rng.uniform(0.5, 540))).isoformat()
        outcome = "completed"
        if channel == "meeting" and rng.random() < 0.15:  # not held: a Subject + outcome field
            outcome = rng.choice(("canceled", "canceled", "no_show"))
        row = {
            "id": f"a{i}",
            "contact_id": contact,
            "occurred_at": when,
            "channel": channel,
            "direction": rng.choice(("inbound", "outbound")),
            "outcome": outcome,
            "duration_seconds": str(rng.randint(0, 1800)),
            "automated": "1" if rng.random() < 0.05 else "",
            "tags": rng.choice(("ask", "give")) if rng.random() < 0.1 else "",
        }
        activities.append(row)
        if channel == "meeting" and rng.random() < 0.2:  # group meeting: a second contact
            activities.append({**row, "contact_id": f"c{rng.randrange(n_contacts)}"})
        i += 1
    return contacts, activities[:n_activities]


def minimum_calls(fake: FakeSalesforce, written: int, settings: dict[str, Any]) -> int:
    records = fake.org.records
    rows = {
        "Contact": sum(1 for r in records["Contact"].values() if not r.get("IsDeleted")),
        "Task": len(records["Task"]),
        "Event": sum(1 for r in records["Event"].values() if not r.get("IsChild")),
        "EmailMessage": len(records["EmailMessage"]),
    }
    reads = sum(math.ceil(n / PAGE) for n in rows.values())
    threshold = settings.get("bulk_threshold", 2000)
    batch = settings.get("bulk_batch_size", 10_000)
    if threshold and written >= threshold:
        writes = 4 * math.ceil(written / batch)
    else:
        writes = math.ceil(written / 200)
    return reads + writes


def run(
    fake: FakeSalesforce, state: Any, clock: Clock, as_of: datetime, settings: dict[str, Any]
) -> tuple[Any, int, float, dict[str, int]]:
    before, kinds = fake.org.api_used, dict(fake.org.calls)
    started = time.perf_counter()
    connection = plugin.connect(settings, environ=fake.environ(), sleep=lambda s: None, clock=clock)
    try:
        report = run_sync(connection, state, as_of=as_of, now=clock)
    finally:
        connection.close()
    elapsed = time.perf_counter() - started
    delta = {k: v - kinds.get(k, 0) for k, v in fake.org.calls.items() if v - kinds.get(k, 0)}
    return report, fake.org.api_used - before, elapsed, delta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=400_000)
    args = parser.parse_args()
    as_of = datetime(2026, 11, 1, tzinfo=timezone.utc)
    clock = Clock(as_of - timedelta(days=1))
    settings: dict[str, Any] = {"bulk_poll_seconds": 0, "booking_user_ids": BOOKING_USER_ID}
    with (
        FakeSalesforce(clock=clock, daily_limit=DAILY_LIMIT) as fake,
        tempfile.TemporaryDirectory() as tmp,
    ):
        t0 = time.perf_counter()
        contacts, activities = make_crm(args.contacts, args.activities, as_of)
        seed_rows(fake.org, contacts, activities)
        for spec in FIELDS:
            fake.org.add_custom_field(f"Contact.{spec.name}", spec.metadata, visible=True)
        counts = {k: len(v) for k, v in fake.org.records.items() if v}
        print(f"seeded in {time.perf_counter() - t0:.1f} s: {counts}")
        state = SQLiteStateStore(Path(tmp) / "state.db")
        clock.now = as_of
        full, calls, wall, kinds = run(fake, state, clock, as_of, settings)
        minimum = minimum_calls(fake, full.written, settings)
        print(
            f"\nfull run: read {full.contacts_read} contacts / {full.activities_read} activities, "
            f"wrote {full.written}, failed {full.failed}, wall {wall:.1f} s"
        )
        print(
            f"  API calls {calls} vs minimum {minimum}: {calls / minimum:.3f}x"
            f"  (by resource: {kinds})"
        )
        print(
            f"  daily allowance used: {calls / DAILY_LIMIT:.2%} of {DAILY_LIMIT:,}"
            " (guard: 25% per run)"
        )
        clock.now = as_of + timedelta(days=1)
        again, calls2, wall2, kinds2 = run(fake, state, clock, as_of, settings)
        print(
            f"\nno-change rerun: wrote {again.written}, API calls {calls2} ({kinds2}),"
            f" wall {wall2:.1f} s"
        )
        clock.now = as_of + timedelta(days=1, hours=1)
        ids = list(fake.org.records["Contact"])
        rng = random.Random(9)
        for k in range(100):
            fake.org.insert(
                "Task",
                {
                    "WhoId": rng.choice(ids),
                    "TaskSubtype": "Call",
                    "CallType": "Inbound",
                    "IsClosed": True,
                    "CallDurationInSeconds": 300,
                    "CompletedDateTime": (as_of - timedelta(hours=k)).strftime(
                        "%Y-%m-%dT%H:%M:%S.000+0000"
                    ),
                },
            )
        clock.now = as_of + timedelta(days=2)
        new, calls3, wall3, kinds3 = run(fake, state, clock, as_of, settings)
        print(
            f"rerun after 100 new calls: read {new.activities_read} activities,"
            f" wrote {new.written}, "
            f"API calls {calls3} ({kinds3}), wall {wall3:.1f} s"
        )
        before, kinds = fake.org.api_used, dict(fake.org.calls)
        started = time.perf_counter()
        connection = plugin.connect(
            settings, environ=fake.environ(), sleep=lambda s: None, clock=clock
        )
        try:
            checked = verify_connection(connection, state)
        finally:
            connection.close()
        delta = {k: v - kinds.get(k, 0) for k, v in fake.org.calls.items() if v - kinds.get(k, 0)}
        print(
            f"verify: API calls {fake.org.api_used - before} ({delta}), "
            f"{checked.in_sync} in sync, differs={checked.differs}, "
            f"wall {time.perf_counter() - started:.1f} s"
        )
        state.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS (fake org + adapter + engine in one process): {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
