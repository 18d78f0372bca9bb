"""The built wheel: only our own top-level packages, and it works in a fresh virtualenv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUR_PACKAGES = {
    "mutuality_core",
    "mutuality_adapters",
    "mutuality_cli",
    "mutuality_testkit",
    "mutuality_spark",
    "mutuality_report",
    "mutuality_columnar",
}
SKIP_DIRS = {".venv", ".git", "build", "dist", "__pycache__", ".pytest_cache", ".ruff_cache"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in SKIP_DIRS or n.endswith((".egg-info", ".sqlite"))}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the tree so parallel work in the checkout is never disturbed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=_ignore)
    out = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)],
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    )
    [built] = out.glob("mutuality-*.whl")
    return built


def test_wheel_holds_only_our_top_level_names(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in top_level if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and next(iter(dist_info)).startswith("mutuality-")
    assert top_level - dist_info == OUR_PACKAGES
    for package in OUR_PACKAGES:
        assert f"{package}/py.typed" in names
    assert "mutuality_cli/main.py" in names
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read(f"{next(iter(dist_info))}/entry_points.txt").decode()
    assert "mutuality = mutuality_cli.main:cli" in entry_points
    assert "files = mutuality_adapters.files:plugin" in entry_points


def _setuptools_config() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def _package_files() -> dict[str, Path]:
    """Every file under our packages' source folders, by its path inside the wheel."""
    package_dir = _setuptools_config()["package-dir"]
    files = {}
    for package in OUR_PACKAGES:
        folder = ROOT / package_dir.get(package, package)
        for path in folder.rglob("*"):
            parts = path.relative_to(folder).parts
            if path.is_file() and not set(parts) & SKIP_DIRS and path.suffix != ".pyc":
                files[f"{package}/{'/'.join(parts)}"] = path
    return files


def test_wheel_ships_every_file_of_our_packages(wheel):
    """A data file a package needs (a template, an asset) that package-data misses fails here."""
    with zipfile.ZipFile(wheel) as archive:
        shipped = {n for n in archive.namelist() if n.split("/", 1)[0] in OUR_PACKAGES}
    source = set(_package_files())
    assert source - shipped == set(), "in the source tree but not in the wheel: add to package-data"
    assert shipped - source == set(), "in the wheel but not in the source tree"


def test_package_data_declares_only_files_that_exist():
    """No stale globs: each package-data pattern matches a file of the packages it names."""
    files = _package_files()
    for package, patterns in _setuptools_config()["package-data"].items():
        owners = OUR_PACKAGES if package == "*" else {package}
        for pattern in patterns:
            matches = [
                name for name, path in files.items()
                if name.split("/", 1)[0] in owners and path.match(pattern)
            ]  # fmt: skip
            assert matches, f"package-data {package!r}: {pattern!r} matches no file"


@pytest.mark.slow
def test_wheel_works_in_a_fresh_virtualenv(wheel, tmp_path):
    """Installed with --no-deps; its dependencies are borrowed from this venv without downloads."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    new_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # A plain path entry: the outer site-packages' own .pth files (our editable install) are
    # not processed, so only the wheel's copy of our packages can be imported.
    Path(new_site, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MUTUALITY_", "PYTHON"))}
    where = subprocess.run(
        [str(python), "-c", "import mutuality_core, mutuality_cli; print(mutuality_core.__file__)"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.strip()
    assert where.startswith(new_site), where

    mutuality = bin_dir / "mutuality"
    help_run = subprocess.run(
        [str(mutuality), "--help"], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert help_run.returncode == 0, help_run.stderr
    assert "Exit codes:" in help_run.stdout

    listing = subprocess.run(
        [str(mutuality), "adapters", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert listing.returncode == 0, listing.stderr
    adapters = {a["name"]: a for a in json.loads(listing.stdout)}
    assert adapters["files"]["status"] == "ok", adapters["files"]
    assert adapters["files"]["distribution"] == "mutuality"
