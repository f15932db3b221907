"""The commit protocol: its named states in order, and what readers see after each."""
import re

import pytest

from committing import commit_table

from weather.common import batches, checkpoint, deadletter
from weather.read import committed
from weather.common.batches import BatchInfo, OffsetRange
from weather.consume.writer import State
from weather.common.storage import open_storage


def test_each_step_is_reached_in_order_and_the_batch_is_visible_only_after_the_checkpoint(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    table = batches.build_table(["2000-01-01"], [3.5], ["StationA"], BatchInfo(OffsetRange(0, 0)))
    seen = []

    def record(step, batch_id):
        visible = committed.read_committed_partition(storage, checkpoints, 0).num_rows
        seen.append((step, batch_id, sorted(storage.names()), visible))

    commit_table(storage, checkpoints, 0, 0, table, next_offset=1, reached=record)
    temp = "partition-0-batch-0.parquet.<random>.tmp"
    assert [(step, batch_id, [re.sub(r"parquet\..+\.tmp$", "parquet.<random>.tmp", name) for name in names], visible)
            for step, batch_id, names, visible in seen] == [
        (State.POLLED, 0, [], 0),
        (State.WRITING_TEMP, 0, [temp], 0),
        (State.TEMP_WRITTEN, 0, [temp], 0),
        (State.RENAMED, 0, ["partition-0-batch-0.parquet"], 0),
        (State.WRITING_CHECKPOINT, 0, ["partition-0-batch-0.parquet"], 0),
        (State.CHECKPOINTED, 0, ["partition-0-batch-0.parquet"], 1),
    ]
    assert checkpoint.load(checkpoints, 0) == checkpoint.Checkpoint(batch_id=0, offset=1)


def test_a_crash_midway_leaves_half_a_temp_file_and_one_inside_save_leaves_the_old_checkpoint(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    table = batches.build_table(["2000-01-01"] * 50, [3.5] * 50, ["StationA"] * 50, BatchInfo(OffsetRange(0, 49)))
    sizes = {}

    def record(step, batch_id):
        if step is State.WRITING_TEMP:
            [temp] = batches.temp_files(storage, 0)
            sizes["temp"] = (tmp_path / "data" / temp).stat().st_size
        if step is State.WRITING_CHECKPOINT:
            sizes["checkpoint"] = checkpoint.load(checkpoints, 0)
            sizes["checkpoint_tmp"] = len(checkpoint.temp_files(checkpoints, 0))

    commit_table(storage, checkpoints, 0, 0, table, next_offset=50, reached=record)
    assert 0 < sizes["temp"] < len(batches.to_parquet(table))
    assert sizes["checkpoint"] is None and sizes["checkpoint_tmp"] == 1


def test_dead_letters_are_on_storage_before_the_batch_file(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    dead_storage = open_storage(f"file://{tmp_path}/deadletter")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    letters = [deadletter.DeadLetter.of(2, 7, "not a Report", b"k", b"\xff")]
    table = batches.build_table(["2000-01-01"], [1.0], ["StationA"], BatchInfo(OffsetRange(6, 7), "t1", 1))
    seen = []
    commit_table(storage, checkpoints, 2, 0, table, 8, lambda step, batch_id: seen.append(
        (step, sorted(dead_storage.names()), sorted(storage.names()))), dead_letters=letters,
        dead_letter_storage=dead_storage)
    assert seen[1] == (State.DEAD_LETTERED, ["partition-2-batch-0.jsonl"], [])  # its folder made by the first letter
    assert deadletter.read(dead_storage, 2, 0) == letters
    assert batches.read_info(storage, 2, 0) == batches.BatchInfo(OffsetRange(6, 7), "t1", 1)


def test_committed_ignores_batches_after_the_checkpoint_and_names_a_missing_one(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    for batch_id in range(3):
        table = batches.build_table(["2000-01-01"], [float(batch_id)], ["StationA"], BatchInfo(OffsetRange(batch_id, batch_id)))
        commit_table(storage, checkpoints, 1, batch_id, table, next_offset=batch_id + 1)
    checkpoint.save(checkpoints, 1, checkpoint.Checkpoint(batch_id=1, offset=2))
    assert committed.read_committed(storage, checkpoints, [0, 1])["degrees"].to_pylist() == [0.0, 1.0]
    storage.delete(batches.batch_name(1, 0))
    with pytest.raises(committed.MissingBatch, match="partition-1-batch-0.parquet is committed by"):
        committed.read_committed(storage, checkpoints, [1])


def one_row_batch(degrees, offset, topic_id):
    return batches.build_table(["2000-01-01"], [degrees], ["StationA"], BatchInfo(OffsetRange(offset, offset), topic_id))


class ChangedWhileRead:
    """Storage on which `change` runs just before the reader's first file read: after it loaded the checkpoint."""

    def __init__(self, storage, change) -> None:
        self.storage, self.change, self.url = storage, change, storage.url

    def read(self, name):
        if self.change:
            change, self.change = self.change, None
            change()
        return self.storage.read(name)


def three_committed_batches(tmp_path, topic_id):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    for batch_id in range(3):
        commit_table(storage, checkpoints, 0, batch_id, one_row_batch(1.0, batch_id, topic_id),
                            next_offset=batch_id + 1)
    return storage, checkpoints


def test_a_reader_overtaken_by_a_recreated_topic_reads_again_and_never_mixes_topics(tmp_path):
    storage, checkpoints = three_committed_batches(tmp_path, "old")
    # The recreated topic's consumer commits its batch 0 before the reader reads batch 0.
    recreated = ChangedWhileRead(storage, lambda: commit_table(
        storage, checkpoints, 0, 0, one_row_batch(2.0, 0, "new"), next_offset=1))
    table = committed.read_committed_partition(recreated, checkpoints, 0)
    assert table.column("degrees").to_pylist() == [2.0]


def test_a_partition_whose_batches_never_agree_on_a_topic_is_a_clear_error(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_table(storage, checkpoints, 0, 0, one_row_batch(1.0, 0, "old"), next_offset=1)
    commit_table(storage, checkpoints, 0, 1, one_row_batch(1.0, 1, "new"), next_offset=2)
    with pytest.raises(committed.StaleRead, match="partition 0"):
        committed.read_committed_partition(storage, checkpoints, 0)


def test_a_reader_overtaken_by_a_rewrite_with_other_batch_boundaries_reads_again(tmp_path):
    storage, checkpoints = three_committed_batches(tmp_path, "t")

    def rewrite():  # the checkpoint removed, batch 0 rewritten (same topic) with offsets 0..1: batch 1 overlaps it
        checkpoint.remove(checkpoints, 0)
        two = batches.build_table(["2000-01-01"] * 2, [2.0, 2.0], ["StationA"] * 2, BatchInfo(OffsetRange(0, 1), "t"))
        commit_table(storage, checkpoints, 0, 0, two, next_offset=2)

    table = committed.read_committed_partition(ChangedWhileRead(storage, rewrite), checkpoints, 0)
    assert table.column("degrees").to_pylist() == [2.0, 2.0]
