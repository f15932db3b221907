"""The record contract every side shares, and reading it back from the topic's tail.

A message is key = station id (bytes), value = a Report (weather/common/report.py), and header
`row_id` = the row's table id, sent to the partition Kafka's default partitioner gives its key
(murmur2, made explicit here so that the producer's skip test and its send agree). The consumer
drops a record whose row id its partition already committed; the producer and the verifier read
each partition's tail: the row id of its last record that carries one.
"""
from __future__ import annotations

import functools

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaTimeoutError
from kafka.partitioner.default import murmur2

from weather.common.waiting import wait_until

HEADER = "row_id"
WINDOW = 100  # records read per step when looking back for a record that carries the header
READ_TIMEOUT = 30  # seconds to read a window before the caller's retry takes over


@functools.lru_cache(maxsize=1024)  # asked for every row sent, of a handful of station ids; murmur2 is pure Python
def partition_for(key: bytes, partitions: int) -> int:
    """The partition the producer sends `key` to: Kafka's default partitioner (murmur2), made explicit
    so that the skip test below and the send agree."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def row_id(headers) -> int | None:
    """The record's table id; None without a usable `row_id` header (table ids start at 1)."""
    for name, value in headers or ():
        if name == HEADER:
            try:
                found = int(value)
            except (TypeError, ValueError):  # a header without a value, or not a number: someone else's record
                return None
            return found if found >= 1 else None
    return None


def _last_row_id(consumer: KafkaConsumer, tp: TopicPartition, begin: int, end: int) -> int:
    """The highest row id among the partition's records in [begin, end); 0 when none carries one."""
    consumer.assign([tp])
    stop = end
    while stop > begin:
        start = max(begin, stop - WINDOW)
        found = _row_ids(consumer, tp, start, stop)
        if found:
            return max(found)
        stop = start  # a window of foreign messages only: look further back
    return 0


def _row_ids(consumer: KafkaConsumer, tp: TopicPartition, start: int, stop: int) -> list[int]:
    """The row ids of the partition's records in [start, stop)."""
    consumer.seek(tp, start)
    found = []

    def read_to_stop() -> bool:
        for record in consumer.poll(timeout_ms=500).get(tp, []):
            if record.offset < stop and (found_id := row_id(record.headers)) is not None:
                found.append(found_id)
        # The position, not the last record's offset: it also moves past a control batch (the commit or
        # abort marker of another client's transaction), whose offset no poll returns.
        return consumer.position(tp) >= stop

    what = f"reading {tp.topic}[{tp.partition}] offsets {start}..{stop - 1}"
    try:
        wait_until(read_to_stop, READ_TIMEOUT, what, every=0)
    except TimeoutError as error:
        raise KafkaTimeoutError(str(error)) from None  # the callers retry Kafka's errors
    return found


def read_tails(consumer: KafkaConsumer, topic: str) -> dict[int, int]:
    """Each partition of the topic -> the row id of its last record that has one (0: none yet)."""
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        raise KafkaTimeoutError(f"no metadata for topic {topic}")
    begins = consumer.beginning_offsets(partitions)
    ends = consumer.end_offsets(partitions)
    return {tp.partition: _last_row_id(consumer, tp, begins[tp], ends[tp]) for tp in partitions}
