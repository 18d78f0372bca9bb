"""Every files-adapter test runs with both engines: the row parser and the columnar engine.

The columnar engine reads, checks and scores in columns, and hands every row it
cannot accept outright to the row parser; these tests hold it to the same errors,
``file:line`` positions, rejects and scores (see ``files_engine`` in tests/conftest.py).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _each_engine(files_engine: str) -> str:
    return files_engine
