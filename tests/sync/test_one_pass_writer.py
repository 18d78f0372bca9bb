"""A writer that reads each update once gets its score objects built as it reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from mutuality_core.model import Contact, MutualityScore
from mutuality_core.ports import OnePassWriter, ScoreUpdate, WriteResult
from mutuality_core.scoring import score_contact
from mutuality_core.sync import _Batch

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)


class Pending:
    """A pending score that counts how often it is built."""

    def __init__(self, contact_id: str) -> None:
        self.real = score_contact([], as_of=AS_OF, contact_id=contact_id)
        self.score, self.band, self.algorithm = self.real.score, self.real.band, self.real.algorithm
        self.builds = 0

    def build(self) -> MutualityScore:
        self.builds += 1
        return self.real


def batch_of(n: int, *, hold: bool) -> tuple[_Batch, list[Pending]]:
    batch = _Batch(AS_OF, hold=hold)
    pending = [Pending(f"c{i}") for i in range(n)]
    for i, p in enumerate(pending):
        batch.add(Contact(f"c{i}"), p)
    return batch, pending


def test_one_pass_builds_each_score_as_it_is_read_and_keeps_its_written_value() -> None:
    batch, pending = batch_of(3, hold=False)
    assert [p.builds for p in pending] == [0, 0, 0]  # nothing built up front
    read = [u.contact.id for u in batch]  # the writer's one pass
    assert read == ["c0", "c1", "c2"]
    assert [p.builds for p in pending] == [1, 1, 1]
    values = [batch.written_value(i) for i in range(3)]
    assert [p.builds for p in pending] == [1, 1, 1]  # the values came from that pass
    assert [v.contact_id for v in values] == read
    assert values[0].score == pending[0].real.score
    assert values[0].reasons == pending[0].real.reasons_text
    assert batch[-1].contact.id == "c2" and [u.contact.id for u in batch[1:]] == ["c1", "c2"]


def test_a_value_the_writer_never_read_is_built_for_the_record() -> None:
    batch, pending = batch_of(2, hold=False)
    assert batch.written_value(1).contact_id == "c1"
    assert [p.builds for p in pending] == [0, 1]


def test_any_other_writer_gets_every_update_built_up_front() -> None:
    batch, pending = batch_of(2, hold=True)
    assert [p.builds for p in pending] == [1, 1]
    first = [u.score for u in batch]
    assert [u.score for u in batch] == first  # read twice: the same objects, no rebuild
    assert [p.builds for p in pending] == [1, 1]


def test_the_scores_file_writer_is_a_one_pass_writer(tmp_path) -> None:
    from mutuality_adapters.files.writer import ScoresFileWriter

    class Recording:
        reads_updates_once = True

        def write(self, updates: Sequence[ScoreUpdate]) -> Sequence[WriteResult]:
            return [WriteResult(u.contact.id, True) for u in updates]

    writer = ScoresFileWriter(tmp_path / "scores.csv", lambda: frozenset({"c1"}))
    assert isinstance(writer, OnePassWriter) and writer.reads_updates_once
    assert isinstance(Recording(), OnePassWriter)
