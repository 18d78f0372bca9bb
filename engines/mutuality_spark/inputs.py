"""Finding the activities (and contacts) under a path: Parquet, CSV, or a files-adapter folder."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from mutuality_core.errors import InvalidInputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkInput", "read_input", "read_table", "write_table"]

_FORMATS = (".parquet", ".csv")


@attrs.frozen
class SparkInput:
    activities: DataFrame
    contacts: DataFrame | None
    names: tuple[str, str]


def _local(path: str) -> Path | None:
    """A local path, or None for a URI (s3://, dbfs:/, abfss://...) Spark resolves itself."""
    return None if ":/" in path else Path(path).expanduser()


def read_table(spark: SparkSession, path: str) -> DataFrame:
    """A .parquet or .csv file or folder (a folder of part files in either format)."""
    local = _local(path)
    fmt = next((f for f in _FORMATS if path.rstrip("/").endswith(f)), None)
    if fmt is None and local is not None and local.is_dir():
        found = {p.suffix for p in local.iterdir() if p.suffix in _FORMATS}
        fmt = ".parquet" if ".parquet" in found else ".csv" if ".csv" in found else None
    if local is not None and not local.exists():
        raise InvalidInputError(f"{path} does not exist; pass a .parquet or .csv file or folder")
    if fmt == ".csv":
        # every column as text, as the files adapter reads it; "" quotes as in RFC 4180
        return spark.read.csv(path, header=True, escape='"', inferSchema=False)
    if fmt == ".parquet" or local is None:
        return spark.read.parquet(path)
    raise InvalidInputError(
        f"{path}: no .parquet or .csv data found; pass a Parquet or CSV file or folder"
    )


def read_input(spark: SparkSession, path: str, contacts: str | None = None) -> SparkInput:
    """``path``: the activities, or a folder holding ``activities.*`` (and ``contacts.*``)."""
    local = _local(path)
    activities_path, contacts_path = path, contacts
    if local is not None and local.is_dir():
        named = {p.stem: p for p in local.iterdir() if p.suffix in _FORMATS}
        if "activities" in named:  # a files-adapter folder (CSV or Parquet)
            activities_path = str(named["activities"])
            if contacts_path is None and "contacts" in named:
                contacts_path = str(named["contacts"])
    names = (
        Path(activities_path.rstrip("/")).name,
        Path(contacts_path.rstrip("/")).name if contacts_path else "contacts",
    )
    return SparkInput(
        read_table(spark, activities_path),
        read_table(spark, contacts_path) if contacts_path else None,
        names,
    )


def write_table(frame: DataFrame, path: str) -> None:
    """Parquet unless ``path`` ends in .csv (then a folder of CSV part files with a header)."""
    writer = frame.write.mode("overwrite")
    if path.rstrip("/").endswith(".csv"):
        writer.csv(path, header=True, escape='"', timestampFormat="yyyy-MM-dd'T'HH:mm:ssXXX")
    else:
        writer.parquet(path)
