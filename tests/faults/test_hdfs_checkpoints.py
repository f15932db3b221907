"""CHECKPOINT_DIR on HDFS: a consumer moved to another machine (here: a fresh lock folder and nothing local
left of its predecessor) continues exactly where the old one stopped, and the readers work on it."""
from __future__ import annotations

import pytest

from consumer_world import assert_verified, readings, start_topic, wait_caught_up
from weather.common import batches, checkpoint
from weather.read import committed
from weather.common.storage import open_storage
from world import wait_for

pytestmark = pytest.mark.faults


def test_a_consumer_moved_with_its_checkpoints_on_hdfs_continues_where_the_old_one_stopped(pipeline, tmp_path):
    hdfs_checkpoints = pipeline.data_url.rsplit("/", 1)[0] + "/checkpoints"
    pipeline.env["CHECKPOINT_DIR"] = hdfs_checkpoints
    pipeline.insert(readings(0, 30))
    producer = start_topic(pipeline)
    first = [pipeline.start("consumer.py", str(p), LOCK_DIR=str(tmp_path / "host-a"),
                            CONSUMER_MAX_POLL_RECORDS="20") for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 300, 60, "300 rows in Kafka")
    wait_caught_up(pipeline)
    before = {p: checkpoint.load(hdfs_checkpoints, p) for p in range(4)}
    assert all(saved and saved.offset > 0 for saved in before.values()), before
    for program in first:
        assert program.stop() == 0, program.stderr[-2000:]
    assert not (tmp_path / "host-b").exists()

    pipeline.insert(readings(30, 20))
    second = [pipeline.start("consumer.py", str(p), LOCK_DIR=str(tmp_path / "host-b")) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 500, 60, "500 rows in Kafka")
    wait_caught_up(pipeline)
    data = open_storage(pipeline.data_url)
    for p in range(4):  # the moved consumer's first batch: the next id, from the old checkpoint's offset
        assert batches.read_offsets(data, p, before[p].batch_id + 1).first == before[p].offset, (p, before[p])
    found = assert_verified(pipeline)
    assert found.rows_expected == 500
    rows = committed.read_committed(open_storage(pipeline.data_url), hdfs_checkpoints, range(4))
    assert rows.num_rows == 500
    assert all(checkpoint.committed_at(hdfs_checkpoints, p) for p in range(4))
    for program in (*second, producer):
        assert program.stop() == 0, program.stderr[-2000:]


def test_recover_rebuilds_a_missing_checkpoint_on_hdfs_from_the_batches(pipeline, tmp_path):
    hdfs_checkpoints = pipeline.data_url.rsplit("/", 1)[0] + "/checkpoints"
    pipeline.env["CHECKPOINT_DIR"] = hdfs_checkpoints
    pipeline.insert(readings(0, 20))
    producer = start_topic(pipeline)
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 200, 60, "200 rows in Kafka")
    consumer = pipeline.start("consumer.py", "1", CONSUMER_MAX_POLL_RECORDS="10")
    wait_for(lambda: (checkpoint.load(hdfs_checkpoints, 1) or checkpoint.Checkpoint(0, 0)).offset
             == pipeline.end_offsets()[1], 60, "partition 1 committed")
    saved = checkpoint.load(hdfs_checkpoints, 1)
    assert consumer.stop() == 0
    checkpoint.remove(hdfs_checkpoints, 1)
    assert checkpoint.load(hdfs_checkpoints, 1) is None
    again = pipeline.start("consumer.py", "1", "--recover")
    wait_for(lambda: checkpoint.load(hdfs_checkpoints, 1), 60, "the rebuilt checkpoint")
    assert checkpoint.load(hdfs_checkpoints, 1) == saved
    pipeline.insert(readings(20, 10))  # and it goes on from there: its next batch starts where the saved one ended
    wait_for(lambda: checkpoint.load(hdfs_checkpoints, 1).offset == pipeline.end_offsets()[1] > saved.offset, 60,
             "partition 1's new rows committed")
    data = open_storage(pipeline.data_url)
    assert batches.read_offsets(data, 1, saved.batch_id + 1).first == saved.offset
    for program in (again, producer):
        assert program.stop() == 0, program.stderr[-2000:]
