"""On the real broker: a topic the producer fills with whole record batches (weather/produce/delivery.py,
fastdecode/weather_fastencode.c) holds record for record what send() per row puts in another (offsets, keys,
values, headers, partitions), edge values included; and with a kafka-python the adapter does not know, the
producer says so in one line and sends with send()."""
from __future__ import annotations

import logging
import uuid

import kafka
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic

from edge_rows import edge_rows
from weather.common.config import Settings
from weather.produce import delivery
from world import wait_for

pytest.importorskip("weather_fastencode", reason="the compiled builder is not built")
log = logging.getLogger("test-batches")
PARTITIONS = 4


@pytest.fixture
def topics(stack_env):
    """Settings for two fresh topics of four partitions."""
    admin = KafkaAdminClient(bootstrap_servers=stack_env["KAFKA_BOOTSTRAP_SERVERS"])
    names = [f"batches-test-{uuid.uuid4().hex[:8]}-{n}" for n in range(2)]
    admin.create_topics([NewTopic(name, PARTITIONS, int(stack_env.get("TOPIC_REPLICATION_FACTOR", "1")))
                         for name in names])
    yield [Settings.from_env(env={**stack_env, "TOPIC": name}) for name in names]
    admin.delete_topics(names)
    admin.close()


def produce(settings: Settings, rows: list, page_size: int) -> bool:
    """Send the rows page by page as the producer does; whether it sent whole record batches."""
    sender = delivery.Delivery(settings, log)
    sender.start()
    try:
        for start in range(0, len(rows), page_size):
            sender.send(rows[start:start + page_size])
        return sender.whole_batches
    finally:
        sender.close()


def topic_records(settings: Settings) -> dict[int, list[tuple]]:
    """Partition -> its records as (offset, key, value, headers), read to the end."""
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(settings.topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends, found = consumer.end_offsets(partitions), {p: [] for p in range(PARTITIONS)}

        def read_all() -> bool:
            for tp, polled in consumer.poll(timeout_ms=200).items():
                found[tp.partition].extend((r.offset, r.key, r.value, r.headers) for r in polled)
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        wait_for(read_all, 60, f"topic {settings.topic} read to its end", interval=0)
        return found
    finally:
        consumer.close()


@pytest.mark.parametrize("plain_path", ["no builder", "unknown kafka-python"])
def test_the_topic_written_by_whole_batches_equals_the_one_written_by_send(topics, monkeypatch, caplog, plain_path):
    rows = edge_rows(3000)
    assert produce(topics[0], rows, page_size=1000)
    if plain_path == "no builder":
        monkeypatch.setattr(delivery, "weather_fastencode", None)
    else:
        monkeypatch.setattr(kafka, "__version__", "3.1.0")
    caplog.clear()
    caplog.set_level(logging.INFO, logger=log.name)
    assert not produce(topics[1], rows, page_size=1000)
    assert sum("sending rows one by one with kafka-python's send()" in r.getMessage() for r in caplog.records) == 1
    by_batches, by_send = topic_records(topics[0]), topic_records(topics[1])
    assert sum(len(found) for found in by_send.values()) == len(rows)
    assert by_batches == by_send
