"""Reading each partition's last row id (weather/common/records.py) on a real broker, whatever its log ends in.

A transaction of another client ends in a control batch: its marker takes an offset that a poll never
returns. The producer's start-up, its every failed send and the verifier read these tails."""
from __future__ import annotations

import time
import uuid

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from weather.common import report
from weather.common.config import Settings
from weather.common import records
from weather.read import verify


def test_tails_are_read_to_the_log_end_past_other_clients_transactions(stack_env):
    bootstrap = stack_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"resume-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 3, int(stack_env.get("TOPIC_REPLICATION_FACTOR", "1")))])
    try:
        ours = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for partition, row_ids in ((0, (1, 2, 3)), (1, (4, 5))):  # partition 2: none of ours
            for row_id in row_ids:
                ours.send(topic, partition=partition, key=b"StationA", headers=[(records.HEADER, b"%d" % row_id)],
                          value=report.encode("StationA", "2024-01-01", 1.5))
        ours.close()
        another = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"resume-test-{uuid.uuid4().hex[:8]}")
        another.init_transactions()
        for partition, commit in ((0, True), (1, False), (2, True)):  # each partition's log ends in a control batch
            another.begin_transaction()
            another.send(topic, partition=partition, key=b"other", value=b"another client's message")
            another.flush()
            another.commit_transaction() if commit else another.abort_transaction()
        another.close()

        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
        try:
            started = time.monotonic()
            tails = records.read_tails(consumer, topic)
            took = time.monotonic() - started
        finally:
            consumer.close()
        assert tails == {0: 3, 1: 5, 2: 0}
        assert took < 10, f"reading three short tails took {took:.1f} s"
        settings = Settings.from_env(env={**stack_env, "TOPIC": topic, "TOPIC_PARTITIONS": "3"})
        assert verify.topic_state(settings)[2] == 5  # the verifier's last sent row id
    finally:
        admin.delete_topics([topic])
        admin.close()
