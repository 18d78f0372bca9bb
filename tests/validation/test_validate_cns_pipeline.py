"""The whole validation on a small synthetic study, through the real files adapter and engine."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cns_study import write_study


def _synthetic_study(folder: Path) -> Path:
    """40 people: talkative two-way pairs (mostly friends), thin one-way pairs (often not)."""
    rng = random.Random(11)
    calls, sms, friends = [], [], []
    people = list(range(40))
    for pair_index in range(70):
        a, b = rng.sample(people, 2)
        two_way = pair_index % 3 != 0
        friend = rng.random() < (0.85 if two_way else 0.5)
        if friend:
            friends.append(f"{a},{b}")
        start = rng.randrange(0, 20 * 86400)
        for k in range(rng.randrange(8, 30) if two_way else rng.randrange(1, 3)):
            sender, receiver = (a, b) if (not two_way or k % 2 == 0) else (b, a)
            at = start + k * rng.randrange(60, 20000)
            if k % 5 == 4:
                duration = -1 if k % 10 == 9 else rng.randrange(0, 600)
                calls.append(f"{at},{sender},{receiver},{duration}")
            else:
                sms.append(f"{at},{sender},{receiver}")
    friends.append("38,39")  # keeps both members of every pair in the Facebook layer
    friends += [f"{p},{(p + 1) % 40}" for p in people if f"{p},{(p + 1) % 40}" not in friends]
    return write_study(
        folder, calls="\n".join(calls) + "\n", sms="\n".join(sms) + "\n", friends="\n".join(friends)
    )


@pytest.fixture(scope="module")
def run(cns: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list, Path]:
    study = _synthetic_study(tmp_path_factory.mktemp("study"))
    results, rows = cns.validate(study)
    return results, rows, study


def test_every_pair_is_scored_labelled_and_mirrored(run: tuple[dict, list, Path]) -> None:
    results, rows, _ = run
    data = results["data"]
    assert data["pairs"] >= 60
    assert data["labelled_pairs"] == len(rows) == data["pairs"]
    assert data["friends"] == sum(r.friend for r in rows)
    assert data["counts_match_data_readme"] is False  # not the real study
    assert results["mirror"]["ok"], results["mirror"]["examples"]
    bands = results["all_labelled_pairs"]["bands"]
    assert sum(b["pairs"] for b in bands.values()) == len(rows)


def test_every_signal_gets_an_auc_inside_its_interval(run: tuple[dict, list, Path]) -> None:
    results, _, _ = run
    for table in ("all_labelled_pairs", "held_out_half"):
        for name, entry in results[table]["auc"].items():
            low, high = entry["ci95"]
            assert 0.0 <= low <= entry["auc"] <= high <= 1.0, (table, name)
    held = results["held_out_half"]
    assert any(name.startswith("combined: ") for name in held["auc"])
    assert held["pairs"] + results["tuning_half"]["pairs"] == len(run[1])


def test_one_way_pairs_are_told_apart_from_two_way_ones(run: tuple[dict, list, Path]) -> None:
    results, rows, _ = run
    patterns = results["all_labelled_pairs"]["traffic_patterns"]
    one_way = [r for r in rows if min(r.traffic.outbound, r.traffic.inbound) == 0]
    assert patterns["one-way"]["pairs"] == len(one_way)
    assert patterns["two-way"]["pairs"] == len(rows) - len(one_way)


def test_rerun_reproduces_the_results_text_and_check_docs_accepts_it(
    cns: ModuleType, run: tuple[dict, list, Path], tmp_path: Path
) -> None:
    results, _, study = run
    again, _ = cns.validate(study)
    assert cns.results_text(again) == cns.results_text(results)
    json_path = tmp_path / "results.json"
    doc_path = tmp_path / "validation.md"
    json_path.write_text(cns.results_text(results), encoding="utf-8")
    markers = [
        f"<!-- validate_cns:{key} -->\nold\n<!-- /validate_cns -->"
        for key in cns.doc_tables(results)
    ]
    doc_path.write_text("# Page\n\n" + "\n\ntext\n\n".join(markers), encoding="utf-8")
    assert len(cns.check_docs(again, json_path, doc_path)) == len(markers)
    doc_path.write_text(cns.update_doc_tables(doc_path.read_text(), results), encoding="utf-8")
    assert doc_path.read_text().startswith("# Page")
    assert "old" not in doc_path.read_text()
    assert cns.check_docs(again, json_path, doc_path) == []
    json_path.write_text(json.dumps({"stale": True}), encoding="utf-8")
    doc_path.write_text("no tables", encoding="utf-8")
    problems = cns.check_docs(again, json_path, doc_path)
    assert len(problems) == 1 + len(cns.doc_tables(results))


def test_main_writes_results_and_skips_or_draws_figures(
    cns: ModuleType, run: tuple[dict, list, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    _, _, study = run
    json_path = tmp_path / "out.json"
    doc_path = tmp_path / "page.md"
    doc_path.write_text("<!-- validate_cns:bands_all -->\n<!-- /validate_cns -->\n")
    args = ["--data", str(study), "--json", str(json_path), "--doc", str(doc_path)]
    assert cns.main([*args, "--no-plots", "--update-docs"]) == 0
    assert json.loads(json_path.read_text())["mirror"]["ok"] is True
    assert "| band | pairs |" in doc_path.read_text()
    assert "mirror check" in capsys.readouterr().out
    assert cns.main([*args, "--check-docs"]) == 1  # the page quotes only one of the tables
    assert "does not quote" in capsys.readouterr().err


def test_main_explains_a_wrong_folder(cns: ModuleType, tmp_path: Path, capsys) -> None:
    assert cns.main(["--data", str(tmp_path), "--json", str(tmp_path / "x.json")]) == 2
    assert "copenhagen-networks-study" in capsys.readouterr().err


def test_figures_are_drawn_when_matplotlib_is_there(
    cns: ModuleType, run: tuple[dict, list, Path], tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    results, rows, _ = run
    written = cns.plot_figures(results, cns.roc_curves(rows, cns.AS_OF), tmp_path / "img")
    assert [p.name for p in written] == [
        "validation_friend_rate_by_band.png",
        "validation_roc.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)


def test_figures_are_skipped_with_a_hint_without_matplotlib(
    cns: ModuleType,
    run: tuple[dict, list, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes the import fail
    results, rows, _ = run
    assert cns.plot_figures(results, cns.roc_curves(rows, cns.AS_OF), tmp_path / "img") == []
    assert "mutuality[validation]" in capsys.readouterr().err
    assert not (tmp_path / "img").exists()
