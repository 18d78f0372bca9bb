"""Spark engine benchmark: the Spark path next to one process and next to Spark's own cost.

    python benchmarks/bench_spark.py                       # 1M activities, local[2]
    python benchmarks/bench_spark.py --large 10000000      # plus a 10M run (driver RSS, growth)
    python benchmarks/bench_spark.py --state 10000000      # the state store with 10M contacts
    python benchmarks/bench_spark.py --rounds 3 --skip-single  # the ratio, three times

Prints activities/s for (a) the Spark path (read CSV, shuffle on contact_id, score per
partition, write Parquet), (b) the single-process engine on the same file (files adapter
read + core scoring, one worker) and (c) Spark with no scoring (the same read, shuffle
and Parquet write), the ratio (a)/(c), and the CPU time of the partitions' Python work
alone, in this process (what scoring adds, free of Spark's and the machine's noise).
The data is generated (20 activities per
contact, seeded), never committed. Compare ratios from one run: the machine is shared.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AS_OF = datetime(2026, 3, 1, tzinfo=timezone.utc)
CHANNELS = ("email", "email", "email", "call", "meeting", "message", "note")
DIRECTIONS = ("outbound", "outbound", "inbound", "inbound", "mutual")
PER_CONTACT = 20


def generate(folder: Path, activities: int, seed: int = 7) -> None:
    """contacts.csv and activities.csv in the files adapter's format, rows shuffled."""
    rng = random.Random(seed)
    contacts = max(1, activities // PER_CONTACT)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("id", "email"))
        writer.writerows((f"c{n:08d}", f"p{n}@example.com") for n in range(contacts))
    start = AS_OF - timedelta(days=720)
    with (folder / "activities.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ("id", "contact_id", "occurred_at", "channel", "direction", "outcome", "thread_id",
             "duration_seconds", "automated", "tags")
        )  # fmt: skip
        block = []
        for n in range(activities):
            when = start + timedelta(seconds=rng.randrange(720 * 86_400))
            channel = rng.choice(CHANNELS)
            block.append(
                (f"a{n:09d}", f"c{rng.randrange(contacts):08d}",
                 when.strftime("%Y-%m-%dT%H:%M:%SZ"), channel, rng.choice(DIRECTIONS),
                 "completed", f"t{n // 3}" if channel == "email" else "",
                 str(rng.randrange(60, 3600)) if channel in ("call", "meeting") else "",
                 "true" if rng.random() < 0.05 else "false", "")
            )  # fmt: skip
            if len(block) == 100_000:
                writer.writerows(block)
                block = []
        writer.writerows(block)


def jvm_peak_mib(spark: object) -> float | None:
    """The driver JVM's peak resident memory (local mode: it runs the executors too)."""
    try:
        pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[attr-defined]
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except Exception:
        return None
    return None


def python_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, rows: int, run: object) -> float:
    began = time.perf_counter()
    run()  # type: ignore[operator]
    seconds = time.perf_counter() - began
    print(f"  {label:<52} {seconds:8.1f} s {rows / seconds:12,.0f} activities/s", flush=True)
    return seconds


def spark_runs(spark: object, folder: Path, rows: int, out: Path) -> tuple[float, float]:
    from mutuality_spark.frames import job_errors, published, scored_rows
    from mutuality_spark.inputs import read_input, write_table
    from pyspark.sql import functions as F

    def scoring() -> None:
        data = read_input(spark, str(folder))
        frame = scored_rows(data.activities, as_of=AS_OF, contacts=data.contacts)
        with job_errors():
            write_table(published(frame, AS_OF), str(out / "scores.parquet"))

    def no_scoring() -> None:
        data = read_input(spark, str(folder))
        shuffled = data.activities.repartition(F.trim(F.col("contact_id")))
        write_table(shuffled, str(out / "shuffled.parquet"))

    with_scoring = timed("Spark: read + shuffle + score + write Parquet", rows, scoring)
    without = timed("Spark: read + shuffle + write Parquet (no scoring)", rows, no_scoring)
    return with_scoring, without


def single_process(folder: Path, rows: int) -> float:
    from mutuality_adapters.files import connect

    from mutuality_core.sync import score_connection

    def run() -> None:
        connection = connect(folder, workers=1)
        try:
            for _ in score_connection(connection, None, as_of=AS_OF):
                pass
        finally:
            connection.close()

    return timed("one process: files adapter read + core scoring", rows, run)


def partition_cpu(folder: Path, rows: int, partitions: int = 2) -> float:
    """CPU seconds of the partitions' Python work alone, in this process (no Spark).

    The same input rows as Spark hands them to ``score_partition`` (every column text,
    empty cells null, activity and contact rows tagged), hash-split on contact_id into
    ``partitions`` like Spark's adaptive plan splits 1M activities on 2 cores. Spark's
    own costs do not enter, so this moves only with the scoring code.
    """
    import zlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pv
    from mutuality_spark.partition import INPUT_SCHEMA, PartitionOptions, score_partition

    from mutuality_core.config import ScoringConfig

    def tagged(name: str, kind: str, renamed: dict[str, str]) -> pa.Table:
        header = (folder / name).read_text().partition("\n")[0].split(",")
        table = pv.read_csv(
            folder / name,
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
            ),
        ).rename_columns([renamed.get(c, c) for c in header])
        n = table.num_rows
        return pa.table(
            {f.name: pa.array([kind] * n, pa.string()) if f.name == "kind"
             else table.column(f.name) if f.name in table.column_names
             else pa.nulls(n, f.type) for f in INPUT_SCHEMA},
            schema=INPUT_SCHEMA,
        )  # fmt: skip

    table = pa.concat_tables(
        [tagged("activities.csv", "a", {}), tagged("contacts.csv", "c", {"id": "contact_id"})]
    )
    ids = table.column("contact_id").to_pylist()
    bucket = np.array([zlib.crc32(i.encode()) % partitions for i in ids])
    parts = [table.filter(pa.array(bucket == p)).combine_chunks() for p in range(partitions)]
    options = PartitionOptions(
        as_of=AS_OF, config=ScoringConfig(), skip_invalid=False, has_contacts=True, diff=False
    )
    began = time.process_time()
    scored = sum(
        pc.sum(pc.equal(batch.column(0), "s")).as_py() or 0
        for part in parts
        for batch in score_partition(part, options)
    )
    seconds = time.process_time() - began
    print(f"  partition work alone, in one process ({partitions} partitions, {scored:,} "
          f"contacts): {seconds:.2f} s CPU, {rows / seconds:,.0f} activities/s per core",
          flush=True)  # fmt: skip
    return seconds


def bench_state(contacts: int, tmp: Path) -> None:
    """The state store at scale: record, page through, and ship written values to Spark."""
    from mutuality_adapters.sqlite_state import SQLiteStateStore

    from mutuality_core.ports import WrittenScore

    store = SQLiteStateStore(tmp / "state.sqlite")
    target = "bench:state"
    print(f"\nState store with {contacts:,} written contacts", flush=True)
    began = time.perf_counter()
    for start in range(0, contacts, 100_000):
        store.record_written(
            target,
            [
                WrittenScore(f"c{n:09d}", 50.0, "mutual", 0.1, 40.0, 0.8, "r", AS_OF)
                for n in range(start, min(contacts, start + 100_000))
            ],
        )
    print(f"  record_written in 100k batches: {time.perf_counter() - began:.1f} s")
    print(f"  state file size: {(tmp / 'state.sqlite').stat().st_size / 2**20:,.0f} MiB")
    began = time.perf_counter()
    written = store.written(target)
    print(f"  written() (a lazy view above 250k): {time.perf_counter() - began:.2f} s")
    began = time.perf_counter()
    count = sum(len(page) for page in written.decision_pages())  # type: ignore[attr-defined]
    print(f"  decision_pages over {count:,} rows: {time.perf_counter() - began:.1f} s")
    began = time.perf_counter()
    for n in range(0, contacts, max(1, contacts // 10_000)):
        written.get(f"c{n:09d}")
    print(f"  10,000 single lookups: {time.perf_counter() - began:.2f} s")
    print(f"  peak Python RSS so far: {python_peak_mib():,.0f} MiB", flush=True)
    from mutuality_spark import spark_session
    from mutuality_spark.source import written_frame

    spark = spark_session("local[2]", {"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    began = time.perf_counter()
    shipped = written_frame(spark, written, frozenset(), str(tmp / "staging")).count()
    jvm = jvm_peak_mib(spark)
    seconds = time.perf_counter() - began
    print(f"  staged {shipped:,} written values as Parquet for Spark: {seconds:.1f} s; peak RSS "
          f"Python {python_peak_mib():,.0f} MiB, driver JVM {jvm or 0:,.0f} MiB")  # fmt: skip
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=0, help="also run this many (e.g. 10M)")
    parser.add_argument("--state", type=int, default=0, help="state store with this many")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--skip-single", action="store_true")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="time the Spark path and Spark's no-scoring run this many times each, "
        "alternating, and print every round's ratio and the median (the machine is shared)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    tmp = Path(tempfile.mkdtemp(prefix="bench_spark_"))
    try:
        if args.state:
            bench_state(args.state, tmp)
        if not args.activities and not args.large:
            return
        from mutuality_spark import spark_session

        spark = spark_session(
            args.master,
            {"spark.ui.showConsoleProgress": "false", "spark.driver.memory": "2g"},
        )
        spark.sparkContext.setLogLevel("ERROR")
        warm = tmp / "warm"
        generate(warm, 20_000)
        spark_runs(spark, warm, 20_000, tmp / "warm_out")  # JIT, Python workers, imports
        results = {}
        for rows in [r for r in (args.activities, args.large) if r]:
            folder = tmp / f"crm{rows}"
            print(f"\n{rows:,} activities ({rows // PER_CONTACT:,} contacts), {args.master}")
            began = time.perf_counter()
            generate(folder, rows)
            size = (folder / "activities.csv").stat().st_size / 2**20
            print(f"  generated in {time.perf_counter() - began:.0f} s ({size:,.0f} MiB CSV)")
            ratios = []
            for round_ in range(1, args.rounds + 1):
                if args.rounds > 1:
                    print(f"  round {round_} of {args.rounds}")
                scored, plain = spark_runs(spark, folder, rows, tmp / f"out{rows}")
                ratios.append(plain / scored)
                print(f"  ratio Spark path / Spark no-scoring rate: {plain / scored:.0%} "
                      "(target >= 60%)")  # fmt: skip
            results[rows] = scored
            if len(ratios) > 1:
                shown = ", ".join(f"{r:.0%}" for r in ratios)
                print(f"  ratios: {shown}; median {statistics.median(ratios):.0%}")
            if rows <= 2_000_000:
                partition_cpu(folder, rows)
            if not args.skip_single and rows <= 2_000_000:
                single = single_process(folder, rows)
                print(f"  Spark path / one process rate: {single / scored:.2f}x")
            jvm = jvm_peak_mib(spark)
            jvm_text = "?" if jvm is None else f"{jvm:,.0f}"
            print(f"  peak RSS: Python driver {python_peak_mib():,.0f} MiB, driver JVM "
                  f"{jvm_text} MiB (local mode: it runs the executors too)")  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
            shutil.rmtree(tmp / f"out{rows}", ignore_errors=True)
        if len(results) == 2:
            (small, t_small), (large, t_large) = sorted(results.items())
            print(f"\nGrowth {small:,} -> {large:,} activities: time x{t_large / t_small:.1f} "
                  f"for x{large / small:.0f} the rows (per-activity cost "
                  f"x{(t_large / large) / (t_small / small):.2f})")  # fmt: skip
        spark.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        os.environ.pop("PYSPARK_PYTHON", None)


if __name__ == "__main__":
    main()
