"""docs/validation.md quotes the committed results exactly (checkable without the data)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_results_table_is_quoted_verbatim_in_the_docs(cns: ModuleType) -> None:
    results = json.loads((DOCS / "validation_results.json").read_text(encoding="utf-8"))
    page = (DOCS / "validation.md").read_text(encoding="utf-8")
    for key, (title, table) in cns.doc_tables(results).items():
        assert f"<!-- validate_cns:{key} -->\n{table}\n<!-- /validate_cns -->" in page, title


def test_the_docs_figures_exist_and_the_data_is_attributed(cns: ModuleType) -> None:
    page = (DOCS / "validation.md").read_text(encoding="utf-8")
    for name in ("validation_friend_rate_by_band.png", "validation_roc.png"):
        assert f"img/{name}" in page
        assert (DOCS / "img" / name).read_bytes().startswith(b"\x89PNG")
    assert "doi:10.1038/s41597-019-0325-x" in page
    assert "doi:10.6084/m9.figshare.7267433" in page


def test_committed_results_are_in_the_scripts_own_format(cns: ModuleType) -> None:
    """Only the format: that the numbers match the data needs the data (--check-docs)."""
    text = (DOCS / "validation_results.json").read_text(encoding="utf-8")
    results = json.loads(text)
    assert cns.results_text(results) == text
    assert results["mirror"]["ok"] is True
    assert all(check["ok"] for check in results["mirror_under_other_settings"].values())
    assert results["data"]["source"] == cns.CITATION


def test_the_readme_credits_the_data_where_it_quotes_results() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("Copenhagen Networks Study")
    section = readme[start : start + 2500]
    assert "Sapiezynski" in section and "doi:10.1038/s41597-019-0325-x" in section
