"""The validation's statistics: AUC, bootstrap, intervals, ROC and the mirror check."""

from __future__ import annotations

import itertools
import random
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def test_auc_perfect_reversed_and_tied(cns: ModuleType) -> None:
    assert cns.auc([5, 6, 7], [1, 2]) == 1.0
    assert cns.auc([1, 2], [5, 6, 7]) == 0.0
    assert cns.auc([3, 3], [3, 3, 3]) == 0.5


def test_auc_hand_computed_case_with_a_tie(cns: ModuleType) -> None:
    # 0.8 beats all three negatives (3); 0.4 ties 0.4 (0.5) and beats 0.1 (1) -> 4.5 / 6
    assert cns.auc([0.8, 0.4], [0.5, 0.4, 0.1]) == pytest.approx(0.75)


def test_auc_needs_both_classes(cns: ModuleType) -> None:
    with pytest.raises(ValueError, match="positive and one negative"):
        cns.auc([1.0], [])


def _pairwise_auc(pos: list[float], neg: list[float]) -> float:
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=60, deadline=None)
@given(
    pos=st.lists(st.integers(0, 6), min_size=1, max_size=12),
    neg=st.lists(st.integers(0, 6), min_size=1, max_size=12),
    weights_seed=st.integers(0, 10_000),
)
def test_weighted_auc_equals_pairwise_count_on_the_expanded_sample(
    cns: ModuleType, pos: list[int], neg: list[int], weights_seed: int
) -> None:
    values = [float(v) for v in pos + neg]
    labels = [True] * len(pos) + [False] * len(neg)
    rng = random.Random(weights_seed)
    weights = [rng.randint(1, 3) for _ in values]
    expanded_pos = [
        v for v, lab, w in zip(values, labels, weights, strict=True) if lab for _ in range(w)
    ]
    expanded_neg = [
        v for v, lab, w in zip(values, labels, weights, strict=True) if not lab for _ in range(w)
    ]
    got = cns._weighted_auc(cns.sorted_groups(values, labels), weights)
    assert got == pytest.approx(_pairwise_auc(expanded_pos, expanded_neg))
    assert cns.auc(pos, neg) == pytest.approx(_pairwise_auc(pos, neg))


def test_stratified_resamples_are_seeded_and_keep_class_sizes(cns: ModuleType) -> None:
    labels = [True] * 7 + [False] * 3
    first = cns.stratified_resamples(labels, n=50, seed=1)
    again = cns.stratified_resamples(labels, n=50, seed=1)
    other = cns.stratified_resamples(labels, n=50, seed=2)
    assert first == again
    assert first != other
    for counts in first:
        assert sum(counts[:7]) == 7
        assert sum(counts[7:]) == 3


def test_bootstrap_interval_brackets_the_point_estimate_and_is_reproducible(
    cns: ModuleType,
) -> None:
    rng = random.Random(0)
    labels = [True] * 40 + [False] * 15
    signal = [rng.gauss(1.0 if lab else 0.0, 1.0) for lab in labels]
    resamples = cns.stratified_resamples(labels, n=300, seed=7)
    results, reps = cns.bootstrap_aucs({"s": signal}, labels, resamples)
    again, _ = cns.bootstrap_aucs(
        {"s": signal}, labels, cns.stratified_resamples(labels, n=300, seed=7)
    )
    result = results["s"]
    assert result == again["s"]
    assert result.low < result.auc < result.high
    assert len(reps["s"]) == 300
    pos = [v for v, lab in zip(signal, labels, strict=True) if lab]
    neg = [v for v, lab in zip(signal, labels, strict=True) if not lab]
    assert result.auc == pytest.approx(cns.auc(pos, neg))


def test_quantile_interpolates_linearly(cns: ModuleType) -> None:
    assert cns.quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert cns.quantile([1.0, 2.0, 3.0, 4.0], 0.0) == 1.0
    assert cns.quantile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0
    assert cns.quantile([0.0, 10.0], 0.025) == pytest.approx(0.25)


def test_wilson_interval_textbook_values(cns: ModuleType) -> None:
    low, high = cns.wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert cns.wilson_interval(0, 5)[0] == 0.0
    assert cns.wilson_interval(5, 5)[1] == pytest.approx(1.0)
    assert cns.wilson_interval(0, 0) == (0.0, 1.0)


def test_friend_rate_by_band_counts_every_band(cns: ModuleType) -> None:
    bands = ["mutual", "mutual", "mutual", "you_invest_more", "dormant"]
    friends = [True, True, False, False, True]
    rates = cns.friend_rate_by_band(bands, friends)
    assert list(rates) == list(cns.BAND_ORDER)
    assert (rates["mutual"].pairs, rates["mutual"].friends) == (3, 2)
    assert rates["mutual"].rate == pytest.approx(2 / 3)
    assert rates["you_invest_more"].rate == 0.0
    assert rates["they_invest_more"].pairs == 0
    assert rates["they_invest_more"].rate is None


def test_roc_curve_runs_corner_to_corner_and_its_area_is_the_auc(cns: ModuleType) -> None:
    pos = [0.9, 0.7, 0.7, 0.3]
    neg = [0.7, 0.2, 0.1]
    points = cns.roc_points(pos, neg)
    assert points[0] == (0.0, 0.0)
    assert points[-1] == (1.0, 1.0)
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in itertools.pairwise(points))
    area = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(points))
    assert area == pytest.approx(cns.auc(pos, neg))


def _row(cns: ModuleType, score: float, lean: float, band: str) -> object:
    return cns.ScoreRow(score=score, lean=lean, strength=40.0, band=band, confidence=0.5)


def test_mirror_check_accepts_swapped_bands_and_negated_lean(cns: ModuleType) -> None:
    first = {"1-2": _row(cns, 30, -0.6, "you_invest_more"), "1-3": _row(cns, 90, 0.0, "mutual")}
    second = {"1-2": _row(cns, 30, 0.6, "they_invest_more"), "1-3": _row(cns, 90, 0.0, "mutual")}
    check = cns.mirror_check(first, second)
    assert check.ok
    assert check.pairs == 2


def test_mirror_check_counts_each_kind_of_mismatch(cns: ModuleType) -> None:
    first = {
        "1-2": _row(cns, 30, -0.6, "you_invest_more"),
        "1-3": _row(cns, 90, 0.1, "mutual"),
        "1-4": _row(cns, 50, 0.0, "mutual"),
    }
    second = {
        "1-2": _row(cns, 30, -0.6, "you_invest_more"),  # lean not negated, band not swapped
        "1-3": _row(cns, 91, -0.1, "mutual"),  # score differs
    }
    check = cns.mirror_check(first, second)
    assert not check.ok
    assert (check.missing, check.score_mismatches) == (1, 1)
    assert (check.lean_mismatches, check.band_mismatches) == (1, 1)
    assert check.strength_mismatches == 0
    assert len(check.examples) == 2


def test_tuning_split_depends_only_on_the_contact_id(cns: ModuleType) -> None:
    ids = [f"{a}-{b}" for a in range(40) for b in range(a + 1, 40)]
    halves = [cns.is_tuning_half(i) for i in ids]
    assert halves == [cns.is_tuning_half(i) for i in ids]
    assert 0.4 < sum(halves) / len(halves) < 0.6


def _pair(cns: ModuleType, cid: str, friend: bool, *, score: float, strength: float) -> object:
    traffic = cns.Traffic(outbound=1, inbound=1, last_at=cns.AS_OF)
    product = cns.ScoreRow(score=score, lean=0.0, strength=strength, band="mutual", confidence=0.5)
    return cns.PairRow(cid, friend, traffic, product)


def test_combined_ranking_is_chosen_by_tuning_auc(cns: ModuleType) -> None:
    # strength says nothing; score separates perfectly: any w > 0 reaches AUC 1, first one wins
    rows = [_pair(cns, f"1-{i}", i < 6, score=90 if i < 6 else 40, strength=50) for i in range(10)]
    chosen, aucs = cns.choose_combined(rows)
    assert chosen == "strength x (score/100)^0.5"
    assert aucs["strength x (score/100)^0"] == 0.5
    assert aucs[chosen] == 1.0


def _rates(cns: ModuleType, mutual: tuple[int, int], one_sided: tuple[int, int]) -> dict:
    bands = ["mutual"] * mutual[0] + ["you_invest_more"] * one_sided[0]
    friends = [True] * mutual[1] + [False] * (mutual[0] - mutual[1])
    friends += [True] * one_sided[1] + [False] * (one_sided[0] - one_sided[1])
    return cns.friend_rate_by_band(
        [cns.band_group(b) for b in bands], friends, order=cns.BAND_GROUP_ORDER
    )


def test_config_is_changed_only_when_a_variant_separates_the_bands(cns: ModuleType) -> None:
    overlapping = _rates(cns, (100, 90), (40, 34))
    separated = _rates(cns, (100, 95), (40, 20))
    too_few = _rates(cns, (100, 95), (5, 0))
    assert cns.separation(overlapping) < 0
    assert cns.separation(separated) > 0
    assert cns.separation(too_few) is None
    assert cns.choose_config({"defaults": too_few, "b": overlapping}) == "defaults"
    assert cns.choose_config({"defaults": too_few, "b": overlapping, "c": separated}) == "c"


def test_comparison_picks_the_best_of_each_kind_with_a_paired_interval(cns: ModuleType) -> None:
    labels = [True] * 30 + [False] * 10
    rng = random.Random(3)
    good = [rng.gauss(1.5 if lab else 0.0, 1.0) for lab in labels]
    signals = {
        "p1": good,
        "p2": [rng.random() for _ in labels],
        "b1": [v + rng.gauss(0, 2.0) for v in good],
    }
    results, reps = cns.bootstrap_aucs(signals, labels, cns.stratified_resamples(labels, n=200))
    comparison = cns.best_product_vs_best_baseline(results, reps, ["b1"])
    assert comparison["best_product_signal"] == "p1"
    assert comparison["best_baseline"] == "b1"
    low, high = comparison["difference_ci95"]
    assert low <= comparison["auc_difference"] <= high
    assert comparison["product_at_least_baseline"] is (results["p1"].auc >= results["b1"].auc)


def test_midranks_share_the_mean_position_of_ties(cns: ModuleType) -> None:
    assert cns.midranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_spearman_known_values(cns: ModuleType) -> None:
    assert cns.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert cns.spearman([1, 2, 3, 4], [9, 7, 5, 1]) == pytest.approx(-1.0)
    # ranks (1,2,3,4) vs (2,1,4,3): 1 - 6 * 4 / (4 * 15) = 0.6
    assert cns.spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(0.6)
    assert cns.spearman([1, 2, 3], [5, 5, 5]) is None
    with pytest.raises(ValueError, match="same length"):
        cns.spearman([1, 2], [1])


def test_jackknife_se_of_a_mean_is_the_textbook_standard_error(cns: ModuleType) -> None:
    values = [2.0, 4.0, 4.0, 5.0, 7.0, 9.0]
    n = len(values)
    leave_one_out = [(sum(values) - v) / (n - 1) for v in values]
    mean = sum(values) / n
    sample_sd = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5
    assert cns.jackknife_se(leave_one_out) == pytest.approx(sample_sd / n**0.5)


def _banded(cns: ModuleType, cid: str, friend: bool, band: str, total: int) -> object:
    traffic = cns.Traffic(outbound=total, inbound=1, last_at=cns.AS_OF)
    product = cns.ScoreRow(
        score=50.0 + total, lean=0.0, strength=float(total), band=band, confidence=0.5
    )
    return cns.PairRow(cid, friend, traffic, product)


def test_pairs_sharing_people_widen_the_people_level_standard_error(cns: ModuleType) -> None:
    # the same 24 pairs twice: once spread over 48 people, once as 4 hubs with 6 pairs each,
    # each hub's pairs sharing one label and one band, so a hub's pairs move together
    labels = [hub % 2 == 0 for hub in range(4) for _ in range(6)]
    bands = ["mutual" if hub < 2 else "insufficient_data" for hub in range(4) for _ in range(6)]
    labels[0], labels[12] = False, True  # keep both labels in both bands
    spread = [_banded(cns, f"{2 * i}-{2 * i + 1}", labels[i], bands[i], i) for i in range(24)]
    hubs = [_banded(cns, f"{i // 6}-{100 + i}", labels[i], bands[i], i) for i in range(24)]
    spread_check, hub_check = cns.dependence_check(spread), cns.dependence_check(hubs)
    for name in cns.DEPENDENCE_STATISTICS:
        assert spread_check[name]["estimate"] == hub_check[name]["estimate"]
        assert spread_check[name]["se_pairs"] == pytest.approx(hub_check[name]["se_pairs"])
    gap = "friend rate of mutual minus insufficient_data"
    assert spread_check[gap]["ratio"] == pytest.approx(1.0, abs=0.05)
    assert hub_check[gap]["ratio"] > 1.5
    low, high = hub_check[gap]["ci95_people"]
    assert low < hub_check[gap]["estimate"] < high


def test_bootstrap_spearman_brackets_the_point_and_is_seeded(cns: ModuleType) -> None:
    rng = random.Random(5)
    target = [rng.random() for _ in range(60)]
    signals = {
        "close": [t + rng.gauss(0, 0.2) for t in target],
        "noise": [rng.random() for _ in target],
    }
    first = cns.bootstrap_spearman(signals, target, n=300, seed=9)
    assert first == cns.bootstrap_spearman(signals, target, n=300, seed=9)
    assert first != cns.bootstrap_spearman(signals, target, n=300, seed=10)
    for name, entry in first.items():
        low, high = entry["ci95"]
        assert low <= entry["rho"] <= high, name
        assert entry["rho"] == pytest.approx(cns.spearman(signals[name], target), abs=5e-4)
    assert first["close"]["ci95"][0] > first["noise"]["ci95"][1]


def test_bootstrap_spearman_says_nothing_about_too_few_or_constant_pairs(cns: ModuleType) -> None:
    assert cns.bootstrap_spearman({"s": [1.0, 2.0]}, [1.0, 2.0]) == {"s": None}
    assert cns.bootstrap_spearman({"s": [1.0, 1.0, 1.0, 1.0]}, [1.0, 2.0, 3.0, 4.0], n=10) == {
        "s": None
    }


def test_windows_keep_their_start_and_drop_their_end(cns: ModuleType) -> None:
    def at(day: int, seconds: int) -> object:
        when = cns.study_day(day) + cns.timedelta(seconds=seconds)
        return cns.Activity(f"{day}-{seconds}", "1-2", when, cns.Channel.MESSAGE, "outbound")

    activities = [at(13, 86399), at(14, 0), at(20, 5), at(21, 0)]
    assert [a.id for a in cns.in_window(activities, 0, 14)] == ["13-86399"]
    assert [a.id for a in cns.in_window(activities, 14, 21)] == ["14-0", "20-5"]
    assert [a.id for a in cns.in_window(activities, 21, 28)] == ["21-0"]


def test_min_max_ratio_reads_one_for_balance_and_zero_for_one_way(cns: ModuleType) -> None:
    assert cns.min_max_ratio(cns.Traffic(outbound=4, inbound=4, last_at=cns.AS_OF)) == 1.0
    assert cns.min_max_ratio(cns.Traffic(outbound=2, inbound=6, last_at=cns.AS_OF)) == 1 / 3
    assert cns.min_max_ratio(cns.Traffic(outbound=0, inbound=5, last_at=cns.AS_OF)) == 0.0
