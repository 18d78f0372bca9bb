"""The README's Python examples run as written (from a folder holding the sample CRM)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text("utf-8"), re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_example_runs(index, tmp_path, monkeypatch, capsys):
    shutil.copytree(ROOT / "examples" / "sample_crm", tmp_path / "examples" / "sample_crm")
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.strip(), "each README example prints its result"
    assert "Traceback" not in printed


def test_ci_runs_exactly_the_readmes_test_command():
    """CI must check what a contributor is told to run: install, ruff, ruff format, mypy, pytest."""
    readme = (ROOT / "README.md").read_text("utf-8")
    quick_start = readme[readme.index("## Quick start") : readme.index("## Install")]
    commands = re.findall(r"```bash\n(.*?)\n```", quick_start, re.S)
    test_command = next(c for c in commands if "pytest" in c)
    for step in ("ruff check .", "ruff format --check .", "mypy", "python -m pytest"):
        assert step in test_command
    ci_lines = (ROOT / ".ci" / "run").read_text("utf-8").splitlines()
    # Verbatim, followed only by `|| exit $?` (set -e alone would go on after a failed step).
    assert f"{test_command} || exit $?" in ci_lines
