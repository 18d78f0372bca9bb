"""Validate the mutuality score against friendship in the Copenhagen Networks Study.

The score claims to tell two-way relationships from one-sided ones. Friendship is
the closest public ground truth we have for "this tie is real and runs both
ways", so this script runs the *real* pipeline (files adapter -> sync engine ->
scores.csv) on the study's calls and text messages and measures how well the
product's outputs separate friends from non-friends, next to naive baselines.
Two more tests need no label: does the score on days 0-14 foresee the same pair's
raw balance on days 14-28 (test-retest), and does the score on days 0-21 foresee
that the other side writes on days 21-28 (prediction)?

Usage::

    python benchmarks/validate_cns.py --data ../shared/data/copenhagen-networks-study
    python benchmarks/validate_cns.py --data DIR --check-docs   # confirm docs/ reproduce

Data: Sapiezynski, Stopczynski, Lassen, Lehmann, "Interaction data from the
Copenhagen Networks Study", Scientific Data 6, 315 (2019),
doi:10.1038/s41597-019-0325-x; figshare doi:10.6084/m9.figshare.7267433 (MIT).
The data is read from ``--data`` and never copied into the repository.

Everything is deterministic: fixed calendar, sorted iteration, seeded bootstrap.
Rerunning rewrites docs/validation_results.json byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs

from mutuality_core.config import ScoringConfig
from mutuality_core.model import Activity, Band, Channel, Contact, Direction, Outcome
from mutuality_core.scoring import ALGORITHM_VERSION

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO_ROOT / "docs" / "validation_results.json"
DEFAULT_DOC = REPO_ROOT / "docs" / "validation.md"
DEFAULT_IMG_DIR = REPO_ROOT / "docs" / "img"

#: The study's clock counts seconds from its start; we pin that start to a fixed
#: Monday so that every run sees the same calendar (the real dates are not published).
STUDY_START = datetime(2026, 1, 5, tzinfo=timezone.utc)
STUDY_DAYS = 28
#: Score one day after the last possible record, as a nightly job would.
AS_OF = STUDY_START + timedelta(days=STUDY_DAYS + 1)

CITATION = (
    "Sapiezynski P., Stopczynski A., Lassen D. D., Lehmann S. Interaction data from the "
    "Copenhagen Networks Study. Scientific Data 6, 315 (2019), doi:10.1038/s41597-019-0325-x; "
    "data: figshare doi:10.6084/m9.figshare.7267433 (MIT)"
)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20191220
CONFIDENCE = 0.95
Z_95 = 1.959963984540054

#: Checksums of the figshare release (from the data README): a different file
#: would give different numbers than the docs, so we say so up front.
EXPECTED_MD5 = {
    "calls.csv": "50a7c5be85d7e3eaf5fabd267a87008d",
    "sms.csv": "3d24cef3717881b3d9086584332dd740",
    "fb_friends.csv": "b1f96bae3e79949ed4278e90d0753843",
}
#: Pair counts stated in the data README; checked so a silent conversion bug shows.
EXPECTED_COUNTS = {"pairs": 880, "labelled_pairs": 808, "friends": 714}

ONE_SIDED_BANDS = (Band.YOU_INVEST_MORE.value, Band.THEY_INVEST_MORE.value)
BAND_ORDER = tuple(b.value for b in Band)
MIRRORED_BAND = {
    Band.YOU_INVEST_MORE.value: Band.THEY_INVEST_MORE.value,
    Band.THEY_INVEST_MORE.value: Band.YOU_INVEST_MORE.value,
}


class ValidationError(Exception):
    """The input folder or a pipeline result is not what the validation needs."""


# --------------------------------------------------------------------------- data


@attrs.frozen
class Interaction:
    """One row of calls.csv or sms.csv: who reached whom, when.

    ``duration`` is the call length in seconds, -1 for a missed call, None for SMS.
    ``row`` (1-based data row in its file) keeps duplicate rows distinct.
    """

    kind: str  # "call" or "sms"
    row: int
    at_seconds: int
    sender: int
    receiver: int
    duration: int | None = None

    @property
    def pair(self) -> tuple[int, int]:
        return pair_of(self.sender, self.receiver)


@attrs.frozen
class Friendships:
    """The Facebook layer: who took part in it, and which pairs were friends."""

    users: frozenset[int]
    pairs: frozenset[tuple[int, int]]

    def label(self, pair: tuple[int, int]) -> bool | None:
        """True/False for a pair whose both members are in the layer, else None (unknown)."""
        a, b = pair
        if a not in self.users or b not in self.users:
            return None
        return pair in self.pairs


def pair_of(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def contact_id_of(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


def _read_rows(path: Path, columns: Sequence[str]) -> Iterable[tuple[int, list[int]]]:
    if not path.is_file():
        raise ValidationError(
            f"{path} not found; --data must point at the copenhagen-networks-study folder "
            "(calls.csv, sms.csv, fb_friends.csv from doi:10.6084/m9.figshare.7267433)"
        )
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = [h.strip().lstrip("#").strip() for h in next(reader, [])]
        if header != list(columns):
            raise ValidationError(f"{path}: expected columns {list(columns)}, got {header}")
        for row_number, row in enumerate(reader, start=1):
            try:
                yield row_number, [int(value) for value in row]
            except ValueError:
                raise ValidationError(
                    f"{path}, data row {row_number}: not integers: {row}"
                ) from None


def load_interactions(data_dir: Path) -> list[Interaction]:
    """Calls and SMS in time order (ties broken by file and row, so order is stable)."""
    interactions = [
        Interaction("call", row, ts, caller, callee, duration)
        for row, (ts, caller, callee, duration) in _read_rows(
            data_dir / "calls.csv", ("timestamp", "caller", "callee", "duration")
        )
    ]
    interactions += [
        Interaction("sms", row, ts, sender, recipient)
        for row, (ts, sender, recipient) in _read_rows(
            data_dir / "sms.csv", ("timestamp", "sender", "recipient")
        )
    ]
    interactions = [i for i in interactions if i.sender != i.receiver]
    interactions.sort(key=lambda i: (i.at_seconds, i.kind, i.row))
    return interactions


def load_friendships(data_dir: Path) -> Friendships:
    users: set[int] = set()
    pairs: set[tuple[int, int]] = set()
    for _, (a, b) in _read_rows(data_dir / "fb_friends.csv", ("user_a", "user_b")):
        users.update((a, b))
        pairs.add(pair_of(a, b))
    return Friendships(frozenset(users), frozenset(pairs))


def checksum_mismatches(data_dir: Path) -> list[str]:
    """Names of files that differ from the published release (empty when all match)."""
    mismatched = []
    for name, expected in sorted(EXPECTED_MD5.items()):
        path = data_dir / name
        if path.is_file() and hashlib.md5(path.read_bytes()).hexdigest() != expected:
            mismatched.append(name)
    return mismatched


# --------------------------------------------------------------------- conversion


def to_activity(interaction: Interaction, *, you: int, zero_is_missed: bool = False) -> Activity:
    """One study record as an activity of the pair's contact, seen from ``you``.

    A call with duration -1 rang but was not answered: an attempt, not an exchange.
    A call of duration 0 counts as answered, as the data's README describes only -1
    as missed; ``zero_is_missed`` reads it as unanswered instead, for the
    sensitivity check (many 0-second calls are followed by a quick redial).
    """
    if you not in interaction.pair:
        raise ValueError(f"person {you} is not in pair {interaction.pair}")
    direction = Direction.OUTBOUND if interaction.sender == you else Direction.INBOUND
    occurred_at = STUDY_START + timedelta(seconds=interaction.at_seconds)
    activity_id = f"{interaction.kind}-{interaction.row}"
    contact_id = contact_id_of(interaction.pair)
    if interaction.kind == "sms":
        return Activity(activity_id, contact_id, occurred_at, Channel.MESSAGE, direction)
    missed_below = 1 if zero_is_missed else 0
    if interaction.duration is not None and interaction.duration < missed_below:
        return Activity(
            activity_id, contact_id, occurred_at, Channel.CALL, direction, Outcome.NO_ANSWER
        )
    return Activity(
        activity_id,
        contact_id,
        occurred_at,
        Channel.CALL,
        direction,
        Outcome.COMPLETED,
        duration_seconds=float(interaction.duration or 0),
    )


def convert(
    interactions: Sequence[Interaction], *, mirror: bool = False, zero_is_missed: bool = False
) -> tuple[list[Contact], list[Activity]]:
    """One contact per communicating pair ``a-b`` (a < b), seen from a (or b when ``mirror``)."""
    activities = []
    pairs: set[tuple[int, int]] = set()
    for interaction in interactions:
        pair = interaction.pair
        pairs.add(pair)
        you = pair[1] if mirror else pair[0]
        activities.append(to_activity(interaction, you=you, zero_is_missed=zero_is_missed))
    contacts = [
        Contact(contact_id_of(p), first_name=str(p[1] if not mirror else p[0]))
        for p in sorted(pairs)
    ]
    return contacts, activities


def write_files_folder(
    folder: Path, contacts: Sequence[Contact], activities: Sequence[Activity]
) -> None:
    """Write contacts.csv and activities.csv in the files adapter's input format.

    Only the columns the study can fill are written; the adapter's other columns
    are optional. The contact's first name is the other member's id, so a score
    row reads as "you = a, contact = b".
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "contacts.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=("id", "first_name"))
        writer.writeheader()
        for c in contacts:
            writer.writerow({"id": c.id, "first_name": c.first_name or ""})
    columns = ("id", "contact_id", "occurred_at", "channel", "direction", "outcome")
    with (folder / "activities.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=(*columns, "duration_seconds"))
        writer.writeheader()
        for a in activities:
            writer.writerow(
                {
                    "id": a.id,
                    "contact_id": a.contact_id,
                    "occurred_at": a.occurred_at.isoformat().replace("+00:00", "Z"),
                    "channel": a.channel.value,
                    "direction": a.direction.value,
                    "outcome": a.outcome.value,
                    "duration_seconds": (
                        "" if a.duration_seconds is None else f"{a.duration_seconds:g}"
                    ),
                }
            )


# ---------------------------------------------------------------------- baselines


@attrs.frozen
class Traffic:
    """Raw counts for one pair, seen from the pair's first member: the baselines' input."""

    outbound: int
    inbound: int
    last_at: datetime

    @property
    def total(self) -> int:
        return self.outbound + self.inbound


def traffic_by_contact(activities: Iterable[Activity]) -> dict[str, Traffic]:
    """Counts every attempt (missed calls included), as the data README's pair facts do."""
    out: dict[str, int] = {}
    inc: dict[str, int] = {}
    last: dict[str, datetime] = {}
    for a in activities:
        bucket = out if a.direction is Direction.OUTBOUND else inc
        bucket[a.contact_id] = bucket.get(a.contact_id, 0) + 1
        if a.contact_id not in last or a.occurred_at > last[a.contact_id]:
            last[a.contact_id] = a.occurred_at
    return {cid: Traffic(out.get(cid, 0), inc.get(cid, 0), last[cid]) for cid in sorted(last)}


# ----------------------------------------------------------------------- pipeline


@attrs.frozen
class ScoreRow:
    """The product's output for one contact, as the files adapter wrote it to scores.csv.

    These are the values a user sees in the CRM field (score and strength are
    whole numbers there), so they are what is validated.
    """

    score: float
    lean: float
    strength: float
    band: str
    confidence: float


def load_files_plugin() -> Any:
    """The files adapter as a user's installation finds it: through its entry point."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="mutuality.adapters") if ep.name == "files"]
    if not found:
        raise ValidationError(
            "the 'files' adapter is not registered; install the project first "
            "(pip install -e . from the repository root)"
        )
    return found[0].load()


def run_pipeline(
    folder: Path,
    *,
    as_of: datetime,
    scoring: ScoringConfig | None = None,
    output: Path | None = None,
) -> dict[str, ScoreRow]:
    """Score ``folder`` the way a user would: files plugin -> sync engine -> scores.csv.

    The state store lives in a throw-away folder and the run's clock is pinned to
    ``as_of``, so nothing outside ``folder`` changes and every run is identical.
    """
    from mutuality_adapters.sqlite_state import SQLiteStateStore

    from mutuality_core.sync import SyncOptions, run_sync

    plugin = load_files_plugin()
    output = output or folder / "scores.csv"
    connection = plugin.connect({"path": str(folder), "output": str(output)}, environ={})
    options = SyncOptions(full=True, scoring=scoring or ScoringConfig(), owner="validate_cns")
    with tempfile.TemporaryDirectory(prefix="mutuality-cns-state-") as state_dir:
        state = SQLiteStateStore(Path(state_dir) / "state.sqlite")
        try:
            report = run_sync(connection, state, as_of=as_of, now=lambda: as_of, options=options)
        finally:
            connection.close()
            state.close()
    if report.failed or report.rejected or report.stopped_reason:
        raise ValidationError(
            f"the sync run did not score everything: {report.failed} failed, "
            f"{report.rejected} rejected, stopped: {report.stopped_reason}"
        )
    return read_scores(output)


def read_scores(path: Path) -> dict[str, ScoreRow]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["id"]: ScoreRow(
                score=float(row["score"]),
                lean=float(row["lean"]),
                strength=float(row["strength"]),
                band=row["band"],
                confidence=float(row["confidence"]),
            )
            for row in csv.DictReader(handle)
        }


# ------------------------------------------------------------------------ metrics


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """ROC AUC as the Mann-Whitney probability P(pos > neg) + 0.5 P(pos == neg)."""
    values = [*positives, *negatives]
    labels = [True] * len(positives) + [False] * len(negatives)
    return _weighted_auc(sorted_groups(values, labels), [1] * len(values))


def sorted_groups(
    values: Sequence[float], is_positive: Sequence[bool]
) -> list[tuple[list[int], list[int]]]:
    """Indices grouped by equal value, ascending: (positive indices, negative indices) per value."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    groups: list[tuple[list[int], list[int]]] = []
    previous: float | None = None
    for i in order:
        if previous is None or values[i] != previous:
            groups.append(([], []))
            previous = values[i]
        groups[-1][0 if is_positive[i] else 1].append(i)
    return groups


def _weighted_auc(groups: Sequence[tuple[list[int], list[int]]], weights: Sequence[int]) -> float:
    """AUC when item i appears ``weights[i]`` times (a bootstrap resample), in one pass."""
    below = 0.0
    numerator = 0.0
    total_pos = 0.0
    for pos, neg in groups:
        pos_w = sum(weights[i] for i in pos)
        neg_w = sum(weights[i] for i in neg)
        numerator += pos_w * (below + 0.5 * neg_w)
        below += neg_w
        total_pos += pos_w
    if total_pos == 0 or below == 0:
        raise ValueError("AUC needs at least one positive and one negative")
    return numerator / (total_pos * below)


def stratified_resamples(
    is_positive: Sequence[bool], *, n: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> list[list[int]]:
    """Multiplicity vectors of ``n`` bootstrap resamples that keep the class sizes fixed.

    Resampling friends and non-friends separately keeps every resample's AUC
    defined and its class balance equal to the data's, which matters with ~94
    non-friends. All signals are evaluated on the same resamples (paired).
    """
    rng = random.Random(seed)
    pos = [i for i, p in enumerate(is_positive) if p]
    neg = [i for i, p in enumerate(is_positive) if not p]
    resamples = []
    for _ in range(n):
        counts = [0] * len(is_positive)
        for stratum in (pos, neg):
            size = len(stratum)
            for _ in range(size):
                counts[stratum[rng.randrange(size)]] += 1
        resamples.append(counts)
    return resamples


def people_of(contact_id: str) -> tuple[int, int]:
    a, b = contact_id.split("-")
    return int(a), int(b)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default), on already sorted values."""
    if not sorted_values:
        raise ValueError("quantile of nothing")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction


def percentile_interval(samples: Iterable[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    alpha = (1 - CONFIDENCE) / 2
    return quantile(ordered, alpha), quantile(ordered, 1 - alpha)


@attrs.frozen
class AucResult:
    auc: float
    low: float
    high: float


def bootstrap_aucs(
    signals: Mapping[str, Sequence[float]],
    is_positive: Sequence[bool],
    resamples: Sequence[Sequence[int]],
) -> tuple[dict[str, AucResult], dict[str, list[float]]]:
    """Point AUC and percentile 95 % interval per signal, plus the replicate AUCs (paired)."""
    results: dict[str, AucResult] = {}
    replicates: dict[str, list[float]] = {}
    ones = [1] * len(is_positive)
    for name, values in signals.items():
        groups = sorted_groups(values, is_positive)
        point = _weighted_auc(groups, ones)
        reps = [_weighted_auc(groups, weights) for weights in resamples]
        low, high = percentile_interval(reps)
        results[name] = AucResult(point, low, high)
        replicates[name] = reps
    return results, replicates


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score 95 % interval for a proportion: sane at 0 %, 100 % and small n."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    z2 = Z_95 * Z_95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z_95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


@attrs.frozen
class BandRate:
    pairs: int
    friends: int
    low: float
    high: float

    @property
    def rate(self) -> float | None:
        return self.friends / self.pairs if self.pairs else None


def friend_rate_by_band(
    bands: Sequence[str], is_friend: Sequence[bool], *, order: Sequence[str] = BAND_ORDER
) -> dict[str, BandRate]:
    """Pairs, friends and a Wilson interval per band, in ``order`` (empty bands included)."""
    rates = {}
    for band in order:
        members = [f for b, f in zip(bands, is_friend, strict=True) if b == band]
        low, high = wilson_interval(sum(members), len(members))
        rates[band] = BandRate(len(members), sum(members), low, high)
    return rates


def midranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their positions."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for k in range(start, end + 1):
            ranks[order[k]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(first: Sequence[float], second: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on midranks); None when either side is constant."""
    if len(first) != len(second):
        raise ValueError("spearman needs two sequences of the same length")
    a, b = midranks(first), midranks(second)
    n = len(a)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    if var_a == 0 or var_b == 0:
        return None
    return cov / math.sqrt(var_a * var_b)


def roc_points(positives: Sequence[float], negatives: Sequence[float]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every threshold, from (0,0) to (1,1)."""
    groups = sorted_groups(
        list(positives) + list(negatives), [True] * len(positives) + [False] * len(negatives)
    )
    points = [(0.0, 0.0)]
    tp = fp = 0
    for pos, neg in reversed(groups):
        tp += len(pos)
        fp += len(neg)
        points.append((fp / len(negatives), tp / len(positives)))
    return points


# --------------------------------------------------------------------- evaluation


@attrs.frozen
class PairRow:
    """Everything the evaluation knows about one labelled pair."""

    contact_id: str
    friend: bool
    traffic: Traffic
    product: ScoreRow


def baseline_signals(as_of: datetime) -> dict[str, Callable[[PairRow], float]]:
    """Naive rankings a user could build without the product (higher = more likely friends)."""
    return {
        "volume (all records)": lambda r: float(r.traffic.total),
        "min(outbound, inbound)": lambda r: float(min(r.traffic.outbound, r.traffic.inbound)),
        "both sides communicated": lambda r: float(
            r.traffic.outbound > 0 and r.traffic.inbound > 0
        ),
        "recency of last record": lambda r: -(as_of - r.traffic.last_at).total_seconds() / 86400,
    }


def product_signals() -> dict[str, Callable[[PairRow], float]]:
    """The product's own outputs, as written (nothing here is tuned on this data)."""
    return {
        "score": lambda r: r.product.score,
        "strength": lambda r: r.product.strength,
        "confidence": lambda r: r.product.confidence,
    }


def is_tuning_half(contact_id: str) -> bool:
    """The tuning half: pairs whose SHA-256 of the contact id starts with an even byte.

    A hash splits pairs independently of the ids' own structure; every tuned
    choice is made on this half and reported on the other one.
    """
    return hashlib.sha256(contact_id.encode("utf-8")).digest()[0] % 2 == 0


def values_by_class(
    rows: Sequence[PairRow], signal: Callable[[PairRow], float]
) -> tuple[list[float], list[float]]:
    """(values of friend pairs, values of non-friend pairs)."""
    friends = [signal(r) for r in rows if r.friend]
    others = [signal(r) for r in rows if not r.friend]
    return friends, others


def resamples_of(rows: Sequence[PairRow], *, seed: int) -> list[list[int]]:
    """The bootstrap resamples of ``rows`` (see :func:`stratified_resamples`)."""
    return stratified_resamples([r.friend for r in rows], seed=seed)


def auc_table(
    rows: Sequence[PairRow],
    signals: Mapping[str, Callable[[PairRow], float]],
    resamples: Sequence[Sequence[int]],
) -> tuple[dict[str, AucResult], dict[str, list[float]]]:
    values = {name: [fn(r) for r in rows] for name, fn in signals.items()}
    return bootstrap_aucs(values, [r.friend for r in rows], resamples)


def difference_interval(first: Sequence[float], second: Sequence[float]) -> tuple[float, float]:
    """95 % interval of a paired AUC difference (both computed on the same resamples)."""
    return percentile_interval(a - b for a, b in zip(first, second, strict=True))


def best_product_vs_best_baseline(
    aucs: Mapping[str, AucResult], replicates: Mapping[str, list[float]], baselines: Iterable[str]
) -> dict[str, Any]:
    """The goal's comparison: the best product AUC minus the best baseline AUC, with its CI."""
    baseline_names = [n for n in aucs if n in set(baselines)]
    product_names = [n for n in aucs if n not in set(baseline_names)]
    best_product = max(product_names, key=lambda n: aucs[n].auc)
    best_baseline = max(baseline_names, key=lambda n: aucs[n].auc)
    low, high = difference_interval(replicates[best_product], replicates[best_baseline])
    return {
        "best_product_signal": best_product,
        "best_baseline": best_baseline,
        "auc_difference": _r(aucs[best_product].auc - aucs[best_baseline].auc, 6),
        "difference_ci95": [_r(low), _r(high)],
        # exact: a loss in the fifth decimal is still a loss, not a tie
        "product_at_least_baseline": aucs[best_product].auc >= aucs[best_baseline].auc,
    }


def band_group(band: str) -> str:
    """Bands as the goal compares them: the two one-sided bands pooled."""
    return "one-sided" if band in ONE_SIDED_BANDS else band


BAND_GROUP_ORDER = ("mutual", "one-sided", Band.DORMANT.value, Band.INSUFFICIENT_DATA.value)


def mutual_clearly_above(rates: Mapping[str, BandRate], other: str) -> bool:
    """True when the mutual band's friend-rate interval lies wholly above ``other``'s."""
    mutual, rest = rates[Band.MUTUAL.value], rates[other]
    return mutual.pairs > 0 and rest.pairs > 0 and mutual.low > rest.high


def traffic_patterns(rows: Sequence[PairRow]) -> dict[str, Any]:
    """Friend rate, score and bands of pairs where only one side initiated anything vs both.

    "Initiated" means texted or called (answered or not): an answered call from a
    is still one-way here, though b took part in it.
    """
    patterns: dict[str, Any] = {}
    for name, one_way in (("one-way", True), ("two-way", False)):
        part = [r for r in rows if (min(r.traffic.outbound, r.traffic.inbound) == 0) == one_way]
        friends = sum(r.friend for r in part)
        low, high = wilson_interval(friends, len(part))
        scores = sorted(r.product.score for r in part)
        patterns[name] = {
            "pairs": len(part),
            "friends": friends,
            "friend_rate": _r(friends / len(part)) if part else None,
            "ci95": [_r(low), _r(high)],
            "median_score": _r(quantile(scores, 0.5)) if part else None,
            "bands": {b: sum(r.product.band == b for r in part) for b in BAND_ORDER},
        }
    return patterns


def score_distribution(rows: Sequence[PairRow]) -> dict[str, Any]:
    """How the published scores spread: 1.0 gave 57 % of the pairs exactly 100."""
    scores = sorted(r.product.score for r in rows)
    at_100 = sum(score >= 100 for score in scores)
    return {
        "at_100": at_100,
        "share_at_100": _r(at_100 / len(scores)) if scores else None,
        "median": _r(quantile(scores, 0.5)) if scores else None,
        "deciles": [_r(quantile(scores, q / 10)) for q in range(1, 10)] if scores else [],
    }


#: Each product output next to the raw quantity it is meant to summarise.
TRACKED: dict[str, tuple[Callable[[PairRow], float], Callable[[PairRow], float]]] = {
    "score ~ min/max of outbound and inbound counts": (
        lambda r: r.product.score,
        lambda r: (
            min(r.traffic.outbound, r.traffic.inbound) / max(r.traffic.outbound, r.traffic.inbound)
        ),
    ),
    "lean ~ (inbound - outbound) / total counts": (
        lambda r: r.product.lean,
        lambda r: (r.traffic.inbound - r.traffic.outbound) / r.traffic.total,
    ),
    "strength ~ volume": (lambda r: r.product.strength, lambda r: float(r.traffic.total)),
}


def what_outputs_track(rows: Sequence[PairRow]) -> dict[str, float | None]:
    """Spearman correlation of each product output with its raw counterpart (point values)."""
    return {
        name: _r(spearman([product(r) for r in rows], [raw(r) for r in rows]))
        for name, (product, raw) in TRACKED.items()
    }


@attrs.frozen
class MirrorCheck:
    """The same pairs scored from the other member: scores must match, bands swap."""

    pairs: int
    missing: int
    score_mismatches: int
    strength_mismatches: int
    lean_mismatches: int
    band_mismatches: int
    examples: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.score_mismatches
            or self.strength_mismatches
            or self.lean_mismatches
            or self.band_mismatches
        )


def mirror_check(
    first: Mapping[str, ScoreRow], second: Mapping[str, ScoreRow], *, tolerance: float = 1e-6
) -> MirrorCheck:
    counts = {"score": 0, "strength": 0, "lean": 0, "band": 0}
    examples: list[str] = []
    missing = 0
    for cid in sorted(set(first) | set(second)):
        a, b = first.get(cid), second.get(cid)
        if a is None or b is None:
            missing += 1
            continue
        wrong = []
        if abs(a.score - b.score) > tolerance:
            wrong.append("score")
        if abs(a.strength - b.strength) > tolerance:
            wrong.append("strength")
        if abs(a.lean + b.lean) > tolerance:
            wrong.append("lean")
        if MIRRORED_BAND.get(a.band, a.band) != b.band:
            wrong.append("band")
        for name in wrong:
            counts[name] += 1
        if wrong and len(examples) < 5:
            examples.append(f"{cid}: {a} vs mirror {b}")
    return MirrorCheck(
        pairs=len(set(first) | set(second)),
        missing=missing,
        score_mismatches=counts["score"],
        strength_mismatches=counts["strength"],
        lean_mismatches=counts["lean"],
        band_mismatches=counts["band"],
        examples=tuple(examples),
    )


# ------------------------------------------------------------------------ results


def _r(value: float | None, digits: int = 4) -> float | None:
    """Round for the JSON (and turn -0.0 into 0.0, so reruns print the same text)."""
    return None if value is None else round(value, digits) + 0.0


def auc_json(results: Mapping[str, AucResult]) -> dict[str, Any]:
    return {n: {"auc": _r(a.auc), "ci95": [_r(a.low), _r(a.high)]} for n, a in results.items()}


def bands_json(
    rates: Mapping[str, BandRate], *, count: str = "friends", rate: str = "friend_rate"
) -> dict[str, Any]:
    """Per band: pairs, how many had the outcome (``count``), its rate and Wilson interval."""
    return {
        band: {
            "pairs": r.pairs,
            count: r.friends,
            rate: _r(r.rate),
            "ci95": [_r(r.low), _r(r.high)],
        }
        for band, r in rates.items()
    }


# --------------------------------------------------------------------------- tuning


#: Candidate combined rankings built from product outputs. The product offers no
#: combined score, so which one is used is chosen on the tuning half only
#: (``choose_combined``) and reported on the held-out half.
COMBINED_EXPONENTS = (0.0, 0.5, 1.0, 2.0, 4.0)


def combined_candidates() -> dict[str, Callable[[PairRow], float]]:
    """base x (score/100)^w for base in strength, confidence: w = 0 is the base alone."""

    def make(base: str, w: float) -> Callable[[PairRow], float]:
        return lambda r: getattr(r.product, base) * (r.product.score / 100.0) ** w

    return {
        f"{base} x (score/100)^{w:g}": make(base, w)
        for base in ("strength", "confidence")
        for w in COMBINED_EXPONENTS
    }


def choose_combined(tuning_rows: Sequence[PairRow]) -> tuple[str, dict[str, float]]:
    """The candidate with the highest AUC on the tuning half (the first listed wins ties)."""
    scores = {
        name: auc(*values_by_class(tuning_rows, fn)) for name, fn in combined_candidates().items()
    }
    best = max(scores, key=lambda n: (scores[n], -list(scores).index(n)))
    return best, scores


#: Scoring settings tried on the tuning half, to see whether any makes the one-sided
#: bands carry the friendship signal or ranks friends better. Each changes one knob of
#: score 2.0: how many credits make one observation (``k``, fixed at 3 beforehand;
#: 1 trusts thin histories more, 8 less), or where the bands' thresholds on
#: P(balanced) lie.
CONFIG_VARIANTS: dict[str, dict[str, float]] = {
    "defaults": {},
    "credits_per_observation=1": {"credits_per_observation": 1.0},
    "credits_per_observation=8": {"credits_per_observation": 8.0},
    "mutual_min_probability=0.7": {"mutual_min_probability": 0.7},
    "mutual_min_probability=0.9": {"mutual_min_probability": 0.9},
    "one_sided_max_probability=0.3": {"one_sided_max_probability": 0.3},
}
#: A variant only counts if its one-sided bands hold at least this many tuning pairs.
MIN_ONE_SIDED_PAIRS = 20


def group_rates(rows: Sequence[PairRow], bands: Mapping[str, str]) -> dict[str, BandRate]:
    """Friend rate per band group (one-sided bands pooled) for ``rows`` under ``bands``."""
    return friend_rate_by_band(
        [band_group(bands[r.contact_id]) for r in rows],
        [r.friend for r in rows],
        order=BAND_GROUP_ORDER,
    )


def separation(rates: Mapping[str, BandRate]) -> float | None:
    """How far the mutual band's interval lies above the one-sided one's (> 0: clearly)."""
    if rates["one-sided"].pairs < MIN_ONE_SIDED_PAIRS or not rates["mutual"].pairs:
        return None
    return rates["mutual"].low - rates["one-sided"].high


def choose_config(tuning: Mapping[str, Mapping[str, BandRate]]) -> str:
    """The variant separating mutual from one-sided best on the tuning half, if any does.

    When none separates them (separation <= 0), the defaults stay: changing a
    setting that does not help would only fit noise.
    """
    scored = {n: separation(r) for n, r in tuning.items()}
    candidates = [n for n, s in scored.items() if s is not None and s > 0]
    if not candidates:
        return "defaults"
    return max(candidates, key=lambda n: (scored[n], -list(scored).index(n)))


def evaluate(
    rows: Sequence[PairRow],
    *,
    variant_scores: Mapping[str, Mapping[str, ScoreRow]],
    variant_retest: Mapping[str, float | None],
    as_of: datetime,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """All reported measurements for the labelled pairs (JSON-ready).

    ``variant_scores`` maps each of :data:`CONFIG_VARIANTS` to the scores it gave the pairs,
    ``variant_retest`` to its test-retest correlation on the tuning half.
    """
    rows = sorted(rows, key=lambda r: r.contact_id)
    baselines = baseline_signals(as_of)
    product = product_signals()
    untuned = {**product, **baselines}
    kinds = {n: "product" for n in product} | {n: "baseline" for n in baselines}
    tuning = [r for r in rows if is_tuning_half(r.contact_id)]
    held_out = [r for r in rows if not is_tuning_half(r.contact_id)]
    confident = [r for r in rows if r.product.band != Band.INSUFFICIENT_DATA.value]

    all_aucs, all_reps = auc_table(rows, untuned, resamples_of(rows, seed=seed))
    all_bands = friend_rate_by_band([r.product.band for r in rows], [r.friend for r in rows])
    confident_aucs, _ = auc_table(confident, untuned, resamples_of(confident, seed=seed))

    chosen, combined_aucs = choose_combined(tuning)
    combined_name = "combined: " + chosen
    held_signals = {**product, combined_name: combined_candidates()[chosen], **baselines}
    held_aucs, held_reps = auc_table(held_out, held_signals, resamples_of(held_out, seed=seed))
    variant_bands = {
        n: {cid: row.band for cid, row in scores.items()} for n, scores in variant_scores.items()
    }
    variant_rates = {n: group_rates(tuning, bands) for n, bands in variant_bands.items()}
    variant_aucs = {
        n: auc(*values_by_class(tuning, lambda r, s=scores: s[r.contact_id].score))
        for n, scores in variant_scores.items()
    }
    chosen_config = choose_config(variant_rates)
    held_groups = group_rates(held_out, variant_bands[chosen_config])

    return {
        "all_labelled_pairs": {
            "pairs": len(rows),
            "friends": sum(r.friend for r in rows),
            "auc": auc_json(all_aucs),
            "kinds": kinds,
            "comparison": best_product_vs_best_baseline(all_aucs, all_reps, baselines),
            "bands": bands_json(all_bands),
            "mutual_clearly_above": {
                band: mutual_clearly_above(all_bands, band)
                for band in (*ONE_SIDED_BANDS, Band.INSUFFICIENT_DATA.value)
            },
            "traffic_patterns": traffic_patterns(rows),
            "score_distribution": score_distribution(rows),
            "spearman": what_outputs_track(rows),
        },
        "pairs_with_a_verdict": {
            "rule": "band is not insufficient_data",
            "pairs": len(confident),
            "friends": sum(r.friend for r in confident),
            "auc": auc_json(confident_aucs),
            "spearman": what_outputs_track(confident),
        },
        "tuning_half": {
            "rule": "first byte of sha256(contact id) is even",
            "pairs": len(tuning),
            "people_also_in_held_out_half": len(
                {p for r in tuning for p in people_of(r.contact_id)}
                & {p for r in held_out for p in people_of(r.contact_id)}
            ),
            "friends": sum(r.friend for r in tuning),
            "combined_candidates_auc": {n: _r(v) for n, v in combined_aucs.items()},
            "combined_chosen": chosen,
            "config_variants": {
                name: {
                    "settings": CONFIG_VARIANTS[name],
                    "score_auc": _r(variant_aucs[name]),
                    "test_retest_spearman": _r(variant_retest[name], 3),
                    "band_groups": bands_json(rates),
                    "separation": _r(separation(rates)),
                }
                for name, rates in variant_rates.items()
            },
            "config_chosen": chosen_config,
        },
        "held_out_half": {
            "rule": "first byte of sha256(contact id) is odd",
            "pairs": len(held_out),
            "friends": sum(r.friend for r in held_out),
            "auc": auc_json(held_aucs),
            "kinds": kinds | {combined_name: "product, tuned on the other half"},
            "comparison": best_product_vs_best_baseline(held_aucs, held_reps, baselines),
            "config": chosen_config,
            "band_groups": bands_json(held_groups),
        },
    }


# ------------------------------------------------------------------ time windows

#: Test-retest: the score on days 0-14 against the raw balance of days 14-28.
RETEST_SPLIT_DAY = 14
#: Only pairs with at least this many records in each half: a ratio of 1 or 2 records
#: is noise, not a balance.
RETEST_MIN_RECORDS = 5
#: Prediction: the score on days 0-21 against "they write in days 21-28".
PREDICT_DAY = 21
#: A band comparison needs at least this many pairs on both sides to be tested.
MIN_BAND_PAIRS = 20


def study_day(day: int) -> datetime:
    """Midnight at the start of study day ``day`` (day 0 starts at STUDY_START)."""
    return STUDY_START + timedelta(days=day)


def in_window(activities: Iterable[Activity], start_day: int, end_day: int) -> list[Activity]:
    """The activities from the start of ``start_day`` up to (not including) ``end_day``."""
    start, end = study_day(start_day), study_day(end_day)
    return [a for a in activities if start <= a.occurred_at < end]


def min_max_ratio(traffic: Traffic) -> float:
    """The raw balance of a pair's records: 1 when both sides sent as many, 0 when one-way."""
    return min(traffic.outbound, traffic.inbound) / max(traffic.outbound, traffic.inbound)


def bootstrap_spearman(
    signals: Mapping[str, Sequence[float]],
    target: Sequence[float],
    *,
    n: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, dict[str, Any] | None]:
    """Spearman of each signal with ``target`` and a percentile 95 % interval (paired).

    Pairs are resampled with replacement, the same resamples for every signal. A
    resample where a side is constant has no correlation and is left out; with fewer
    than 3 pairs nothing is reported (None).
    """
    size = len(target)
    if size < 3:
        return {name: None for name in signals}
    rng = random.Random(seed)
    resamples = [[rng.randrange(size) for _ in range(size)] for _ in range(n)]
    out: dict[str, dict[str, Any] | None] = {}
    for name, values in signals.items():
        point = spearman(values, target)
        if point is None:
            out[name] = None
            continue
        reps = [
            rho
            for picks in resamples
            if (rho := spearman([values[i] for i in picks], [target[i] for i in picks])) is not None
        ]
        low, high = percentile_interval(reps)
        out[name] = {"rho": _r(point, 3), "ci95": [_r(low, 3), _r(high, 3)]}
    return out


#: The groups the window measures are reported on: nothing is tuned on them, so
#: both halves are shown next to all pairs.
HALVES: dict[str, Callable[[str], bool]] = {
    "all pairs": lambda cid: True,
    "tuning half": is_tuning_half,
    "held-out half": lambda cid: not is_tuning_half(cid),
}


def retest_pairs(early: Mapping[str, Traffic], late: Mapping[str, Traffic]) -> list[str]:
    """The pairs with enough records in both halves to have a balance in each."""
    return sorted(
        cid
        for cid in early
        if cid in late
        and early[cid].total >= RETEST_MIN_RECORDS
        and late[cid].total >= RETEST_MIN_RECORDS
    )


def retest_spearman(
    early_scores: Mapping[str, ScoreRow], late: Mapping[str, Traffic], pairs: Sequence[str]
) -> float | None:
    """The test-retest correlation as a point value (for the settings tried)."""
    return spearman(
        [early_scores[cid].score for cid in pairs], [min_max_ratio(late[cid]) for cid in pairs]
    )


def test_retest(
    early_scores: Mapping[str, ScoreRow],
    early: Mapping[str, Traffic],
    late: Mapping[str, Traffic],
    *,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Does the score on days 0-14 foresee the same pair's raw balance on days 14-28?

    Next to it, the raw days 0-14 ratio itself: how far a pair's balance carries over
    at all on this data, the ceiling a balance measure can be expected to approach.
    Every communicating pair counts (friendship plays no part here).
    """
    pairs = retest_pairs(early, late)
    groups = {}
    for name, keep in HALVES.items():
        members = [cid for cid in pairs if keep(cid)]
        signals = {
            "score, days 0-14": [early_scores[cid].score for cid in members],
            "raw min/max ratio, days 0-14": [min_max_ratio(early[cid]) for cid in members],
        }
        groups[name] = {
            "pairs": len(members),
            "spearman": bootstrap_spearman(
                signals, [min_max_ratio(late[cid]) for cid in members], seed=seed
            ),
        }
    return {
        "rule": f"score as of {study_day(RETEST_SPLIT_DAY).isoformat()} (records of days 0-"
        f"{RETEST_SPLIT_DAY}) against min/max of outbound and inbound records on days "
        f"{RETEST_SPLIT_DAY}-{STUDY_DAYS}; pairs with at least {RETEST_MIN_RECORDS} records "
        "in each half",
        "groups": groups,
    }


def prediction_signals(
    early: Mapping[str, Traffic], as_of: datetime
) -> dict[str, Callable[[str, ScoreRow], float]]:
    """What might foresee hearing back: the product's outputs and raw counts, for context."""
    return {
        "score": lambda cid, row: row.score,
        "strength": lambda cid, row: row.strength,
        "confidence": lambda cid, row: row.confidence,
        "volume (records, days 0-21)": lambda cid, row: float(early[cid].total),
        "inbound records, days 0-21": lambda cid, row: float(early[cid].inbound),
        "recency of last record": lambda cid, row: (
            -(as_of - early[cid].last_at).total_seconds() / 86400
        ),
    }


PREDICTION_KINDS = {"score": "product", "strength": "product", "confidence": "product"}


def prediction(
    scores: Mapping[str, ScoreRow],
    early: Mapping[str, Traffic],
    heard_back: set[str],
    *,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, Any]:
    """Does the score on days 0-21 foresee that the other side writes in days 21-28?

    "Writes" is any inbound record (a text or a call, answered or not). A higher
    mutuality score must never mean less chance of hearing back (AUC >= 0.5), and
    the `mutual` band should hear back more often than `you_invest_more`.
    """
    as_of = study_day(PREDICT_DAY)
    signals = prediction_signals(early, as_of)
    groups = {}
    for name, keep in HALVES.items():
        ids = [cid for cid in sorted(scores) if keep(cid)]
        outcome = [cid in heard_back for cid in ids]
        entry: dict[str, Any] = {"pairs": len(ids), "heard_back": sum(outcome)}
        if all(outcome) or not any(outcome):
            entry["auc"] = None
        else:
            values = {n: [fn(cid, scores[cid]) for cid in ids] for n, fn in signals.items()}
            aucs, _ = bootstrap_aucs(values, outcome, stratified_resamples(outcome, seed=seed))
            entry["auc"] = auc_json(aucs)
        entry["bands"] = bands_json(
            friend_rate_by_band([scores[cid].band for cid in ids], outcome),
            count="heard_back",
            rate="heard_back_rate",
        )
        groups[name] = entry
    bands = groups["all pairs"]["bands"]
    mutual, you_more = bands[Band.MUTUAL.value], bands[Band.YOU_INVEST_MORE.value]
    testable = min(mutual["pairs"], you_more["pairs"]) >= MIN_BAND_PAIRS
    return {
        "rule": f"score as of {as_of.isoformat()} (records of days 0-{PREDICT_DAY}) against "
        f"at least one inbound record on days {PREDICT_DAY}-{STUDY_DAYS}; every pair with a "
        f"record on days 0-{PREDICT_DAY}",
        "kinds": {n: PREDICTION_KINDS.get(n, "baseline") for n in signals},
        "groups": groups,
        "mutual_above_you_invest_more": {
            "testable": testable,
            "clearly_above": (mutual["ci95"][0] > you_more["ci95"][1]) if testable else None,
        },
    }


# ---------------------------------------------------------------------- orchestration


#: ``scorer(folder, output_csv, config, as_of)`` -> score rows by contact id.
Scorer = Callable[[Path, Path, ScoringConfig, datetime], Mapping[str, ScoreRow]]


def pipeline_scorer(
    folder: Path, output: Path, config: ScoringConfig, as_of: datetime
) -> dict[str, ScoreRow]:
    return run_pipeline(folder, as_of=as_of, scoring=config, output=output)


def score_view(
    interactions: Sequence[Interaction],
    *,
    mirror: bool,
    workdir: Path,
    scorer: Scorer,
    zero_is_missed: bool = False,
) -> tuple[Path, dict[str, ScoreRow], list[Activity]]:
    """Convert one view of the pairs to a files-adapter folder and score it with defaults."""
    contacts, activities = convert(interactions, mirror=mirror, zero_is_missed=zero_is_missed)
    name = "second_member_view" if mirror else "first_member_view"
    folder = workdir / (name + ("_zero_missed" if zero_is_missed else ""))
    write_files_folder(folder, contacts, activities)
    return folder, dict(scorer(folder, folder / "scores.csv", ScoringConfig(), AS_OF)), activities


def score_window(
    contacts: Sequence[Contact],
    activities: Sequence[Activity],
    *,
    end_day: int,
    workdir: Path,
    scorer: Scorer,
    config: ScoringConfig | None = None,
    name: str = "defaults",
) -> dict[str, ScoreRow]:
    """Score the pairs' records before ``end_day`` as of that day's midnight.

    Through the same pipeline as the full run: a files folder holding only the pairs
    that have a record in the window, scored as a nightly job on that date would.
    """
    window = in_window(activities, 0, end_day)
    present = {a.contact_id for a in window}
    folder = workdir / f"days_0_{end_day}"
    if not folder.is_dir():
        write_files_folder(folder, [c for c in contacts if c.id in present], window)
    output = folder / f"scores-{name}.csv"
    return dict(scorer(folder, output, config or ScoringConfig(), study_day(end_day)))


def validate(
    data_dir: Path, *, scorer: Scorer = pipeline_scorer, seed: int = BOOTSTRAP_SEED
) -> tuple[dict[str, Any], list[PairRow]]:
    """Load, convert both views, score them with ``scorer``, join labels, measure.

    Returns the JSON-ready results and the labelled pairs they were measured on.
    """
    interactions = load_interactions(data_dir)
    friendships = load_friendships(data_dir)
    with tempfile.TemporaryDirectory(prefix="mutuality-cns-") as tmp:
        workdir = Path(tmp)
        folder, first, activities = score_view(
            interactions, mirror=False, workdir=workdir, scorer=scorer
        )
        second_folder, second, _ = score_view(
            interactions, mirror=True, workdir=workdir, scorer=scorer
        )
        variant_scores: dict[str, Mapping[str, ScoreRow]] = {"defaults": first}
        variant_mirrors = {"defaults": mirror_check(first, second)}
        for index, (name, settings) in enumerate(CONFIG_VARIANTS.items()):
            if settings:
                config = ScoringConfig(**settings)
                rows = scorer(folder, workdir / f"variant-{index}.csv", config, AS_OF)
                mirrored = scorer(
                    second_folder, workdir / f"variant-{index}-mirror.csv", config, AS_OF
                )
                variant_scores[name] = rows
                variant_mirrors[name] = mirror_check(rows, mirrored)
        _, zero_missed, _ = score_view(
            interactions, mirror=False, workdir=workdir, scorer=scorer, zero_is_missed=True
        )
        contacts, _ = convert(interactions)
        early = traffic_by_contact(in_window(activities, 0, RETEST_SPLIT_DAY))
        late = traffic_by_contact(in_window(activities, RETEST_SPLIT_DAY, STUDY_DAYS))
        tuning_retest = [cid for cid in retest_pairs(early, late) if is_tuning_half(cid)]
        variant_retest = {}
        for index, (name, settings) in enumerate(CONFIG_VARIANTS.items()):
            window_scores = score_window(
                contacts,
                activities,
                end_day=RETEST_SPLIT_DAY,
                workdir=workdir,
                scorer=scorer,
                config=ScoringConfig(**settings),
                name=f"variant-{index}",
            )
            if not settings:
                retest_scores = window_scores
            variant_retest[name] = retest_spearman(window_scores, late, tuning_retest)
        predict_scores = score_window(
            contacts, activities, end_day=PREDICT_DAY, workdir=workdir, scorer=scorer
        )
    traffic = traffic_by_contact(activities)
    missing = sorted(set(traffic) - set(first))
    if missing:
        raise ValidationError(
            f"the pipeline returned no score for {len(missing)} pairs: {missing[:5]}"
        )
    rows = []
    for cid in sorted(traffic):
        a, b = (int(x) for x in cid.split("-"))
        label = friendships.label((a, b))
        if label is not None:
            rows.append(PairRow(cid, label, traffic[cid], first[cid]))
    mirror = variant_mirrors["defaults"]
    zero_rows = [attrs.evolve(r, product=zero_missed[r.contact_id]) for r in rows]
    calls = [i for i in interactions if i.kind == "call"]
    counts = {
        "pairs": len(traffic),
        "labelled_pairs": len(rows),
        "friends": sum(r.friend for r in rows),
    }
    results = {
        "data": {
            "source": CITATION,
            "calls": len(calls),
            "missed_calls": sum(1 for i in calls if (i.duration or 0) < 0),
            "sms": len(interactions) - len(calls),
            **counts,
            "non_friends": counts["labelled_pairs"] - counts["friends"],
            "counts_match_data_readme": counts == EXPECTED_COUNTS,
        },
        "settings": {
            "study_start": STUDY_START.isoformat(),
            "as_of": AS_OF.isoformat(),
            "algorithm": ALGORITHM_VERSION,
            "scoring": "ScoringConfig() defaults",
            "scoring_defaults": ScoringConfig().to_dict(),
            "bootstrap": "stratified percentile",
            "bootstrap_resamples": BOOTSTRAP_RESAMPLES,
            "seed": seed,
            "band_interval": "Wilson score 95 %",
        },
        **evaluate(
            rows,
            variant_scores=variant_scores,
            variant_retest=variant_retest,
            as_of=AS_OF,
            seed=seed,
        ),
        "mirror": attrs.asdict(mirror) | {"ok": mirror.ok},
        "mirror_under_other_settings": {
            name: {
                "one_sided_pairs": sum(
                    row.band in ONE_SIDED_BANDS for row in variant_scores[name].values()
                ),
                "mismatches": check.score_mismatches
                + check.strength_mismatches
                + check.lean_mismatches
                + check.band_mismatches
                + check.missing,
                "ok": check.ok,
            }
            for name, check in variant_mirrors.items()
        },
        "test_retest": test_retest(retest_scores, early, late, seed=seed),
        "prediction": prediction(
            predict_scores,
            traffic_by_contact(in_window(activities, 0, PREDICT_DAY)),
            {
                a.contact_id
                for a in in_window(activities, PREDICT_DAY, STUDY_DAYS)
                if a.direction is Direction.INBOUND
            },
            seed=seed,
        ),
        "sensitivity_zero_second_calls_as_missed": sensitivity(zero_rows, seed=seed),
        "dependence_check": dependence_check(rows),
    }
    results["targets"] = targets(results)
    return results, rows


def _friend_rate(rows: Sequence[PairRow], band: str) -> float:
    members = [r.friend for r in rows if r.product.band == band]
    return sum(members) / len(members) if members else math.nan


#: Statistics whose standard error is checked for the dependence between pairs.
DEPENDENCE_STATISTICS: dict[str, Callable[[Sequence[PairRow]], float]] = {
    "ROC AUC of score": lambda rows: auc(*values_by_class(rows, lambda r: r.product.score)),
    "ROC AUC of confidence minus ROC AUC of volume": lambda rows: (
        auc(*values_by_class(rows, lambda r: r.product.confidence))
        - auc(*values_by_class(rows, lambda r: float(r.traffic.total)))
    ),
    "friend rate of mutual minus insufficient_data": lambda rows: (
        _friend_rate(rows, Band.MUTUAL.value) - _friend_rate(rows, Band.INSUFFICIENT_DATA.value)
    ),
}


def jackknife_se(estimates: Sequence[float]) -> float:
    """The delete-one jackknife standard error from the leave-one-out estimates."""
    n = len(estimates)
    return math.sqrt((n - 1) / n * _spread(estimates))


def _spread(estimates: Sequence[float]) -> float:
    mean = sum(estimates) / len(estimates)
    return sum((e - mean) ** 2 for e in estimates)


def _defined(
    statistic: Callable[[Sequence[PairRow]], float], rows: Sequence[PairRow]
) -> float | None:
    try:
        value = statistic(rows)
    except ValueError:  # AUC without a friend or a non-friend pair
        return None
    return None if math.isnan(value) else value


def dependence_check(rows: Sequence[PairRow]) -> dict[str, Any]:
    """How much wider the intervals get when pairs that share a person are not independent.

    The pairs share people (808 pairs, 559 students), which the pair-level bootstrap
    ignores. Deleting one person at a time, with all their pairs, sees that sharing,
    but it also deletes every pair twice (once per member). The two-way
    cluster-robust form (Cameron, Gelbach and Miller, 2011) removes that double
    count: variance = spread of the person deletions - spread of the pair deletions.
    With no dependence the ratio to the pair-level error is about 1.
    """
    people = sorted({p for r in rows for p in people_of(r.contact_id)})
    members = [people_of(r.contact_id) for r in rows]
    out: dict[str, Any] = {}
    for name, statistic in DEPENDENCE_STATISTICS.items():
        estimate = _defined(statistic, rows)
        by_pair = [_defined(statistic, [*rows[:i], *rows[i + 1 :]]) for i in range(len(rows))]
        by_person = [
            _defined(
                statistic, [r for r, pair in zip(rows, members, strict=True) if person not in pair]
            )
            for person in people
        ]
        by_pair = [v for v in by_pair if v is not None]  # a deletion can empty a class or band
        by_person = [v for v in by_person if v is not None]
        if estimate is None or len(by_pair) < 2 or len(by_person) < 2:
            out[name] = None
            continue
        pair_spread = _spread(by_pair)
        se_pairs = math.sqrt(pair_spread)
        se_people = math.sqrt(max(0.0, _spread(by_person) - pair_spread))
        out[name] = {
            "estimate": _r(estimate, 6),
            "se_pairs": _r(se_pairs, 6),
            "se_people": _r(se_people, 6),
            "ratio": _r(se_people / se_pairs, 2) if se_pairs else None,
            "ci95_people": [
                _r(estimate - Z_95 * se_people, 6),
                _r(estimate + Z_95 * se_people, 6),
            ],
        }
    return out


def sensitivity(rows: Sequence[PairRow], *, seed: int) -> dict[str, Any]:
    """The headline numbers again with 0-second calls read as unanswered."""
    aucs, _ = auc_table(rows, product_signals(), resamples_of(rows, seed=seed))
    bands = friend_rate_by_band([r.product.band for r in rows], [r.friend for r in rows])
    return {"auc": auc_json(aucs), "bands": bands_json(bands)}


# ------------------------------------------------------------------------ output


def _ci(entry: Mapping[str, Any], *, percent: bool = False) -> str:
    low, high = entry["ci95"]
    if percent:
        return f"{100 * low:.1f} – {100 * high:.1f} %"
    return f"{low:.3f} – {high:.3f}"


def render_auc_table(aucs: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, str]) -> str:
    lines = ["| signal | kind | ROC AUC | 95 % CI |", "| --- | --- | ---: | --- |"]
    for name, entry in aucs.items():
        lines.append(f"| {name} | {kinds[name]} | {entry['auc']:.3f} | {_ci(entry)} |")
    return "\n".join(lines)


def render_band_table(
    bands: Mapping[str, Mapping[str, Any]],
    *,
    title: str = "band",
    count: str = "friends",
    rate: str = "friend_rate",
) -> str:
    lines = [
        f"| {title} | pairs | {count.replace('_', ' ')} | {rate.replace('_', ' ')} | 95 % CI |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for band, entry in bands.items():
        if not entry["pairs"]:
            lines.append(f"| {band} | 0 | 0 | – | – |")
            continue
        lines.append(
            f"| {band} | {entry['pairs']} | {entry[count]} | "
            f"{100 * entry[rate]:.1f} % | {_ci(entry, percent=True)} |"
        )
    return "\n".join(lines)


def render_pattern_table(patterns: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "| pairs where | pairs | friend rate | 95 % CI | median score | bands |",
        "| --- | ---: | ---: | --- | ---: | --- |",
    ]
    labels = {
        "one-way": "only one side ever texted or called",
        "two-way": "both sides texted or called",
    }
    for name, entry in patterns.items():
        bands = ", ".join(f"{b} {n}" for b, n in entry["bands"].items() if n)
        lines.append(
            f"| {labels[name]} | {entry['pairs']} | {100 * entry['friend_rate']:.1f} % | "
            f"{_ci(entry, percent=True)} | {entry['median_score']:g} | {bands} |"
        )
    return "\n".join(lines)


def render_variant_table(variants: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "| settings (tuning half) | score AUC | test-retest | mutual: pairs, friend rate "
        "| one-sided: pairs, friend rate | insufficient_data: pairs, friend rate | separation |",
        "| --- | ---: | ---: | --- | --- | --- | ---: |",
    ]
    for name, variant in variants.items():
        groups = variant["band_groups"]
        sep = variant["separation"]
        sep_text = "n/a (< 20 one-sided)" if sep is None else f"{100 * sep:+.1f} pts"
        retest = variant["test_retest_spearman"]
        lines.append(
            f"| {name} | {variant['score_auc']:.3f} | "
            f"{'–' if retest is None else f'{retest:+.3f}'} | {_rate_cell(groups['mutual'])} | "
            f"{_rate_cell(groups['one-sided'])} | {_rate_cell(groups['insufficient_data'])} | "
            f"{sep_text} |"
        )
    return "\n".join(lines)


def render_tracking_table(
    all_pairs: Mapping[str, float | None], with_verdict: Mapping[str, float | None]
) -> str:
    lines = [
        "| product output ~ raw counts | Spearman, all labelled pairs | Spearman, pairs with a "
        "verdict |",
        "| --- | ---: | ---: |",
    ]
    for name in all_pairs:
        cells = ["–" if v is None else f"{v:.2f}" for v in (all_pairs[name], with_verdict[name])]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _difference(value: float) -> str:
    """Three decimals, or enough to show that a difference that small is not zero."""
    return f"{value:+.3f}" if value == 0 or abs(value) >= 0.0005 else f"{value:+.6f}"


def _comparison_line(comparison: Mapping[str, Any]) -> str:
    low, high = comparison["difference_ci95"]
    return (
        f"best product signal '{comparison['best_product_signal']}' minus best baseline "
        f"'{comparison['best_baseline']}': AUC {_difference(comparison['auc_difference'])} "
        f"(95 % CI {low:+.3f} to {high:+.3f})"
    )


def doc_tables(results: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """The tables docs/validation.md quotes verbatim, by key: (title, markdown table)."""
    full = results["all_labelled_pairs"]
    verdict = results["pairs_with_a_verdict"]
    tuning = results["tuning_half"]
    held = results["held_out_half"]
    return {
        "auc_all": (
            f"ROC AUC, all {full['pairs']} labelled pairs",
            render_auc_table(full["auc"], full["kinds"]),
        ),
        "bands_all": ("Friend rate by band, all labelled pairs", render_band_table(full["bands"])),
        "patterns": (
            "One-way and two-way pairs",
            render_pattern_table(full["traffic_patterns"]),
        ),
        "tracking": (
            "What the product outputs track",
            render_tracking_table(full["spearman"], verdict["spearman"]),
        ),
        "auc_verdict": (
            f"ROC AUC, the {verdict['pairs']} pairs with a verdict",
            render_auc_table(verdict["auc"], full["kinds"]),
        ),
        "auc_held_out": (
            f"ROC AUC, held-out half ({held['pairs']} pairs)",
            render_auc_table(held["auc"], held["kinds"]),
        ),
        "variants": (
            "Scoring settings tried on the tuning half",
            render_variant_table(tuning["config_variants"]),
        ),
        "bands_held_out": (
            f"Band groups, held-out half, settings: {held['config']}",
            render_band_table(held["band_groups"], title="band group"),
        ),
        "sensitivity": (
            "Sensitivity: 0-second calls read as unanswered",
            render_sensitivity_table(full, results["sensitivity_zero_second_calls_as_missed"]),
        ),
        "mirror_variants": (
            "Mirror check under every setting tried",
            render_mirror_table(results["mirror_under_other_settings"]),
        ),
        "dependence": (
            "Pairs share people: jackknife standard errors",
            render_dependence_table(results["dependence_check"]),
        ),
        "versions": ("Score 1.0 against score 2.0", render_versions_table(results)),
        "test_retest": (
            "Test-retest: score on days 0-14 against the raw balance of days 14-28",
            render_retest_table(results["test_retest"]),
        ),
        "prediction_auc": (
            f"Prediction: score on days 0-{PREDICT_DAY} against hearing back on days "
            f"{PREDICT_DAY}-{STUDY_DAYS}",
            render_prediction_auc_table(results["prediction"]),
        ),
        "prediction_bands": (
            f"Hearing back on days {PREDICT_DAY}-{STUDY_DAYS} by band on day {PREDICT_DAY}, "
            "all pairs",
            render_band_table(
                results["prediction"]["groups"]["all pairs"]["bands"],
                count="heard_back",
                rate="heard_back_rate",
            ),
        ),
    }


#: Score 1.0's figures, kept so that the page shows what changed. The friendship
#: figures are quoted from docs/validation.md as it stood for 1.0 (commit 1fd2441).
#: 1.0 was never measured on test-retest over these 220 pairs or on prediction: those
#: figures come from the 1.0 core of that commit, run in-process on the same windows,
#: pairs, seed and resamples as below (the issue's +0.02 was on the 198 labelled pairs).
SCORE_1_0 = {
    "friendship_held_out": "0.460 (0.384 – 0.545)",
    "friendship_all": "0.456 (0.406 – 0.510)",
    "test_retest": "+0.031 (-0.094 to +0.156)",
    "prediction": "0.453 (0.417 – 0.490)",
    "mutual_vs_you_invest_more": "not testable: 521 mutual, 1 you_invest_more",
    "at_100": "463 of 808 (57.3 %)",
    "one_sided": "4 of 808",
    "mutual": "548, 91.2 % (88.6 – 93.3 %)",
    "insufficient_data": "256, 82.0 % (76.9 – 86.2 %)",
}
#: The targets issue 9 set for 2.0 (checked on the point estimate; the interval is shown).
TARGETS = {"friendship_held_out": 0.60, "test_retest": 0.25, "prediction": 0.5}


def _rho(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "–"
    low, high = entry["ci95"]
    return f"{entry['rho']:+.3f} ({low:+.3f} to {high:+.3f})"


def _auc_cell(entry: Mapping[str, Any] | None) -> str:
    return "–" if entry is None else f"{entry['auc']:.3f} ({_ci(entry)})"


def _rate_cell(entry: Mapping[str, Any], rate: str = "friend_rate") -> str:
    if not entry["pairs"]:
        return "0"
    return f"{entry['pairs']}, {100 * entry[rate]:.1f} % ({_ci(entry, percent=True)})"


def _met(value: float | None, target: float) -> str:
    if value is None:
        return "not measurable"
    return "**yes**" if value >= target else "**no**"


def targets(results: Mapping[str, Any]) -> dict[str, Any]:
    """Issue 9's targets against this run's figures (point estimates)."""
    held = results["held_out_half"]["auc"]["score"]
    retest = results["test_retest"]["groups"]["all pairs"]["spearman"]["score, days 0-14"]
    predicted = results["prediction"]["groups"]["all pairs"]["auc"]
    predicted_score = None if predicted is None else predicted["score"]["auc"]
    compared = results["prediction"]["mutual_above_you_invest_more"]
    return {
        "friendship_auc_held_out_at_least_0_60": held["auc"] >= TARGETS["friendship_held_out"],
        "test_retest_at_least_0_25": (
            None if retest is None else retest["rho"] >= TARGETS["test_retest"]
        ),
        "prediction_auc_at_least_0_5": (
            None if predicted_score is None else predicted_score >= TARGETS["prediction"]
        ),
        "mutual_hears_back_clearly_more_than_you_invest_more": compared["clearly_above"],
    }


def render_versions_table(results: Mapping[str, Any]) -> str:
    """Score 1.0 (old figures) next to this run, with issue 9's targets."""
    full = results["all_labelled_pairs"]
    held = results["held_out_half"]
    retest = results["test_retest"]["groups"]["all pairs"]
    predicted = results["prediction"]["groups"]["all pairs"]
    bands = predicted["bands"]
    distribution = full["score_distribution"]
    one_sided = sum(full["bands"][b]["pairs"] for b in ONE_SIDED_BANDS)
    compared = results["prediction"]["mutual_above_you_invest_more"]
    mutual, you_more = bands[Band.MUTUAL.value], bands[Band.YOU_INVEST_MORE.value]
    if compared["testable"]:
        compared_text = "clearly above" if compared["clearly_above"] else "intervals overlap"
        compared_met = "**yes**" if compared["clearly_above"] else "**no**"
    else:
        compared_text = (
            f"not testable: {mutual['pairs']} mutual, {you_more['pairs']} you_invest_more"
        )
        compared_met = f"not testable (< {MIN_BAND_PAIRS} pairs)"
    retest_score = retest["spearman"]["score, days 0-14"]
    rows = [
        (
            "friendship ROC AUC of `score`, held-out half",
            SCORE_1_0["friendship_held_out"],
            _auc_cell(held["auc"]["score"]),
            f"≥ {TARGETS['friendship_held_out']:.2f}",
            _met(held["auc"]["score"]["auc"], TARGETS["friendship_held_out"]),
        ),
        (
            "friendship ROC AUC of `score`, all labelled pairs",
            SCORE_1_0["friendship_all"],
            _auc_cell(full["auc"]["score"]),
            "",
            "",
        ),
        (
            f"test-retest Spearman, {retest['pairs']} pairs",
            SCORE_1_0["test_retest"],
            _rho(retest_score),
            f"≥ {TARGETS['test_retest']:.2f}",
            _met(None if retest_score is None else retest_score["rho"], TARGETS["test_retest"]),
        ),
        (
            f"prediction ROC AUC of `score` (they write on days {PREDICT_DAY}-{STUDY_DAYS})",
            SCORE_1_0["prediction"],
            _auc_cell(None if predicted["auc"] is None else predicted["auc"]["score"]),
            f"≥ {TARGETS['prediction']:.1f}",
            _met(
                None if predicted["auc"] is None else predicted["auc"]["score"]["auc"],
                TARGETS["prediction"],
            ),
        ),
        (
            "`mutual` hears back more often than `you_invest_more`",
            SCORE_1_0["mutual_vs_you_invest_more"],
            compared_text,
            f"non-overlapping intervals, both ≥ {MIN_BAND_PAIRS} pairs",
            compared_met,
        ),
        (
            "labelled pairs scoring exactly 100",
            SCORE_1_0["at_100"],
            f"{distribution['at_100']} of {full['pairs']} "
            f"({100 * (distribution['share_at_100'] or 0):.1f} %)",
            "",
            "",
        ),
        (
            "labelled pairs in a one-sided band",
            SCORE_1_0["one_sided"],
            f"{one_sided} of {full['pairs']}",
            "",
            "",
        ),
        (
            "`mutual`: pairs, friend rate",
            SCORE_1_0["mutual"],
            _rate_cell(full["bands"][Band.MUTUAL.value]),
            "",
            "",
        ),
        (
            "`insufficient_data`: pairs, friend rate",
            SCORE_1_0["insufficient_data"],
            _rate_cell(full["bands"][Band.INSUFFICIENT_DATA.value]),
            "",
            "",
        ),
    ]
    lines = [
        "| measure | score 1.0 (old figures) | score 2.0 (this run) | target (issue 9) | met |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def render_retest_table(retest: Mapping[str, Any]) -> str:
    lines = [
        "| pairs | n | `score`, days 0-14 | raw min/max ratio, days 0-14 (the ceiling) |",
        "| --- | ---: | --- | --- |",
    ]
    for name, group in retest["groups"].items():
        cells = [_rho(group["spearman"][signal]) for signal in group["spearman"]]
        lines.append(f"| {name} | {group['pairs']} | {' | '.join(cells)} |")
    return "\n".join(lines)


def render_prediction_auc_table(predicted: Mapping[str, Any]) -> str:
    groups = predicted["groups"]
    header = " | ".join(f"{name} ({group['pairs']} pairs)" for name, group in groups.items())
    lines = [
        f"| signal | kind | {header} |",
        "| --- | --- |" + " --- |" * len(groups),
    ]
    for signal, kind in predicted["kinds"].items():
        cells = [
            _auc_cell(None if group["auc"] is None else group["auc"][signal])
            for group in groups.values()
        ]
        lines.append(f"| {signal} | {kind} | {' | '.join(cells)} |")
    return "\n".join(lines)


def render_dependence_table(checks: Mapping[str, Mapping[str, Any]]) -> str:
    lines = [
        "| statistic | estimate | SE, pairs independent | SE, shared people allowed for "
        "| ratio | 95 % CI, shared people allowed for |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, e in checks.items():
        if e is None:
            lines.append(f"| {name} | undefined on these pairs | | | | |")
            continue
        low, high = e["ci95_people"]
        digits = 3 if abs(e["estimate"]) >= 0.0005 or e["estimate"] == 0 else 6
        ratio = "–" if e["ratio"] is None else f"{e['ratio']:.2f}"
        lines.append(
            f"| {name} | {e['estimate']:+.{digits}f} | {e['se_pairs']:.{digits}f} | "
            f"{e['se_people']:.{digits}f} | {ratio} | "
            f"{low:+.{digits}f} to {high:+.{digits}f} |"
        )
    return "\n".join(lines)


def render_sensitivity_table(reported: Mapping[str, Any], sensitivity: Mapping[str, Any]) -> str:
    lines = [
        "| measure | as reported (0 s = answered) | 0 s = unanswered |",
        "| --- | --- | --- |",
    ]
    for name, entry in sensitivity["auc"].items():
        base = reported["auc"][name]
        lines.append(
            f"| ROC AUC, {name} | {base['auc']:.3f} ({_ci(base)}) | "
            f"{entry['auc']:.3f} ({_ci(entry)}) |"
        )
    for band, entry in sensitivity["bands"].items():
        base = reported["bands"][band]
        if not (entry["pairs"] or base["pairs"]):
            continue
        cells = [
            "0 pairs"
            if not e["pairs"]
            else f"{e['pairs']} {'pair' if e['pairs'] == 1 else 'pairs'}, "
            f"{100 * e['friend_rate']:.1f} % ({_ci(e, percent=True)})"
            for e in (base, entry)
        ]
        lines.append(f"| friend rate, {band} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def render_mirror_table(checks: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["| settings | one-sided pairs | mismatches |", "| --- | ---: | ---: |"]
    for name, entry in checks.items():
        lines.append(f"| {name} | {entry['one_sided_pairs']} | {entry['mismatches']} |")
    return "\n".join(lines)


_MARK = "<!-- validate_cns:{key} -->"
_END = "<!-- /validate_cns -->"


def update_doc_tables(doc: str, results: Mapping[str, Any]) -> str:
    """``doc`` with the table after each ``<!-- validate_cns:KEY -->`` marker replaced."""
    for key, (_, table) in doc_tables(results).items():
        start_mark = _MARK.format(key=key)
        start = doc.find(start_mark)
        if start < 0:
            continue
        end = doc.find(_END, start)
        if end < 0:
            raise ValidationError(f"{start_mark} has no closing {_END}")
        doc = doc[: start + len(start_mark)] + "\n" + table + "\n" + doc[end:]
    return doc


def render_report(results: Mapping[str, Any]) -> str:
    """The compact plain-text report: counts, every table, the goal checks, the mirror check."""
    data = results["data"]
    full = results["all_labelled_pairs"]
    held = results["held_out_half"]
    tuning = results["tuning_half"]
    mirror = results["mirror"]
    lines = [
        f"Copenhagen Networks Study: {data['calls']} calls ({data['missed_calls']} missed), "
        f"{data['sms']} SMS",
        f"pairs {data['pairs']}, labelled {data['labelled_pairs']}, friends {data['friends']}, "
        f"non-friends {data['non_friends']} (data README: "
        f"{'match' if data['counts_match_data_readme'] else 'MISMATCH'})",
        f"as_of {results['settings']['as_of']}; {results['settings']['bootstrap_resamples']} "
        f"stratified bootstrap resamples, seed {results['settings']['seed']}",
    ]
    for title, table in doc_tables(results).values():
        lines += ["", f"## {title}", "", table]
    clearly = full["mutual_clearly_above"]
    lines += [
        "",
        "## Goal checks",
        "all pairs: " + _comparison_line(full["comparison"]),
        "held-out half: " + _comparison_line(held["comparison"]),
        f"combined ranking chosen on the tuning half: {tuning['combined_chosen']}; "
        f"scoring settings chosen on the tuning half: {tuning['config_chosen']}",
        "mutual band's friend rate clearly above (non-overlapping 95 % CIs): "
        + ", ".join(f"{band} {'yes' if ok else 'no'}" for band, ok in clearly.items()),
        f"mirror check on {mirror['pairs']} pairs: missing {mirror['missing']}, score "
        f"{mirror['score_mismatches']}, strength {mirror['strength_mismatches']}, lean "
        f"{mirror['lean_mismatches']}, band {mirror['band_mismatches']} mismatches"
        f" -> {'OK' if mirror['ok'] else 'FAILED'}",
        "issue 9 targets (point estimates): "
        + ", ".join(
            f"{name} {'not measurable' if met is None else 'yes' if met else 'no'}"
            for name, met in results["targets"].items()
        ),
    ]
    return "\n".join(lines)


def results_text(results: Mapping[str, Any]) -> str:
    return json.dumps(results, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def plot_figures(
    results: Mapping[str, Any], roc_curves: Mapping[str, list[tuple[float, float]]], img_dir: Path
) -> list[Path]:
    """Friend rate by band and ROC curves, as PNGs. Needs the optional matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "matplotlib is not installed: skipping the figures "
            "(pip install 'mutuality[validation]' to draw them)",
            file=sys.stderr,
        )
        return []
    img_dir.mkdir(parents=True, exist_ok=True)
    metadata = {"Software": None}
    written = []

    bands = results["all_labelled_pairs"]["bands"]
    shown = [b for b in BAND_ORDER if bands[b]["pairs"]]
    rates = [100 * bands[b]["friend_rate"] for b in shown]
    lows = [r - 100 * bands[b]["ci95"][0] for r, b in zip(rates, shown, strict=True)]
    highs = [100 * bands[b]["ci95"][1] - r for r, b in zip(rates, shown, strict=True)]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar(range(len(shown)), rates, color="#4c72b0")
    ax.errorbar(range(len(shown)), rates, yerr=[lows, highs], fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(range(len(shown)), [f"{b}\n(n={bands[b]['pairs']})" for b in shown], fontsize=8)
    overall = results["all_labelled_pairs"]
    base = 100 * overall["friends"] / overall["pairs"]
    ax.axhline(base, color="grey", linestyle="--", linewidth=1, label=f"all pairs ({base:.0f} %)")
    ax.set_ylim(0, 105)
    ax.set_ylabel("friends (%)")
    ax.set_title("Friend rate by mutuality band, with 95 % Wilson intervals")
    ax.legend(loc="lower right", fontsize=8)
    _credit(fig)
    path = img_dir / "validation_friend_rate_by_band.png"
    fig.savefig(path, dpi=120, metadata=metadata)
    plt.close(fig)
    written.append(path)

    aucs = results["all_labelled_pairs"]["auc"]
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for name, points in roc_curves.items():
        xs, ys = zip(*points, strict=True)
        style = "-" if results["all_labelled_pairs"]["kinds"][name] == "product" else ":"
        ax.plot(xs, ys, style, label=f"{name} (AUC {aucs[name]['auc']:.3f})", drawstyle="default")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
    ax.set_xlabel("false positive rate (non-friends ranked high)")
    ax.set_ylabel("true positive rate (friends ranked high)")
    ax.set_title("ROC for friendship, all labelled pairs")
    ax.legend(loc="lower right", fontsize=7)
    _credit(fig)
    path = img_dir / "validation_roc.png"
    fig.savefig(path, dpi=120, metadata=metadata)
    plt.close(fig)
    written.append(path)
    return written


def _credit(fig: Any) -> None:
    """Lay the figure out with the data's citation under it, as the data's licence asks."""
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.text(
        0.01,
        0.01,
        "Data: Sapiezynski et al., Copenhagen Networks Study, Sci. Data 6, 315 (2019)",
        fontsize=6,
        color="dimgrey",
    )


def roc_curves(rows: Sequence[PairRow], as_of: datetime) -> dict[str, list[tuple[float, float]]]:
    signals = {**product_signals(), **baseline_signals(as_of)}
    return {name: roc_points(*values_by_class(rows, fn)) for name, fn in signals.items()}


def check_docs(results: Mapping[str, Any], json_path: Path, doc_path: Path) -> list[str]:
    """Why the committed docs do not match this run (empty list: they reproduce)."""
    problems = []
    if not json_path.is_file() or json_path.read_text(encoding="utf-8") != results_text(results):
        problems.append(f"{json_path} differs from this run's results")
    doc = doc_path.read_text(encoding="utf-8") if doc_path.is_file() else ""
    for _, table in doc_tables(results).values():
        if table not in doc:
            problems.append(f"{doc_path} does not quote this table verbatim:\n{table}")
    return problems


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Validate the mutuality score against friendship labels "
        "(Copenhagen Networks Study)."
    )
    parser.add_argument(
        "--data", type=Path, required=True, help="folder with calls.csv, sms.csv, fb_friends.csv"
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results JSON to write")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="the page quoting the tables")
    parser.add_argument("--img-dir", type=Path, default=DEFAULT_IMG_DIR, help="where figures go")
    parser.add_argument("--no-plots", action="store_true", help="do not draw the figures")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also rewrite the marked tables in docs/validation.md from this run",
    )
    parser.add_argument(
        "--check-docs",
        action="store_true",
        help="write nothing; exit 1 unless the results JSON and docs/validation.md match this run",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        changed = checksum_mismatches(args.data)
        if changed:
            print(
                f"warning: {', '.join(changed)} differ from the figshare release; "
                "numbers will not match the docs",
                file=sys.stderr,
            )
        results, rows = validate(args.data)
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(render_report(results))
    if args.check_docs:
        problems = check_docs(results, args.json, args.doc)
        for problem in problems:
            print(f"check-docs: {problem}", file=sys.stderr)
        print("check-docs: " + ("FAILED" if problems else "docs reproduce this run exactly"))
        return 1 if problems else 0
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(results_text(results), encoding="utf-8")
    print(f"\nresults written to {args.json}")
    if args.update_docs:
        doc = args.doc.read_text(encoding="utf-8")
        args.doc.write_text(update_doc_tables(doc, results), encoding="utf-8")
        print(f"tables updated in {args.doc}")
    if not args.no_plots:
        for path in plot_figures(results, roc_curves(rows, AS_OF), args.img_dir):
            print(f"figure written to {path}")
    return 0 if results["mirror"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
