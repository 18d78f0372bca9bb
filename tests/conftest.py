"""Fixtures shared across the test folders."""

from __future__ import annotations

import importlib.util

import pytest

ENGINES = ["python", "columnar"]


@pytest.fixture(params=ENGINES)
def files_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The files adapter's engine for this test (its default, as the setting would set it).

    Tests of worker processes run with the row parser only: the workers are its
    way of reading in parallel.
    """
    engine = request.param
    if engine == "columnar" and not all(importlib.util.find_spec(m) for m in ("numpy", "pyarrow")):
        pytest.skip("the columnar engine needs pip install 'mutuality[fast]'")
    if engine == "columnar" and "parallel" in request.module.__name__:
        pytest.skip("worker processes read row by row")
    from mutuality_adapters.files.source import FilesSource

    monkeypatch.setattr(FilesSource, "default_engine", engine)
    return engine
