"""Benchmark the scoring core on a seeded synthetic CRM.

Builds ``--contacts`` contacts with ``--activities`` activities in total (default
50,000 and 1,000,000), shuffles them, then times ``score_activities`` over all of
them. Building the Activity objects is not timed (it is the adapters' cost).

Prints activities scored per second for the pure-Python core and the columnar engine
side by side (``--engines``), and the peak resident set size of the whole process
(input included), read with ``resource.getrusage`` after the run. Targets: issue 2,
the core >= 500,000 activities/s on one core and < 1 GiB peak; issue 10, the columnar
engine >= 2,000,000 activities/s including the fields the sync's diff needs; issue 9,
score 2.0 not slower than 1.0 on the same run. ``--sizes 100000,1000000,3000000`` runs
each size in its own process.

``--baseline DIR`` also times the core of another checkout (a child process that
imports DIR's ``mutuality_core``) on the same seeded input, and prints both side by
side with the ratio of their CPU times; ``--rounds N`` alternates the two N times
(the machine is shared: compare within a round). For 1.0 against this checkout:

    git worktree add ../base10 1fd2441              # the last 1.0 commit
    python benchmarks/bench_core.py --engines python --baseline ../base10 --rounds 3

    python benchmarks/bench_core.py                 # the full run
    python benchmarks/bench_core.py --activities 200000 --contacts 10000 --profile
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import inspect
import os
import pstats
import random
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from mutuality_core import Activity, score_activities

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)
PROFILES = ("balanced", "you_chase", "they_chase", "dormant", "meetings", "sparse")


def _contact_history(rng: random.Random, cid: str, count: int) -> list[Activity]:
    """About ``count`` activities of one synthetic relationship, threads and all."""
    profile = rng.choice(PROFILES)
    out: list[Activity] = []
    horizon = 720.0 if profile == "dormant" else 365.0
    offset = 400.0 if profile == "dormant" else 0.0
    n = 0
    while len(out) < count:
        n += 1
        thread = f"{cid}-t{n}"
        start = AS_OF - timedelta(days=offset + rng.random() * horizon)
        if profile == "you_chase":
            first, reply_p = "outbound", 0.2
        elif profile == "they_chase":
            first, reply_p = "inbound", 0.2
        else:
            first, reply_p = rng.choice(("outbound", "inbound")), 0.8
        if profile == "meetings" and rng.random() < 0.5:
            outcome = rng.choice(("completed", "completed", "no_show", "canceled"))
            channel = rng.choice(("meeting", "call"))
            out.append(
                Activity(f"{thread}-m", cid, start, channel, first, outcome=outcome, thread_id=None)
            )
            continue
        when = start
        side = first
        for k in range(rng.randint(1, 4)):
            automated = rng.random() < 0.03
            tags = "ask" if rng.random() < 0.02 else ("give" if rng.random() < 0.02 else None)
            out.append(
                Activity(
                    f"{thread}-{k}",
                    cid,
                    when,
                    "email",
                    side,
                    thread_id=thread,
                    automated=automated,
                    tags=tags,
                )
            )
            if rng.random() > reply_p:
                break
            when = when + timedelta(hours=rng.expovariate(1 / 20.0))
            side = "inbound" if side == "outbound" else "outbound"
    return out[:count]


def build(contacts: int, activities: int, seed: int) -> list[Activity]:
    rng = random.Random(seed)
    per = activities // contacts
    extra = activities - per * contacts
    history: list[Activity] = []
    for i in range(contacts):
        history.extend(_contact_history(rng, f"c{i:06d}", per + (1 if i < extra else 0)))
    rng.shuffle(history)
    return history


def peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0 / 1024.0


def columnar_figures(history: list[Activity], repeat: int) -> None:
    """The columnar engine on the same activities, in the same run (issue 10).

    Timed from columns (the engine's input: the files adapter and Spark hand it
    Arrow tables; turning the objects into a table is timed separately, as is the
    hook that ``score_activities`` uses for a list of objects).
    """
    try:
        from mutuality_columnar import score_valid
        from mutuality_columnar.codes import activities_table
    except ImportError as exc:
        print(f"columnar engine not available ({exc}); pip install 'mutuality[fast]'")
        return
    n = len(history)
    c0 = time.process_time()
    table = activities_table(history)
    to_table = time.process_time() - c0
    best_cpu = best_wall = best_columns = best_reasons = best_objects = float("inf")
    for _ in range(repeat):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        scored = score_valid(table, as_of=AS_OF)
        # the fields the sync's diff needs: every contact's score and band
        bands = Counter(scored.band_values())
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        # every published number as Arrow columns (what a writer gets), no reasons
        c0 = time.process_time()
        scored.to_table(reasons=False)
        best_columns = min(best_columns, time.process_time() - c0)
        # the reasons of every contact, from the arrays (the scores file's reasons column)
        c0 = time.process_time()
        scored.reason_texts()
        best_reasons = min(best_reasons, time.process_time() - c0)
        # a whole score object (components too) for every contact, as before
        scored = score_valid(table, as_of=AS_OF)
        c0 = time.process_time()
        for k in range(len(scored)):
            scored.score(k)
        best_objects = min(best_objects, time.process_time() - c0)
    contacts = len(scored)
    print(
        f"columnar engine: {n:,} activities scored (score and band of every contact) in "
        f"{best_wall:.2f} s wall, {best_cpu:.2f} s CPU: {n / best_wall:,.0f} activities/s "
        f"(wall), {n / best_cpu:,.0f} activities/s (CPU); target >= 2,000,000"
    )
    total = best_cpu + best_columns
    print(
        f"  with every published number as Arrow columns (no reasons): {total:.2f} s CPU, "
        f"{n / total:,.0f} activities/s (CPU)"
    )
    total += best_reasons
    print(
        f"  with reasons built for every contact too: {total:.2f} s CPU, {n / total:,.0f} "
        f"activities/s (CPU); reasons {best_reasons / contacts * 1e6:.0f} us a contact"
    )
    total = best_cpu + best_objects
    print(
        f"  with a score object (components, reasons) for every contact instead: {total:.2f} "
        f"s CPU, {n / total:,.0f} activities/s (CPU); {best_objects / contacts * 1e6:.0f} us "
        "a contact"
    )
    c0 = time.process_time()
    for _ in score_activities(history, as_of=AS_OF, engine="columnar"):
        pass
    hook = time.process_time() - c0
    print(
        f"  score_activities(engine='columnar') from Activity objects, all objects built: "
        f"{hook:.2f} s CPU, {n / hook:,.0f} activities/s (turning objects into a table: "
        f"{to_table:.2f} s)"
    )
    print(f"  bands: {dict(sorted(bands.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--activities", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260601)
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the best is kept")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one run")
    parser.add_argument(
        "--engines",
        default="python,columnar",
        help="comma-separated: python (the reference core), columnar (default both)",
    )
    parser.add_argument(
        "--baseline", metavar="SRC", help="also time the mutuality_core of checkout SRC"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --baseline: time the baseline and this checkout one after the other "
        "this many times, printing each round's ratio",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated activity counts run one after the other in child processes "
        "(contacts = activities / 20), e.g. 100000,1000000,3000000",
    )
    args = parser.parse_args()
    if args.sizes:
        for size in args.sizes.split(","):
            command = [sys.executable, __file__, "--activities", size, "--contacts",
                       str(int(size) // 20), "--repeat", str(args.repeat), "--engines",
                       args.engines]  # fmt: skip
            print(f"== {int(size):,} activities", flush=True)
            subprocess.run(command, check=True)
        return
    engines = args.engines.split(",")
    baseline = _run_baseline(args.baseline, sys.argv[1:]) if args.baseline else None

    t0 = time.perf_counter()
    history = build(args.contacts, args.activities, args.seed)
    built = time.perf_counter() - t0
    print(f"built {len(history):,} activities for {args.contacts:,} contacts in {built:.1f} s")
    print(f"peak RSS after building the input: {peak_rss_mib():,.0f} MiB")
    if "python" in engines:
        best_cpu = python_figures(history, args)
        if baseline is not None:
            ratios = [_side_by_side(baseline, best_cpu, len(history), args.repeat, 1)]
            for round_ in range(2, args.rounds + 1):
                print(f"\n== round {round_} of {args.rounds}", flush=True)
                baseline = _run_baseline(args.baseline, sys.argv[1:])
                best_cpu = python_figures(history, args)
                ratios.append(_side_by_side(baseline, best_cpu, len(history), args.repeat, round_))
            if len(ratios) > 1:
                shown = ", ".join(f"{r:.2f}" for r in ratios)
                median = statistics.median(ratios)
                print(f"new/old time in each round: {shown} (median {median:.2f})")
    if "columnar" in engines:
        columnar_figures(history, args.repeat)
    print(f"peak RSS of the whole process (input included): {peak_rss_mib():,.0f} MiB")


def _side_by_side(
    baseline: tuple[str, float], best_cpu: float, n: int, repeat: int, round_: int
) -> float:
    """Print the baseline's and this checkout's CPU time of one round; return new/old."""
    from mutuality_core import ALGORITHM_VERSION

    old_version, old_cpu = baseline
    print(
        f"\nside by side (round {round_}, CPU, best of {repeat}): {old_version} "
        f"{old_cpu:.2f} s ({n / old_cpu:,.0f}/s), {ALGORITHM_VERSION} {best_cpu:.2f} s "
        f"({n / best_cpu:,.0f}/s): new/old time = {best_cpu / old_cpu:.2f}",
        flush=True,
    )
    return best_cpu / old_cpu


def _python_scores(history: list[Activity]) -> list:
    """The reference core's scores (``engine="python"`` where the core has engines)."""
    if "engine" in inspect.signature(score_activities).parameters:
        return list(score_activities(history, as_of=AS_OF, engine="python"))
    return list(score_activities(history, as_of=AS_OF))  # a --baseline checkout


def python_figures(history: list[Activity], args: argparse.Namespace) -> float:
    """The pure-Python reference core (``engine="python"``); returns its best CPU time."""
    # a floor for comparison: one touch of every activity's timestamp, in the same run
    t0 = time.process_time()
    for a in history:
        a.occurred_at.timestamp()
    floor = time.process_time() - t0

    best_wall = best_cpu = float("inf")
    bands: Counter[str] = Counter()
    for _ in range(args.repeat):
        gc.collect()
        w0, c0 = time.perf_counter(), time.process_time()
        scores = _python_scores(history)
        best_wall = min(best_wall, time.perf_counter() - w0)
        best_cpu = min(best_cpu, time.process_time() - c0)
        bands = Counter(s.band.value for s in scores)
        del scores
    n = len(history)
    print(
        f"python engine: scored {n:,} activities in {best_wall:.2f} s wall, {best_cpu:.2f} s "
        f"CPU: {n / best_wall:,.0f} activities/s (wall), {n / best_cpu:,.0f} activities/s (CPU)"
    )

    # The same run with automatic garbage collection paused, as a batch job may do: the
    # difference is the cyclic collector walking the million-object input and the scores.
    paused_cpu = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(args.repeat):
            c0 = time.process_time()
            scores = _python_scores(history)
            paused_cpu = min(paused_cpu, time.process_time() - c0)
            del scores
    finally:
        gc.enable()
    print(
        f"  with automatic garbage collection paused: {paused_cpu:.2f} s CPU, "
        f"{n / paused_cpu:,.0f} activities/s (CPU)"
    )
    print(f"  (reading each activity's timestamp once takes {floor:.2f} s CPU)")
    print(f"  bands: {dict(sorted(bands.items()))}")

    # the same work on a small CRM that stays in the CPU caches: the gap to the full run
    # is memory latency (a shuffled million-object input), not Python work
    small = build(1_000, 20_000, args.seed + 1)
    best_small = float("inf")
    for _ in range(5):
        c0 = time.process_time()
        _python_scores(small)
        best_small = min(best_small, time.process_time() - c0)
    print(
        f"  in-cache comparison: {len(small):,} activities of 1,000 contacts at "
        f"{len(small) / best_small:,.0f} activities/s (CPU)"
    )
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in score_activities(history, as_of=AS_OF, engine="python"):
            pass
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
    return best_cpu


def _run_baseline(source: str, argv: list[str]) -> tuple[str, float]:
    """Run this script against ``source``'s core; return (its algorithm, its CPU seconds)."""
    args = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--baseline":
            skip = True
        elif not arg.startswith("--baseline="):
            args.append(arg)
    args += ["--engines", "python"]  # the other checkout's core is the python engine
    # An editable install's import hook would find this checkout's core first: drop it,
    # put ``source`` first on the path, then run this very script.
    boot = (
        "import runpy, sys; "
        "sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {os.path.abspath(source)!r}); "
        "import mutuality_core as m; "
        f"assert m.__file__.startswith({os.path.abspath(source)!r}), m.__file__; "
        "print('baseline:', m.ALGORITHM_VERSION, m.__file__, flush=True); "
        f"sys.argv = [{__file__!r}, *sys.argv[1:]]; "
        f"runpy.run_path({__file__!r}, run_name='__main__')"
    )
    child = subprocess.run(
        [sys.executable, "-c", boot, *args], capture_output=True, text=True, check=False
    )
    if child.returncode:
        raise SystemExit(f"--baseline {source} failed:\n{child.stderr[-2000:]}")
    version = child.stdout.split(None, 3)[1]
    print("".join(f"  [baseline] {line}\n" for line in child.stdout.splitlines()), flush=True)
    found = re.search(r"in [0-9.]+ s wall, ([0-9.]+) s CPU", child.stdout)
    if not found:
        raise SystemExit("--baseline: the child printed no timing line")
    return version, float(found.group(1))


if __name__ == "__main__":
    main()
