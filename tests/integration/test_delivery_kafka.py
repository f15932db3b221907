"""A Kafka client the producer gives up on stops at once (weather/produce/delivery.py), on a real broker.

A client is made stuck the way a broker that never answers would leave it: its sender thread never
drains a batch, so a send stays unresolved and never expires. kafka-python's close() would flush first
and raise, leaving that thread running with the send (a late duplicate) and one client leaked per failure.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter

import kafka
import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError
from kafka.producer.sender import Sender

from weather.common.config import Settings
from weather.produce import delivery
from weather.common import records
from weather.produce.delivery import Delivery
from world import STATIONS, wait_for

log = logging.getLogger("test-delivery")
NEVER_ANSWERED = 100  # ms the stuck sender sleeps between rounds in which it sends nothing


def live_senders() -> int:
    return sum(1 for thread in threading.enumerate() if isinstance(thread, Sender) and thread.is_alive())


def make_stuck(client: kafka.KafkaProducer) -> Sender:
    """The client's sender goes on running but never sends or expires a batch; the sender, to watch it."""
    client._sender._send_producer_data = lambda now=None: NEVER_ANSWERED
    return client._sender


@pytest.fixture
def settings(stack_env):
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"delivery-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 4, int(stack_env.get("TOPIC_REPLICATION_FACTOR", "1")))])
    yield Settings.from_env(env={**stack_env, "TOPIC": topic})
    admin.delete_topics([topic])
    admin.close()


def row_ids_in(settings: Settings) -> Counter:
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(settings.topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends, found = consumer.end_offsets(partitions), Counter()

        def read_all() -> bool:
            for polled in consumer.poll(timeout_ms=200).values():
                found.update(records.row_id(record.headers) for record in polled)
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        wait_for(read_all, 30, "the topic read to its end", interval=0)
        return found
    finally:
        consumer.close()


def test_clients_replaced_after_stuck_sends_stop_at_once_and_the_rows_arrive_once(settings, monkeypatch):
    failures = 2
    monkeypatch.setattr(delivery, "GIVE_UP_AFTER", 1)  # a stuck page counts as failed after 1 s, not 25
    monkeypatch.setattr(delivery, "SLOW_ACK_WARNING", 0.2)
    stuck = []
    connect = Delivery._connect

    def connect_stuck_at_first(self):
        client = connect(self)
        if len(stuck) < failures:
            stuck.append(make_stuck(client))
        return client

    monkeypatch.setattr(Delivery, "_connect", connect_stuck_at_first)
    before = live_senders()
    sender = Delivery(settings, log)
    sender.start()
    rows = [(row_id, STATIONS[row_id % 10], "2024-01-01", row_id / 4) for row_id in range(1, 41)]
    try:
        assert sender.send(rows) == 40  # after `failures` clients gave up on and replaced
        assert len(stuck) == failures
        assert not any(thread.is_alive() for thread in stuck), "a replaced client's sender thread still runs"
        assert live_senders() == before + 1  # the client in use, none left over per failure
    finally:
        sender.close()
    assert live_senders() == before
    assert row_ids_in(settings) == Counter(range(1, 41))


def test_a_page_that_arrived_whole_though_its_acknowledgements_were_lost_is_not_sent_again(settings, monkeypatch,
                                                                                         caplog):
    """Kafka wrote every row of the page but the client reported a failure (acknowledgements lost, the
    delivery timeout run out): the tails read again hold the whole page, nothing is left to send, and the
    producer goes on with the next page."""
    send_all, lost = Delivery._send_all, []

    def acknowledgements_lost_once(self, rows):
        sent_up_to = send_all(self, rows)
        if not lost:
            lost.append(rows)
            raise KafkaTimeoutError("the acknowledgements were lost (test)")
        return sent_up_to

    monkeypatch.setattr(Delivery, "_send_all", acknowledgements_lost_once)
    caplog.set_level(logging.INFO, logger=log.name)
    sender = Delivery(settings, log)
    sender.start()
    rows = [(row_id, STATIONS[row_id % 10], "2024-01-01", row_id / 4) for row_id in range(1, 61)]
    try:
        assert sender.send(rows[:40]) == 40  # sent once: by the attempt whose acknowledgements were lost
        assert len(lost) == 1
        assert "40 of rows 1..40 had arrived; nothing left to send" in caplog.text
        assert sender.send(rows[40:]) == 20
    finally:
        sender.close()
    assert row_ids_in(settings) == Counter(range(1, 61))


@pytest.mark.parametrize("kafka_python", ["pinned", "unknown"])
def test_closing_a_client_with_a_stuck_send_raises_nothing(settings, monkeypatch, kafka_python):
    """The pinned kafka-python's client stops within STOP_WAIT. An unknown one's is closed the plain way,
    with close(): it may go on running, but nothing is raised either."""
    sender = Delivery(settings, log)
    sender.start()
    client = sender.producer  # kept, so that kafka-python's __del__ (another close()) does not run in the test
    thread = make_stuck(client)
    client.send(settings.topic, key=b"StationA", value=b"never acknowledged", partition=0)
    if kafka_python == "unknown":
        monkeypatch.setattr(kafka, "__version__", "3.1.0")
    started = time.monotonic()
    sender.close()
    if kafka_python == "pinned":
        assert time.monotonic() - started < delivery.STOP_WAIT + 0.5
        assert not thread.is_alive()
    thread.force_close()  # the test's own clean-up on the plain path
