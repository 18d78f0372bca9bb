"""Sync speed on the embedded defaults: files in, scores.csv out, state in SQLite.

    python benchmarks/bench_sync.py                      # 50,000 contacts, 1,000,000 activities
    python benchmarks/bench_sync.py --contacts 5000 --activities 100000

Generates a deterministic folder, then runs a full sync and a no-change sync, each
in a fresh child process so that its peak memory (max RSS) is its own. Prints wall
time, activities per second and peak memory for both, with the time per stage
(read and parse, score and diff, write and record) and the CPU time, which is
less sensitive than wall time to other processes sharing the machine. Targets (issue 3): the full
sync at least 200,000 activities/s end to end, peak memory under 1.5 GiB; (issue 10)
with the columnar engine, full sync >= 400,000/s, no-change sync >= 700,000/s, peak
<= 400 MiB at 1M activities and <= 1 GiB at 3M. ``--engines python,columnar`` (the
default) runs both engines on the same folder, one after the other; ``--sizes
100000,1000000,3000000`` repeats everything at each size. ``--gc library,cli`` runs
each with Python's default garbage collector (as the library leaves it) and tuned as
``mutuality sync`` tunes it (mutuality_cli.collector).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
TARGET_RATE = 200_000
TARGET_MEMORY_GIB = 1.5
#: issue 10, the columnar engine: activities/s; peak 400 MiB at 1M activities, 1 GiB at 3M
COLUMNAR_TARGETS = {"full sync": 400_000, "no-change sync": 700_000}


def generate(folder: Path, contacts: int, activities: int, seed: int = 7) -> None:
    """Contacts with skewed activity counts over two years of emails, calls and meetings."""
    rng = random.Random(seed)
    with (folder / "contacts.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "email", "first_name", "last_name", "company", "owner"])
        for i in range(contacts):
            w.writerow(
                [f"c{i:06d}", f"p{i}@example.com", f"First{i}", f"Last{i}", f"Co{i % 997}", "rev"]
            )
    channels = ["email"] * 6 + ["call", "meeting", "message", "note"]
    directions = ["outbound", "inbound", "outbound", "inbound", "mutual"]
    outcomes = ["", "", "", "", "completed", "no_answer", "scheduled"]
    start = AS_OF - timedelta(days=730)
    weights = [rng.paretovariate(1.5) for _ in range(contacts)]
    owners = rng.choices(range(contacts), weights=weights, k=activities)
    with (folder / "activities.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "contact_id", "occurred_at", "channel", "direction", "outcome",
                    "thread_id", "duration_seconds", "automated", "tags"])  # fmt: skip
        for n, owner in enumerate(owners):
            moment = start + timedelta(seconds=rng.randrange(730 * 86400))
            channel = rng.choice(channels)
            w.writerow(
                [
                    f"a{n:07d}",
                    f"c{owner:06d}",
                    moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    channel,
                    rng.choice(directions),
                    rng.choice(outcomes),
                    f"t{owner}-{rng.randrange(40)}" if channel == "email" else "",
                    str(rng.randrange(60, 3600)) if channel in ("call", "meeting") else "",
                    "true" if rng.random() < 0.03 else "",
                    "ask" if rng.random() < 0.05 else "",
                ]
            )


def child(
    folder: Path, state: Path, workers: str, engine: str = "python", collector: str = "library"
) -> None:
    """One sync, in this process; prints a JSON line with its figures.

    ``collector``: ``library`` runs with Python's default garbage collector, as the
    library leaves it; ``cli`` tunes it as ``mutuality sync`` does.
    """
    from contextlib import nullcontext

    from mutuality_adapters.files import connect
    from mutuality_adapters.sqlite_state import SQLiteStateStore
    from mutuality_cli.collector import bulk_collection

    from mutuality_core.sync import SyncOptions, run_sync

    store = SQLiteStateStore(state)
    began = time.perf_counter()
    cpu_began = time.process_time()
    last_seen: dict[str, float] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        last_seen[stage] = time.perf_counter() - began

    with bulk_collection() if collector == "cli" else nullcontext():
        report = run_sync(
            connect(folder, workers=workers),
            store,
            as_of=AS_OF,
            now=lambda: datetime.now(timezone.utc),
            progress=progress,
            options=SyncOptions(engine=engine),
        )
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu_began
    read_end = last_seen.get("read", 0.0)
    score_end = last_seen.get("score", read_end)
    store.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu += children.ru_utime + children.ru_stime  # the workers' CPU time, if any
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "read_seconds": read_end,
                "score_seconds": score_end - read_end,
                "write_seconds": seconds - score_end,
                "activities": report.activities_read,
                "contacts": report.contacts_scored,
                "written": report.written,
                "peak_mib": peak_kib / 1024,
                # the largest worker's peak; workers run side by side, so the run's total
                # at worst is this process plus each worker's peak
                "worker_peak_mib": children.ru_maxrss / 1024,
            }
        )
    )


def run_phase(
    folder: Path, state: Path, workers: str, engine: str, collector: str
) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(folder), str(state), workers, engine, collector],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument(
        "--data",
        type=Path,
        help="keep the generated folder here and reuse it on later runs (same sizes)",
    )
    parser.add_argument(
        "--workers",
        default="1,2",
        help="comma-separated files adapter `workers` values to compare (default 1,2)",
    )
    parser.add_argument(
        "--engines",
        default="python,columnar",
        help="comma-separated engines to compare, each with every workers value "
        "(the columnar engine reads in one process; default python,columnar)",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated activity counts to run one after the other (e.g. "
        "100000,1000000,3000000; contacts scale with them); overrides --activities",
    )
    parser.add_argument(
        "--gc",
        default="library",
        help="comma-separated garbage-collector settings to compare: library (Python's "
        "defaults, as the library leaves them) and cli (tuned as `mutuality sync` tunes it)",
    )
    parser.add_argument("--child", nargs=5,
                        metavar=("FOLDER", "STATE", "WORKERS", "ENGINE", "GC"),
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), *args.child[2:])
        return
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [args.activities]
    for activities in sizes:
        contacts = args.contacts if not args.sizes else max(1, activities // 20)
        run_size(args, contacts, activities)


def run_size(args: argparse.Namespace, contacts: int, activities: int) -> None:
    """Every engine (and workers value) on one generated folder of this size."""
    args.contacts, args.activities = contacts, activities
    with tempfile.TemporaryDirectory(prefix="mutuality-bench-") as scratch:
        folder = args.data / f"{activities}" if args.data else Path(scratch) / "crm"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scores.csv").unlink(missing_ok=True)
        began = time.perf_counter()
        stamp = folder / f".generated-{args.contacts}-{args.activities}"
        reused = stamp.exists()
        if not reused:
            for old in folder.glob(".generated-*"):
                old.unlink()  # the files are about to be replaced
            generate(folder, args.contacts, args.activities)
            stamp.touch()
        size = (folder / "activities.csv").stat().st_size / 2**20
        print(
            f"{'reused' if reused else 'generated'} {args.contacts:,} contacts and "
            f"{args.activities:,} activities ({size:.0f} MiB) in "
            f"{time.perf_counter() - began:.1f} s"
        )
        for engine in args.engines.split(","):
            for workers in args.workers.split(",") if engine == "python" else ["1"]:
                for collector in args.gc.split(","):
                    print(f"engine = {engine}, workers = {workers}, gc = {collector}")
                    (folder / "scores.csv").unlink(missing_ok=True)
                    state = Path(scratch) / f"state-{engine}-{workers}-{collector}.sqlite"
                    for name in ("full sync", "no-change sync"):
                        figures = run_phase(folder, state, workers, engine, collector)
                        report(name, figures, engine)


def report(name: str, r: dict[str, float], engine: str = "python") -> None:
    rate = r["activities"] / r["seconds"]
    peak = r["peak_mib"] + r["worker_peak_mib"] * (r["cpu_seconds"] > r["seconds"])
    print(
        f"{name:<15} {r['seconds']:6.2f} s  {rate:>10,.0f} activities/s  "
        f"peak {r['peak_mib']:6.0f} MiB (largest worker {r['worker_peak_mib']:.0f} MiB)  "
        f"({r['contacts']:,} contacts scored, {r['written']:,} written)"
    )
    print(
        f"  {'':<13} read+parse(+score in workers) {r['read_seconds']:.2f} s, score+diff "
        f"{r['score_seconds']:.2f} s, write+record {r['write_seconds']:.2f} s; "
        f"CPU incl. workers {r['cpu_seconds']:.2f} s"
    )
    if engine == "columnar":
        target = COLUMNAR_TARGETS[name]
        memory_target = 400 if r["activities"] <= 1_000_000 else 1024
        print(
            f"  target {target:,} activities/s: {'meets' if rate >= target else 'MISSES'}; "
            f"peak <= {memory_target} MiB: {'meets' if peak <= memory_target else 'MISSES'}"
        )
    elif name == "full sync":
        verdict = "meets" if rate >= TARGET_RATE else "MISSES"
        memory = "meets" if peak < TARGET_MEMORY_GIB * 1024 else "MISSES"
        print(
            f"  target {TARGET_RATE:,} activities/s: {verdict}; "
            f"peak memory < {TARGET_MEMORY_GIB} GiB (parent + workers): {memory}"
        )


if __name__ == "__main__":
    main()
