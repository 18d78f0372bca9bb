"""How long `mutuality report` takes on a large book, and how big the page is.

    python benchmarks/bench_report.py                   # 50,000 contacts
    python benchmarks/bench_report.py --contacts 5000

Builds a realistic book from copies of examples/sample_crm (every kind of
relationship, about 54 activities per contact; copy k gets ids and emails suffixed
``-k``), syncs it twice as a nightly job would (2026-03-31, then 2026-06-30, so the
second run changes bands), then times the report from the state file: the whole
command in a fresh process, and its steps in this one (read the contacts, build the
book, render, write). Also times `report --as-of`, which scores every contact again
(as `mutuality score` does). Targets (issue 13): the report of 50,000 contacts in
under 5 s, the page under 5 MB.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTUALITY = [sys.executable, "-m", "mutuality_cli.main"]
TARGET_SECONDS, TARGET_BYTES = 5.0, 5_000_000


def replicate(folder: Path, contacts: int) -> None:
    """``contacts`` contacts (and their activities) from as many copies of the sample as needed."""
    sample = ROOT / "examples" / "sample_crm"
    with (sample / "contacts.csv").open(newline="", encoding="utf-8") as handle:
        people = list(csv.DictReader(handle))
    with (sample / "activities.csv").open(newline="", encoding="utf-8") as handle:
        activities = list(csv.DictReader(handle))
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, list(people[0]))
        writer.writeheader()
        for n in range(contacts):
            row = dict(people[n % len(people)])
            copy = n // len(people)
            local, _, domain = row["email"].partition("@")
            row.update(id=f"{row['id']}-{copy}", email=f"{local}+{copy}@{domain}")
            writer.writerow(row)
    copies, rest = divmod(contacts, len(people))
    kept_in_last = {p["id"] for p in people[:rest]}
    with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, list(activities[0]))
        writer.writeheader()
        for copy in range(copies + (1 if rest else 0)):
            for row in activities:
                if copy == copies and row["contact_id"] not in kept_in_last:
                    continue
                suffix = f"-{copy}"
                thread = row["thread_id"] and row["thread_id"] + suffix
                writer.writerow(
                    {**row, "id": row["id"] + suffix, "contact_id": row["contact_id"] + suffix,
                     "thread_id": thread}
                )  # fmt: skip


def run(*args: str, cwd: Path) -> float:
    began = time.perf_counter()
    subprocess.run([*MUTUALITY, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - began


def steps(folder: Path, state_path: Path, page: Path) -> dict[str, float]:
    """The report's steps timed in this process (the imports are already done)."""
    from mutuality_adapters.files import connect
    from mutuality_adapters.sqlite_state import SQLiteStateStore
    from mutuality_report import from_state
    from mutuality_report.sources import read_contacts

    times = {}
    connection = connect(folder)
    with SQLiteStateStore(state_path) as state:
        began = time.perf_counter()
        read_contacts(connection, state)
        times["read contacts.csv"] = time.perf_counter() - began
        began = time.perf_counter()
        book = from_state(connection, state)
        times["build the book (incl. reading contacts)"] = time.perf_counter() - began
    began = time.perf_counter()
    html = book.render()
    times["render"] = time.perf_counter() - began
    began = time.perf_counter()
    page.write_text(html, encoding="utf-8")
    times["write"] = time.perf_counter() - began
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--data", type=Path, help="keep the generated folder here and reuse it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mutuality-report-bench-") as scratch:
        work = Path(scratch)
        folder = args.data or work / "crm"
        stamp = folder / f".generated-{args.contacts}"
        began = time.perf_counter()
        if not stamp.exists():
            replicate(folder, args.contacts)
            stamp.touch()
        activities = sum(1 for _ in (folder / "activities.csv").open()) - 1
        print(
            f"book: {args.contacts:,} contacts, {activities:,} activities "
            f"(ready in {time.perf_counter() - began:.1f} s)"
        )
        state = work / "state.sqlite"
        (folder / "scores.csv").unlink(missing_ok=True)
        for as_of in ("2026-03-31T00:00:00Z", "2026-06-30T00:00:00Z"):
            seconds = run("sync", "--path", str(folder), "--state", str(state), "--as-of", as_of,
                          "-q", cwd=work)  # fmt: skip
            print(f"sync as of {as_of}: {seconds:.1f} s")
        page = work / "report.html"
        seconds = run("report", "--path", str(folder), "--state", str(state),
                      "--output", str(page), cwd=work)  # fmt: skip
        size = page.stat().st_size
        verdict = "ok" if seconds < TARGET_SECONDS and size < TARGET_BYTES else "MISSED"
        print(
            f"mutuality report (from the state), whole command: {seconds:.2f} s, "
            f"page {size / 1e6:.2f} MB  [target < {TARGET_SECONDS:g} s, < 5 MB: {verdict}]"
        )
        for name, value in steps(folder, state, work / "report-steps.html").items():
            print(f"  {name}: {value:.3f} s")
        seconds = run("report", "--path", str(folder), "--state", str(state), "--as-of",
                      "2026-09-30T00:00:00Z", "--output", str(page), "-q", cwd=work)  # fmt: skip
        print(
            f"mutuality report --as-of (scores every contact again): {seconds:.2f} s, "
            f"page {page.stat().st_size / 1e6:.2f} MB"
        )


if __name__ == "__main__":
    main()
