"""Checkpoints: atomic save, exact JSON, clear errors when corrupt, rebuilt from batch metadata."""
import json

import pytest

from weather import batches, checkpoint
from weather.batches import OffsetRange
from weather.checkpoint import Checkpoint, CorruptCheckpoint
from weather.storage import open_storage


def test_a_saved_checkpoint_loads_back_and_is_the_specifications_json(tmp_path):
    checkpoint.save(str(tmp_path), 3, Checkpoint(batch_id=20, offset=255))
    assert checkpoint.load(str(tmp_path), 3) == Checkpoint(20, 255)
    assert json.loads((tmp_path / "partition-3.json").read_text()) == {"batch_id": 20, "offset": 255}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["partition-3.json"]  # no temp file left


def test_saving_again_replaces_the_checkpoint(tmp_path):
    checkpoint.save(str(tmp_path), 0, Checkpoint(0, 5))
    checkpoint.save(str(tmp_path), 0, Checkpoint(1, 9))
    assert checkpoint.load(str(tmp_path), 0) == Checkpoint(1, 9)


def test_no_checkpoint_is_none(tmp_path):
    assert checkpoint.load(str(tmp_path), 0) is None


@pytest.mark.parametrize("text", ['{"batch_id": 20, "off', "", "[]", '{"batch_id": 1}',
                                  '{"batch_id": "1", "offset": 2}', '{"batch_id": -1, "offset": 2}',
                                  '{"batch_id": 1, "offset": true}'])
def test_a_corrupt_checkpoint_raises_corrupt_checkpoint_naming_the_file(tmp_path, text):
    (tmp_path / "partition-1.json").write_text(text)
    with pytest.raises(CorruptCheckpoint, match="partition-1.json is corrupt"):
        checkpoint.load(str(tmp_path), 1)


def write_batch(storage, partition, batch_id, first, last):
    table = batches.build_table(["2000-01-01"] * (last - first + 1), [1.0] * (last - first + 1),
                                ["StationA"] * (last - first + 1), OffsetRange(first, last))
    batches.write_temp(storage, partition, batch_id, table)
    batches.publish(storage, partition, batch_id)


def test_rebuild_stops_at_the_first_gap_or_unreadable_batch(tmp_path):
    storage = open_storage(f"file://{tmp_path}")
    assert checkpoint.rebuild_from_batches(storage, 0) is None
    write_batch(storage, 0, 0, 0, 4)
    write_batch(storage, 0, 1, 5, 5)
    write_batch(storage, 0, 3, 9, 12)  # batch 2 is missing: 3 is not committed
    write_batch(storage, 1, 0, 0, 99)
    assert checkpoint.rebuild_from_batches(storage, 0) == Checkpoint(batch_id=1, offset=6)
    storage.write(batches.batch_name(0, 2), b"half a parquet file")
    assert checkpoint.rebuild_from_batches(storage, 0) == Checkpoint(batch_id=1, offset=6)


def test_the_topic_id_is_kept_as_a_third_key_and_is_optional(tmp_path):
    checkpoint.save(str(tmp_path), 0, Checkpoint(2, 9, "abc"))
    assert json.loads((tmp_path / "partition-0.json").read_text()) == {"batch_id": 2, "offset": 9, "topic_id": "abc"}
    assert checkpoint.load(str(tmp_path), 0) == Checkpoint(2, 9, "abc")
    (tmp_path / "partition-1.json").write_text('{"batch_id": 1, "offset": 4}')
    assert checkpoint.load(str(tmp_path), 1) == Checkpoint(1, 4, None)


def test_a_temp_file_left_inside_save_is_removed(tmp_path):
    checkpoint.temp_path(str(tmp_path), 2).write_text('{"batch_id": 3')
    assert checkpoint.remove_temp(str(tmp_path), 2) and not checkpoint.remove_temp(str(tmp_path), 2)


def test_rebuild_takes_only_contiguous_batches_of_the_current_topic(tmp_path):
    storage = open_storage(f"file://{tmp_path}")
    for batch_id, (first, last, topic) in enumerate([(0, 4, "new"), (5, 9, "new"), (10, 12, "old")]):
        table = batches.build_table(["2000-01-01"] * (last - first + 1), [1.0] * (last - first + 1),
                                    ["StationA"] * (last - first + 1), OffsetRange(first, last), topic)
        batches.write_temp(storage, 0, batch_id, table)
        batches.publish(storage, 0, batch_id)
    assert checkpoint.rebuild_from_batches(storage, 0, "new") == Checkpoint(1, 10, "new")
    assert checkpoint.rebuild_from_batches(storage, 0, "other") is None
    write_batch(storage, 1, 0, 0, 4)
    write_batch(storage, 1, 1, 7, 9)  # overlapping or gapped numbering ends the walk
    assert checkpoint.rebuild_from_batches(storage, 1) == Checkpoint(0, 5)
