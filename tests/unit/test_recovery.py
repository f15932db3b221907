"""Where a consumer starts: its checkpoint, a rebuilt one, or afresh for a recreated topic."""
import pytest

from weather import batches, checkpoint, incarnation, recovery
from weather.batches import OffsetRange
from weather.checkpoint import Checkpoint
from weather.storage import open_storage


@pytest.fixture
def storage(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    for batch_id, (first, last) in enumerate([(0, 4), (5, 7)]):
        table = batches.build_table(["2000-01-01"] * (last - first + 1), [1.0] * (last - first + 1),
                                    ["StationA"] * (last - first + 1), OffsetRange(first, last), "t1")
        batches.write_temp(storage, 3, batch_id, table)
        batches.publish(storage, 3, batch_id)
    return storage


def test_no_checkpoint_starts_at_batch_0_unless_asked_to_recover(storage, tmp_path):
    folder = str(tmp_path / "cp")
    assert recovery.start_position(storage, folder, 3, "t1", 8) is None
    assert recovery.start_position(storage, folder, 3, "t1", 8, recover=True) == Checkpoint(1, 8, "t1")
    assert checkpoint.load(folder, 3) == Checkpoint(1, 8, "t1")


@pytest.mark.parametrize("text", ['{"batch_id": 1, "off', "not json at all", ""])
def test_a_corrupt_checkpoint_is_rebuilt_and_saved_with_a_warning(storage, tmp_path, caplog, text):
    folder = tmp_path / "cp"
    folder.mkdir()
    (folder / "partition-3.json").write_text(text)
    assert recovery.start_position(storage, str(folder), 3, "t1", 8) == Checkpoint(1, 8, "t1")
    assert checkpoint.load(str(folder), 3) == Checkpoint(1, 8, "t1")
    assert "is corrupt" in caplog.text and "rebuilt it from the batch files' offset metadata: batch 1, offset 8" \
        in caplog.text


def test_a_checkpoint_of_a_recreated_topic_is_forgotten(storage, tmp_path, caplog):
    folder = str(tmp_path / "cp")
    checkpoint.save(folder, 3, Checkpoint(1, 8, "t1"))
    assert recovery.start_position(storage, folder, 3, "t2", 100) is None
    assert checkpoint.load(folder, 3) is None and "starting the partition afresh" in caplog.text


def test_stale_reason_by_topic_id_or_by_an_offset_beyond_the_log_end():
    assert incarnation.stale_reason(Checkpoint(0, 5, "a"), "a", 3) is None  # same id: not judged by offset here
    assert "recreated" in incarnation.stale_reason(Checkpoint(0, 5, "a"), "b", 9)
    assert incarnation.stale_reason(Checkpoint(0, 5), "b", 5) is None
    assert "beyond the partition's log end 4" in incarnation.stale_reason(Checkpoint(0, 5), "b", 4)
