"""Kafka's side of the benchmark: watching topics, Kafka's own performance tools, cleaning up."""
from __future__ import annotations

import re
import statistics
import subprocess
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import UnknownTopicOrPartitionError

from bench.common import KAFKA_JARS, wait_for_count, wait_until
from bench.database import rows
from weather.produce import delivery
from weather.common import records
from weather.common import report


class TopicWatch:
    """End offsets of one topic's partitions, read cheaply and often."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 4) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]

    def end_offsets(self) -> dict[int, int]:
        return {tp.partition: offset for tp, offset in self.consumer.end_offsets(self.partitions).items()}

    def total(self) -> int:
        return sum(self.end_offsets().values())

    def wait_total(self, count: int, timeout: float, interval: float = 0.02) -> float:
        """Monotonic time at which every partition together holds `count` acknowledged messages."""
        return wait_for_count(self.total, count, timeout, interval, "acknowledged messages in the topic")

    def messages(self) -> list:
        """Every message of the topic, partition by partition (for mapping row ids to offsets)."""
        ends = self.end_offsets()
        self.consumer.assign(self.partitions)
        self.consumer.seek_to_beginning()
        found = []
        while sum(self.consumer.position(tp) for tp in self.partitions) < sum(ends.values()):
            for batch in self.consumer.poll(timeout_ms=1000).values():
                found.extend(batch)
        return found

    def close(self) -> None:
        self.consumer.close()


def topic_exists(bootstrap: str, topic: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return bool(consumer.partitions_for_topic(topic))
    finally:
        consumer.close()


def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for topic in topics:
            try:
                admin.delete_topics([topic])
            except UnknownTopicOrPartitionError:
                pass
    finally:
        admin.close()


def delete_prefixed(bootstrap: str, prefix: str) -> None:
    """Every topic and consumer group whose name starts with prefix: a run's own, whatever it got to create."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        topics = [topic for topic in admin.list_topics() if topic.startswith(prefix)]
        if topics:
            admin.delete_topics(topics)
        groups = [group["group_id"] for group in admin.list_groups() if group["group_id"].startswith(prefix)]
        if groups:
            admin.delete_groups(groups)
    finally:
        admin.close()


def message_bytes(sample: int = 10_000) -> dict[str, float]:
    """Mean key, value and header sizes of the producer's messages (for ProducerPerformance's record size)."""
    keys, values, headers = [], [], []
    for row in rows(sample):
        keys.append(len(row["station_id"].encode()))
        values.append(len(report.encode(row["station_id"], str(row["date"]), row["degrees"])))
        headers.append(len("row_id") + len(str(row["id"])))
    return {"key": statistics.mean(keys), "value": statistics.mean(values), "header": statistics.mean(headers)}


def _java(main_class: str, args: list[str], timeout: float) -> str:
    result = subprocess.run(["java", "-Xmx512m", "-cp", f"{KAFKA_JARS}/*", main_class, *args],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{main_class} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def create_topic(bootstrap: str, topic: str, replication: int, partitions: int = 4) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": replication}})
        admin.wait_for_topics([topic], timeout_ms=30_000)
    finally:
        admin.close()


def producer_performance(bootstrap: str, topic: str, count: int, record_size: int, replication: int) -> float:
    """Records/s of Kafka's Java ProducerPerformance, acks=all, into a fresh 4-partition topic replicated
    as the producer's own topics are."""
    create_topic(bootstrap, topic, replication)
    out = _java("org.apache.kafka.tools.ProducerPerformance",
                ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(count),
                 "--record-size", str(record_size), "--throughput", "-1",
                 "--command-property", "acks=all", "retries=10"], timeout=600)
    # Last line: "N records sent, X records/sec (Y MB/sec), ... latency ..."
    summary = [line for line in out.splitlines() if f"{count} records sent" in line][-1]
    return float(re.search(r"([\d.]+) records/sec", summary).group(1))


def consumer_performance(bootstrap: str, topic: str, count: int, group: str) -> float:
    """Records/s of Kafka's Java ConsumerPerformance reading `count` messages of the topic (fetch time only)."""
    out = _java("org.apache.kafka.tools.ConsumerPerformance",
                ["--bootstrap-server", bootstrap, "--topic", topic, "--num-records", str(count),
                 "--group", group, "--timeout", "30000"], timeout=600)
    header, values = [line for line in out.splitlines() if line.strip()][-2:]
    row = dict(zip([name.strip() for name in header.split(",")], [value.strip() for value in values.split(",")]))
    # fetch.nMsg.sec leaves out the group join, as the consumer's drain leaves out its startup
    return float(row["fetch.nMsg.sec"])


def wait_topic(bootstrap: str, topic: str, timeout: float) -> float:
    return wait_until(lambda: topic_exists(bootstrap, topic), timeout, 0.1, f"topic {topic}")


def kafka_python_sends(bootstrap: str, topic: str, count: int, replication: int) -> float:
    """Records/s of kafka-python alone: the producer's messages for `count` generator rows, built
    beforehand, sent in one loop with the producer's own settings (acks=all, idempotent, its batch
    size) and flushed. No database and no waiting per page: the ceiling of a producer on this client."""
    create_topic(bootstrap, topic, replication)
    messages = [(row["station_id"].encode(), report.encode(row["station_id"], str(row["date"]), row["degrees"]),
                 [(records.HEADER, b"%d" % row["id"])]) for row in rows(count)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, retries=10,
                             batch_size=delivery.BATCH_BYTES)
    started = time.monotonic()
    for key, value, headers in messages:
        producer.send(topic, key=key, value=value, headers=headers, partition=records.partition_for(key, 4))
    producer.flush()
    elapsed = time.monotonic() - started
    producer.close()
    return count / elapsed
