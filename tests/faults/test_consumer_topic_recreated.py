"""The producer restarted in its default mode deletes and recreates the topic: consumers must start afresh."""
from __future__ import annotations

import pytest

from consumer_world import assert_verified, record_figures, readings, start_topic, wait_caught_up
from weather.common import batches, checkpoint
from weather.common.storage import open_storage
from world import wait_for

pytestmark = pytest.mark.faults
SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "10"}


def topic_ids(pipeline) -> set:
    """The topic ids of the partitions' last committed batches (None: nothing committed)."""
    storage = open_storage(pipeline.data_url)
    ids = set()
    for partition in range(4):
        saved = checkpoint.load(str(pipeline.checkpoint_dir), partition)
        ids.add(batches.read_info(storage, partition, saved.batch_id).topic_id if saved else None)
    return ids


def first_run(pipeline, running_consumers: bool):
    """Rows committed from a first incarnation of the topic; the producer stopped."""
    producer = start_topic(pipeline)
    pipeline.insert(readings(0, 30))
    consumers = [pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 300, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    assert producer.stop() == 0
    if not running_consumers:
        for consumer in consumers:
            assert consumer.stop() == 0
    return consumers, topic_ids(pipeline)


def second_run(pipeline, old_ids):
    """A new incarnation with more rows; every consumer caught up on it."""
    pipeline.insert(readings(30, 10))
    producer = pipeline.start("producer.py")  # deletes and recreates the topic, sends every row again
    wait_for(lambda: "created topic" in producer.stderr, 60, "the topic recreated")
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 400, 60, "every row in the new topic")
    wait_caught_up(pipeline)
    assert not topic_ids(pipeline) & old_ids and len(topic_ids(pipeline)) == 1
    return producer


def test_a_topic_recreated_under_running_consumers_restarts_each_partition_afresh(pipeline):
    consumers, old_ids = first_run(pipeline, running_consumers=True)
    producer = second_run(pipeline, old_ids)
    found = assert_verified(pipeline)
    assert found.rows_expected == 400
    for consumer in consumers:
        assert consumer.process.poll() is None, consumer.stderr
        assert "starting the partition afresh at batch 0, offset 0" in consumer.stderr, consumer.stderr
        assert consumer.stop() == 0
    assert producer.stop() == 0
    record_figures("topic_recreated_while_running", found, restarts_detected=4)


def test_a_topic_recreated_while_consumers_are_stopped_is_detected_at_their_start(pipeline):
    _, old_ids = first_run(pipeline, running_consumers=False)
    pipeline.insert(readings(30, 10))
    producer = pipeline.start("producer.py")
    wait_for(lambda: "created topic" in producer.stderr, 60, "the topic recreated")
    consumers = [pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 400, 60, "every row in the new topic")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    for consumer in consumers:
        assert "the checkpoint's last batch is of topic id" in consumer.stderr and "starting the partition afresh" \
            in consumer.stderr, consumer.stderr
        assert consumer.stop() == 0
    assert producer.stop() == 0
    assert not topic_ids(pipeline) & old_ids
    record_figures("topic_recreated_while_stopped", found, restarts_detected=4)
