"""The compiled decoder on what a real broker returns: compressed record batches of every codec,
transactions (control batches, an aborted transaction), foreign messages; the same batches as the
pure-Python path, polled the way consumer.py polls (weather/consume/fetch.py)."""
from __future__ import annotations

import logging
import uuid

import kafka
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from weather.consume import fetch
from weather.common import report

pytestmark = pytest.mark.skipif(fetch.weather_fastdecode is None, reason="the compiled decoder is not built")
log = logging.getLogger("test-fetch")


def send_rows(producer: KafkaProducer, topic: str, first_id: int, count: int) -> None:
    """Rows first_id.. as producer.py sends them, then one message that is not a Report."""
    for row_id in range(first_id, first_id + count):
        station = f"ST{row_id % 5}"
        producer.send(topic, partition=0, key=station.encode(), headers=[("row_id", str(row_id).encode())],
                      value=report.encode(station, f"2024-01-{1 + row_id % 28:02d}", row_id / 4))
    producer.send(topic, partition=0, key=b"stranger", value=b"\x08\x96\x01 not a Report")


def poll_all(bootstrap: str, topic: str, expected_end: int, fast: bool) -> tuple[fetch.Decoded, list]:
    """Everything in the partition, in the batches PartitionPoller polls, decoded; and the offsets of each."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="none")
    tp = TopicPartition(topic, 0)
    consumer.assign([tp])
    consumer.seek(tp, 0)
    poller = fetch.PartitionPoller(consumer, tp, log)
    assert poller.fast == fast
    high_water, decoded, sizes = 0, [], []
    while consumer.position(tp) < expected_end:
        items = poller.poll_batch(max_rows=700, max_wait=0.5)
        if items:
            batch = fetch.decode(items, 0, high_water)
            high_water = batch.high_water
            decoded.append(batch)
            sizes.append(batch.last_offset - batch.first_offset + 1)
    consumer.close()
    return decoded, sizes


def test_every_codec_and_transactions_decode_as_the_pure_python_path(stack_env, monkeypatch):
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"fetch-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, int(stack_env.get("TOPIC_REPLICATION_FACTOR", "1")))])
    for number, codec in enumerate((None, "gzip", "snappy", "lz4", "zstd")):
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", compression_type=codec)
        send_rows(producer, topic, 1 + 500 * number, 500)
        producer.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"fetch-test-{uuid.uuid4().hex[:8]}")
    producer.init_transactions()
    for first_id, commit in ((2501, True), (2801, False)):  # control batches; an aborted transaction
        producer.begin_transaction()
        send_rows(producer, topic, first_id, 300)
        producer.flush()  # on the broker before the end of the transaction, even an aborted one
        producer.commit_transaction() if commit else producer.abort_transaction()
    producer.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    send_rows(producer, topic, 100, 10)  # rows sent again: duplicates
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    end = consumer.end_offsets([TopicPartition(topic, 0)])[TopicPartition(topic, 0)]
    consumer.close()

    fast, fast_sizes = poll_all(bootstrap, topic, end, fast=True)
    with monkeypatch.context() as patch:  # a kafka-python the adapter does not know: the plain path
        patch.setattr(kafka, "__version__", "3.1.0")
        plain, _ = poll_all(bootstrap, topic, end, fast=False)
    monkeypatch.setattr(fetch, "weather_fastdecode", None)
    slow, _ = poll_all(bootstrap, topic, end, fast=False)
    admin.delete_topics([topic])
    admin.close()

    def whole(batches):
        columns = [[value for b in batches for value in b.columns()[i].to_pylist()] for i in range(3)]
        return columns, [letter for b in batches for letter in b.dead_letters], sum(b.duplicates for b in batches), \
            batches[-1].high_water, batches[0].first_offset, batches[-1].last_offset

    assert whole(fast) == whole(slow) == whole(plain)
    rows, dead, duplicates, high_water, first, last = whole(fast)
    # 2,500 plain rows + 300 committed + 300 aborted (read_uncommitted reads them too), 10 sent again
    assert len(rows[0]) == 3100 and duplicates == 10 and high_water == 3100
    assert len(dead) == 8 and first == 0 and last == end - 1
    assert max(fast_sizes) == 700  # record batches cut to fit
