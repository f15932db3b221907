"""Where a consumer starts: its checkpoint and last batch, a rebuilt checkpoint, or afresh for a recreated topic."""
import pytest

from weather.common import batches, checkpoint
from weather.consume import recovery
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.checkpoint import Checkpoint
from weather.consume.recovery import START, Position
from weather.common.storage import open_storage


def write_batch(storage, partition, batch_id, first, last, topic="t1", high_water=0):
    rows = last - first + 1
    table = batches.build_table(["2000-01-01"] * rows, [1.0] * rows, ["StationA"] * rows,
                                BatchInfo(OffsetRange(first, last), topic, high_water=high_water))
    batches.publish(storage, partition, batch_id, batches.write_temp(storage, partition, batch_id, table))


@pytest.fixture
def storage(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    write_batch(storage, 3, 0, 0, 4, high_water=40)
    write_batch(storage, 3, 1, 5, 7, high_water=71)
    return storage


def test_a_checkpoint_continues_after_its_batch_with_the_batchs_high_water_mark(storage, tmp_path):
    folder = str(tmp_path / "cp")
    checkpoint.save(folder, 3, Checkpoint(0, 5))
    assert recovery.start_position(storage, folder, 3, "t1") == Position(batch_id=1, offset=5, high_water=40)
    checkpoint.save(folder, 3, Checkpoint(1, 8))
    assert recovery.start_position(storage, folder, 3, "t1") == Position(batch_id=2, offset=8, high_water=71)


def test_no_checkpoint_starts_at_batch_0_unless_asked_to_recover(storage, tmp_path):
    folder = str(tmp_path / "cp")
    assert recovery.start_position(storage, folder, 3, "t1") == START
    assert recovery.start_position(storage, folder, 3, "t1", recover=True) == Position(2, 8, 71)
    assert checkpoint.load(folder, 3) == Checkpoint(1, 8)


@pytest.mark.parametrize("text", ['{"batch_id": 1, "off', "not json at all", ""])
def test_a_corrupt_checkpoint_is_rebuilt_and_saved_with_a_warning(storage, tmp_path, caplog, text):
    folder = tmp_path / "cp"
    folder.mkdir()
    (folder / "partition-3.json").write_text(text)
    assert recovery.start_position(storage, str(folder), 3, "t1") == Position(2, 8, 71)
    assert checkpoint.load(str(folder), 3) == Checkpoint(1, 8)
    assert "is corrupt" in caplog.text and "rebuilt the checkpoint from the batch files' metadata: batch 1, offset 8" \
        in caplog.text


@pytest.mark.parametrize("saved, why", [(Checkpoint(5, 20), "is missing"), (Checkpoint(0, 3), "does not follow")])
def test_a_checkpoint_its_batch_does_not_vouch_for_is_rebuilt(storage, tmp_path, caplog, saved, why):
    folder = str(tmp_path / "cp")
    checkpoint.save(folder, 3, saved)
    assert recovery.start_position(storage, folder, 3, "t1") == Position(2, 8, 71)
    assert why in caplog.text and checkpoint.load(folder, 3) == Checkpoint(1, 8)


def test_a_checkpoint_of_a_recreated_topic_is_forgotten(storage, tmp_path, caplog):
    folder = str(tmp_path / "cp")
    checkpoint.save(folder, 3, Checkpoint(1, 8))
    assert recovery.start_position(storage, folder, 3, "t2") == START
    assert checkpoint.load(folder, 3) is None and "starting the partition afresh" in caplog.text


def test_rebuild_stops_at_the_first_gap_unreadable_batch_or_other_topic(tmp_path):
    storage = open_storage(f"file://{tmp_path}")
    assert recovery.rebuild_from_batches(storage, 0, "t1") is None
    write_batch(storage, 0, 0, 0, 4, high_water=3)
    write_batch(storage, 0, 1, 5, 5, high_water=9)
    write_batch(storage, 0, 3, 9, 12)  # batch 2 is missing: 3 is not committed
    write_batch(storage, 1, 0, 0, 99)
    assert recovery.rebuild_from_batches(storage, 0, "t1") == Position(2, 6, 9)
    storage.write(batches.batch_name(0, 2), b"half a parquet file")
    assert recovery.rebuild_from_batches(storage, 0, "t1") == Position(2, 6, 9)
    assert recovery.rebuild_from_batches(storage, 0, "other") is None
    write_batch(storage, 2, 0, 0, 4)
    write_batch(storage, 2, 1, 7, 9)  # a gap in the offsets ends the walk
    write_batch(storage, 4, 0, 0, 4)
    write_batch(storage, 4, 1, 5, 9, topic="old")  # as does a batch of another incarnation
    assert recovery.rebuild_from_batches(storage, 2, "t1") == recovery.rebuild_from_batches(storage, 4, "t1") \
        == Position(1, 5, 0)
