"""What the topic already holds, so the producer sends each row once.

Each message carries its table id in the `row_id` header. Within a partition the producer sends in
id order and the idempotent producer keeps that order, so the ids a partition holds are a prefix
of the rows that belong to it: its last record's id (its tail) says which of them arrived. Across
partitions there is no such order (a page cut short by a crash or a failed send may have reached
partition 0 but not partition 1), so a row is already sent exactly when its own partition's tail
is at or above its id, and the table is scanned again from the lowest tail.
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


def resume_point(tails: dict[int, int]) -> int:
    """The id after which to scan the table again: every row at or below it is in its partition."""
    return min(tails.values())


def unsent(rows: list, tails: dict[int, int]) -> list:
    """The rows whose partition does not hold them yet (rows: table rows with .id and .station_id)."""
    return [row for row in rows if row.id > tails[partition_for(row.station_id.encode(), len(tails))]]
