"""CHECKPOINT_DIR on HDFS: a consumer moved to another machine (here: a fresh lock folder and nothing local
left of its predecessor) continues exactly where the old one stopped, and the readers work on it."""
from __future__ import annotations

import re

import pytest

from consumer_world import assert_verified, readings, start_topic, wait_caught_up
from weather.common import checkpoint
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
    wait_for(lambda: all("from offset" in program.stderr for program in second), 60, "the moved consumers")
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 500, 60, "500 rows in Kafka")
    for p, program in enumerate(second):
        started = re.search(r"from offset (\d+), next batch (\d+)", program.stderr)
        assert (int(started[1]), int(started[2])) == (before[p].offset, before[p].batch_id + 1), program.stderr
    wait_caught_up(pipeline)
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
    wait_for(lambda: "from offset" in again.stderr, 60, "the recovering consumer")
    assert f"from offset {saved.offset}, next batch {saved.batch_id + 1}" in again.stderr, again.stderr
    assert checkpoint.load(hdfs_checkpoints, 1) == saved
    for program in (again, producer):
        assert program.stop() == 0, program.stderr[-2000:]
