"""One partition scored by the columnar engine and by the core's path: the same rows out."""

from __future__ import annotations

import sys
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
