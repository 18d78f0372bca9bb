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
    for pair_index in range(24):  # month-long pairs, so the time windows have something to see
        a, b = rng.sample(people, 2)
        if pair_index % 4 == 3:
            friends.append(f"{a},{b}")
        for day in range(28):
            at = day * 86400 + rng.randrange(3600, 80000)
            if pair_index % 3 == 0:  # a writes every day and b never answers
                sms.append(f"{at},{a},{b}")
            elif pair_index % 3 == 1 or day < 14:  # both write every day (all month or half)
                sms.append(f"{at},{a},{b}")
                sms.append(f"{at + 600},{b},{a}")
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
        f"<!-- validate_cns:{key} -->\nSTALE TABLE\n<!-- /validate_cns -->"
        for key in cns.doc_tables(results)
    ]
    doc_path.write_text("# Page\n\n" + "\n\ntext\n\n".join(markers), encoding="utf-8")
    assert len(cns.check_docs(again, json_path, doc_path)) == len(markers)
    doc_path.write_text(cns.update_doc_tables(doc_path.read_text(), results), encoding="utf-8")
    assert doc_path.read_text().startswith("# Page")
    assert "STALE TABLE" not in doc_path.read_text()
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


def _window_counts(interactions: list, start_day: int, end_day: int) -> dict[str, list[int]]:
    """[records from the lower id, records from the higher id] per pair, counted by hand."""
    counts: dict[str, list[int]] = {}
    for i in interactions:
        if start_day * 86400 <= i.at_seconds < end_day * 86400:
            low, high = sorted((i.sender, i.receiver))
            counts.setdefault(f"{low}-{high}", [0, 0])[i.sender == high] += 1
    return counts


def test_test_retest_uses_the_pairs_busy_in_both_halves(
    cns: ModuleType, run: tuple[dict, list, Path]
) -> None:
    results, _, study = run
    interactions = cns.load_interactions(study)
    early, late = _window_counts(interactions, 0, 14), _window_counts(interactions, 14, 28)
    busy = [cid for cid in early if cid in late and sum(early[cid]) >= 5 and sum(late[cid]) >= 5]
    groups = results["test_retest"]["groups"]
    assert groups["all pairs"]["pairs"] == len(busy) > 3
    assert groups["tuning half"]["pairs"] == sum(cns.is_tuning_half(cid) for cid in busy)
    assert groups["tuning half"]["pairs"] + groups["held-out half"]["pairs"] == len(busy)
    ceiling = groups["all pairs"]["spearman"]["raw min/max ratio, days 0-14"]
    ratio = [min(early[cid]) / max(early[cid]) for cid in busy]
    later = [min(late[cid]) / max(late[cid]) for cid in busy]
    assert ceiling["rho"] == pytest.approx(cns.spearman(ratio, later), abs=5e-4)
    low, high = ceiling["ci95"]
    assert low <= ceiling["rho"] <= high


def test_prediction_counts_who_hears_back_after_day_21(
    cns: ModuleType, run: tuple[dict, list, Path]
) -> None:
    results, _, study = run
    interactions = cns.load_interactions(study)
    before, after = _window_counts(interactions, 0, 21), _window_counts(interactions, 21, 28)
    heard = {cid for cid, (_, inbound) in after.items() if inbound}
    everyone = results["prediction"]["groups"]["all pairs"]
    assert everyone["pairs"] == len(before)
    assert everyone["heard_back"] == len(heard & set(before)) > 0
    assert sum(b["pairs"] for b in everyone["bands"].values()) == len(before)
    assert 0.0 <= everyone["auc"]["score"]["ci95"][0] <= everyone["auc"]["score"]["auc"] <= 1.0


def test_one_sided_bands_hear_back_as_they_say(run: tuple[dict, list, Path]) -> None:
    # the month-long one-way pairs: seen from the writer nobody answers, seen from the
    # silent side the other one writes every day
    bands = run[0]["prediction"]["groups"]["all pairs"]["bands"]
    you_more, they_more = bands["you_invest_more"], bands["they_invest_more"]
    assert you_more["pairs"] > 0 and you_more["heard_back"] == 0
    assert they_more["pairs"] > 0 and they_more["heard_back"] == they_more["pairs"]
    assert run[0]["prediction"]["mutual_above_you_invest_more"]["testable"] is False


def test_every_setting_tried_is_measured_on_the_tuning_half(
    cns: ModuleType, run: tuple[dict, list, Path]
) -> None:
    results, _, _ = run
    variants = results["tuning_half"]["config_variants"]
    assert list(variants) == list(cns.CONFIG_VARIANTS)
    for name, variant in variants.items():
        assert 0.0 <= variant["score_auc"] <= 1.0, name
        assert -1.0 <= variant["test_retest_spearman"] <= 1.0, name
        assert results["mirror_under_other_settings"][name]["ok"], name
    # only credits_per_observation changes the score; band thresholds leave it alone
    base = variants["defaults"]
    assert variants["mutual_min_probability=0.9"]["score_auc"] == base["score_auc"]
    assert variants["credits_per_observation=1"]["score_auc"] != base["score_auc"]


def test_targets_restate_the_measured_figures(run: tuple[dict, list, Path]) -> None:
    results, _, _ = run
    targets = results["targets"]
    held = results["held_out_half"]["auc"]["score"]["auc"]
    retest = results["test_retest"]["groups"]["all pairs"]["spearman"]["score, days 0-14"]["rho"]
    predicted = results["prediction"]["groups"]["all pairs"]["auc"]["score"]["auc"]
    assert targets["friendship_auc_held_out_at_least_0_60"] is (held >= 0.60)
    assert targets["test_retest_at_least_0_25"] is (retest >= 0.25)
    assert targets["prediction_auc_at_least_0_5"] is (predicted >= 0.5)
    assert targets["mutual_hears_back_clearly_more_than_you_invest_more"] is None
