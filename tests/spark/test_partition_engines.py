"""One partition scored by the columnar engine and by the core's path: the same rows out."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest
from mutuality_adapters.files.rows import ACTIVITY_COLUMNS
from mutuality_spark.partition import INPUT_SCHEMA, PartitionOptions, score_partition

from mutuality_core.config import ScoringConfig

from .test_spark_scores import AS_OF, BAD_ROWS, SAMPLE


def partition(rows: pa.Table) -> pa.Table:
    n = rows.num_rows
    columns = {name: rows.column(name) for name in ACTIVITY_COLUMNS}
    columns |= {"kind": pa.array(["a"] * n), "email": pa.nulls(n, pa.string())}
    columns |= {name: pa.nulls(n, INPUT_SCHEMA.field(name).type)
                for name in ("written_score", "written_band", "written_algorithm",
                             "written_forced")}  # fmt: skip
    return pa.table(columns).select(INPUT_SCHEMA.names).cast(INPUT_SCHEMA)


def scored(table: pa.Table) -> list[dict[str, object]]:
    options = PartitionOptions(
        as_of=AS_OF, config=ScoringConfig(), skip_invalid=True, has_contacts=False, diff=False
    )
    out = pa.Table.from_batches(list(score_partition(table, options))).to_pylist()
    return sorted(out, key=lambda r: (r["kind"], r["id"] or "", r["reject_error"] or ""))


@pytest.mark.parametrize("source", ["sample", "bad rows"])
def test_columnar_and_core_partitions_are_equal(source, monkeypatch, tmp_path: Path):
    if source == "sample":
        rows = pv.read_csv(
            SAMPLE / "activities.csv",
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(ACTIVITY_COLUMNS, pa.string())
            ),
        )
    else:
        rows = pa.table({c: [r[i] for r in BAD_ROWS] for i, c in enumerate(ACTIVITY_COLUMNS)})
    table = partition(rows)
    import mutuality_columnar.stream as stream

    calls = []
    real = stream.compact_batches
    monkeypatch.setattr(stream, "compact_batches", lambda *a, **k: calls.append(1) or real(*a, **k))
    columnar = scored(table)
    assert calls, "the columnar engine scored the partition"
    monkeypatch.setitem(sys.modules, "mutuality_columnar.results", None)  # 'fast' not installed
    core = scored(table)
    assert len(calls) == 1
    assert columnar == core
    assert any(r["kind"] == "s" for r in core)
    if source == "bad rows":
        assert sum(r["kind"] == "r" for r in core) == 6  # c9 is a known contact here


def _bench_crm(folder: Path) -> tuple[pa.Table, pa.Table, datetime]:
    """A seeded CRM from benchmarks/bench_spark.py's generator, read as Spark reads CSV."""
    import importlib.util

    path = Path(__file__).parents[2] / "benchmarks" / "bench_spark.py"
    spec = importlib.util.spec_from_file_location("bench_spark_for_test", path)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate(folder, 6_000)

    def text(name: str) -> pa.Table:
        header = (folder / name).read_text().splitlines()[0].split(",")
        options = pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
        )
        return pv.read_csv(folder / name, convert_options=options)

    return text("activities.csv"), text("contacts.csv"), bench.AS_OF


def _with_kinds(activities: pa.Table, contacts: pa.Table, written: list[dict]) -> pa.Table:
    """One partition's input: activity, contact and written-value rows (INPUT_SCHEMA)."""
    parts = [partition(activities)]
    rows = [{"kind": "c", "contact_id": c["id"], "email": c["email"]} for c in contacts.to_pylist()]
    rows += [{"kind": "w", **w} for w in written]
    parts.append(pa.Table.from_pylist(rows, schema=INPUT_SCHEMA))
    return pa.concat_tables(parts)


def _both_engines(table: pa.Table, options: PartitionOptions, monkeypatch) -> tuple[list, list]:
    def run() -> list[dict[str, object]]:
        out = pa.Table.from_batches(list(score_partition(table, options))).to_pylist()
        return sorted(out, key=lambda r: (r["kind"], r["id"] or "", r["reject_error"] or ""))

    columnar = run()
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "mutuality_columnar.results", None)  # 'fast' not installed
        core = run()
    return columnar, core


def test_a_seeded_crm_with_contacts_and_written_values_gives_the_same_rows(
    monkeypatch, tmp_path: Path
):
    """Every output field of the column path equals the score-object path, diff included.

    Contacts without activities, unchanged and changed written values, a contact whose
    last write failed (forced) and a written contact that left the input.
    """
    activities, contacts, as_of = _bench_crm(tmp_path)
    extra = pa.table({"id": ["zz-quiet-1", "zz-quiet-2"], "email": ["q1@example.com", None]})
    contacts = pa.concat_tables([contacts, extra])
    plain = PartitionOptions(
        as_of=as_of, config=ScoringConfig(), skip_invalid=False, has_contacts=True, diff=False
    )
    columnar, core = _both_engines(_with_kinds(activities, contacts, []), plain, monkeypatch)
    assert columnar == core
    scores = [r for r in core if r["kind"] == "s"]
    assert len(scores) == contacts.num_rows and all(r["reasons"] for r in scores)
    assert len({r["band"] for r in scores}) >= 3  # a spread of bands, not one

    written = []
    for n, row in enumerate(scores):
        same = n % 3 != 0  # every third changed band: to be written
        written.append(
            {"contact_id": row["id"], "written_score": row["exact_score"],
             "written_band": row["band"] if same else "unknown_band",
             "written_algorithm": row["algorithm"], "written_forced": n % 7 == 1}
        )  # fmt: skip
    written.append(
        {"contact_id": "gone", "written_score": 1.0, "written_band": "mutual",
         "written_algorithm": scores[0]["algorithm"], "written_forced": False}
    )  # fmt: skip
    diff = PartitionOptions(
        as_of=as_of, config=ScoringConfig(), skip_invalid=False, has_contacts=True, diff=True
    )
    columnar, core = _both_engines(_with_kinds(activities, contacts, written), diff, monkeypatch)
    assert columnar == core
    by_id = {r["id"]: r for r in core if r["kind"] == "s"}
    for n, row in enumerate(scores):
        changed = n % 3 == 0 or n % 7 == 1
        assert by_id[row["id"]]["changed"] is changed, row["id"]
        # only a row to write carries its reasons, the same as without the diff
        expected = (row["reasons"], row["exact_reasons"]) if changed else (None, None)
        assert (by_id[row["id"]]["reasons"], by_id[row["id"]]["exact_reasons"]) == expected
    assert [r["id"] for r in core if r["kind"] == "x"] == ["gone"]
