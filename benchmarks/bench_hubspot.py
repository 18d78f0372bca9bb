"""Benchmark: a full HubSpot sync of 5,000 contacts and 100,000 engagements against the fake.

The fake runs in its own process (as HubSpot would be on its own machines) with a
rate limit shaped like HubSpot's burst limit: 100 requests per window. The window
is shortened from HubSpot's 10 s (``--window``, default 2 s) so the run takes about
half a minute; the ratios are what matter.

Printed figures:

* requests made against the minimum the documented page and batch sizes allow:
  one account-details read (the portal id keys the state), list pages of 100 per
  object type, batch updates of 100 (target <= 1.05x);
* wall time against the floor the rate limit sets: with N requests at 100 per
  window the last one cannot start before (ceil(N / 100) - 1) windows (target <= 1.15x);
* requests made by a rerun right after the sync (it reads back our own 5,000
  writes once through search, 200 per request) and by a steady-state rerun; each
  run opens its own connection, as the nightly CLI job does (1 account-details read).
  Contact reads carry the score properties (the sync repairs drifted contacts from
  them), which adds no request;
* requests made by ``mutuality verify`` (a list of the score properties).

Run: ``.venv/bin/python benchmarks/bench_hubspot.py [--contacts 5000 --engagements 100000]``
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mutuality_adapters.hubspot.api import HubSpotApi
from mutuality_adapters.hubspot.connection import open_connection
from mutuality_adapters.hubspot.properties import setup_properties
from mutuality_adapters.hubspot.settings import HubSpotSettings
from mutuality_adapters.sqlite_state import SQLiteStateStore

from mutuality_core.reconcile import verify_connection
from mutuality_core.sync import run_sync

LIST_PAGE = 100  # GET /crm/v3/objects/{type}: at most 100 per page
BATCH_UPDATE = 100  # POST .../batch/update: at most 100 inputs
PER_WINDOW = 100  # HubSpot Free/Starter: 100 requests per 10 s (window shortened here)
ACCOUNT_DETAILS = 1  # GET /account-info/v3/details once per connection: the portal id
SHARES = {"email": 0.5, "call": 0.2, "meeting": 0.15, "note": 0.1, "message": 0.05}
TYPE_OF = {"email": "emails", "call": "calls", "meeting": "meetings", "note": "notes",
           "message": "communications"}  # fmt: skip


def generate(folder: Path, contacts: int, engagements: int, seed: int = 11) -> dict[str, int]:
    """contacts.csv and activities.csv in the files adapter's format; returns counts per type."""
    rng = random.Random(seed)
    with (folder / "contacts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name", "last_name", "company"])
        for n in range(1, contacts + 1):
            writer.writerow([n, f"person{n}@example.com", f"P{n}", "Bench", "Acme"])
    counts = dict.fromkeys(TYPE_OF.values(), 0)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    channels = list(SHARES)
    weights = [SHARES[c] for c in channels]
    with (folder / "activities.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "contact_id", "occurred_at", "channel", "direction", "outcome",
                         "thread_id", "duration_seconds", "automated", "tags"])  # fmt: skip
        for n in range(1, engagements + 1):
            channel = rng.choices(channels, weights)[0]
            counts[TYPE_OF[channel]] += 1
            when = (start + timedelta(minutes=rng.randint(0, 500_000))).isoformat()
            direction = rng.choice(["outbound", "outbound", "inbound"])
            outcome = rng.choice(["completed", "completed", "no_answer"])
            first = rng.randint(1, contacts)
            row = [f"a{n}", first, when, channel, direction, outcome, "", "", "false", ""]
            writer.writerow(row)
            if rng.random() < 0.1:  # a shared engagement: one more associated contact
                writer.writerow([f"a{n}", rng.randint(1, contacts), *row[2:]])
    return counts


def minimum_requests(contacts: int, per_type: dict[str, int]) -> int:
    reads = math.ceil(contacts / LIST_PAGE) + sum(
        max(1, math.ceil(n / LIST_PAGE)) for n in per_type.values()
    )
    writes = math.ceil(contacts / BATCH_UPDATE)
    return ACCOUNT_DETAILS + reads + writes


def stats(base_url: str) -> dict:
    with urllib.request.urlopen(base_url + "/_fake/stats", timeout=30) as response:
        return json.loads(response.read())


def reset(base_url: str) -> None:
    request = urllib.request.Request(base_url + "/_fake/reset-stats", data=b"{}", method="POST")
    urllib.request.urlopen(request, timeout=30).close()


def sync_once(connection, state, label: str) -> tuple[float, object]:
    as_of = datetime.now(timezone.utc)
    started = time.perf_counter()
    report = run_sync(connection, state, as_of=as_of, now=lambda: datetime.now(timezone.utc))
    return time.perf_counter() - started, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=5_000)
    parser.add_argument("--engagements", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=2.0, help="rate-limit window, seconds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_type = generate(folder, args.contacts, args.engagements)
        code = "from mutuality_adapters.hubspot.commands import fake_command; fake_command()"
        fake = subprocess.Popen(
            [sys.executable, "-c", code, "--port", "0", "--data", str(folder),
             "--rate-limit", f"{PER_WINDOW}/{args.window}"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            base_url = fake.stdout.readline().split()[3]
            settings = HubSpotSettings.from_mapping(
                {
                    "base_url": base_url,
                    "requests_per_window": PER_WINDOW,
                    "rate_window_seconds": args.window,
                    "search_lag_seconds": 1,
                },
                environ={"HUBSPOT_ACCESS_TOKEN": "bench-token"},
            )
            setup_properties(HubSpotApi(settings), settings)
            time.sleep(args.window)  # let the setup requests leave the rate window
            reset(base_url)
            state = SQLiteStateStore(folder / "state.sqlite")
            connection = open_connection(settings)

            elapsed, report = sync_once(connection, state, "full")
            figures = stats(base_url)
            made = figures["requests"]["total"]
            minimum = minimum_requests(args.contacts, per_type)
            floor = (math.ceil(minimum / PER_WINDOW) - 1) * args.window
            print(f"portal: {args.contacts:,} contacts, {sum(per_type.values()):,} engagements "
                  f"({', '.join(f'{n:,} {t}' for t, n in per_type.items())})")  # fmt: skip
            print(f"rate limit: {PER_WINDOW} requests per {args.window:g} s window")
            print(f"full sync: read {report.contacts_read:,} contacts, "
                  f"{report.activities_read:,} activities; wrote {report.written:,}")  # fmt: skip
            print(f"requests: {made:,} made vs {minimum:,} minimum "
                  f"= {made / minimum:.3f}x (target <= 1.05x)")  # fmt: skip
            print(f"wall time: {elapsed:.1f} s vs {floor:.1f} s floor "
                  f"= {elapsed / floor:.3f}x (target <= 1.15x)")  # fmt: skip
            routes = {k: v for k, v in figures["requests"].items() if k != "total"}
            print(f"  by route: {json.dumps(routes, sort_keys=True)}")

            time.sleep(1.5)  # past the search lag, so our own writes are in the window
            reset(base_url)
            elapsed, report = sync_once(open_connection(settings), state, "rerun")
            made = stats(base_url)["requests"]["total"]
            print(f"rerun right after (reads back our own writes once): {made} requests, "
                  f"{report.contacts_read} contacts changed, {report.written} written, "
                  f"{elapsed:.1f} s")  # fmt: skip
            time.sleep(1.5)
            reset(base_url)
            elapsed, report = sync_once(open_connection(settings), state, "steady")
            made = stats(base_url)["requests"]["total"]
            print(f"steady-state no-change rerun: {made} requests, {report.written} written, "
                  f"{elapsed:.1f} s")  # fmt: skip
            reset(base_url)
            started = time.perf_counter()
            checked = verify_connection(open_connection(settings), state)
            made = stats(base_url)["requests"]["total"]
            print(f"verify: {made} requests (1 list per {LIST_PAGE} contacts + the portal id), "
                  f"{checked.in_sync:,} in sync, differs={checked.differs}, "
                  f"{time.perf_counter() - started:.1f} s")  # fmt: skip
            state.close()
        finally:
            fake.terminate()
            fake.wait(timeout=10)


if __name__ == "__main__":
    main()
