"""How the servers are: Kafka's log end offsets, MySQL's row count, whether HDFS answers.

Each probe fails fast with an exception naming the problem (the caller turns it into a banner);
none of them waits long, so a server that is down never stalls the page.
"""
from __future__ import annotations

import socket
import time
from urllib.parse import urlparse

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import text
from sqlalchemy.engine import make_url

from weather.common import database
from weather.common.config import Settings

KAFKA_TIMEOUT_MS = 2000
HDFS_DEFAULT_PORT = 8020
CONNECT_TIMEOUT = 1.0  # seconds for the HDFS reachability check


class TopicMissing(KafkaError):
    """The topic does not exist (yet): producer.py creates it."""


class KafkaProbe:
    """One long-lived consumer (no group, nothing committed) asking for offsets and timestamps."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.address = settings.bootstrap_servers
        self.consumer: KafkaConsumer | None = None

    def offsets(self, committed: dict[int, int]) -> tuple[dict[int, int], dict[int, float]]:
        """(log end offset, append time in epoch seconds of the first message past `committed`) per partition."""
        try:
            return self._offsets(committed)
        except KafkaError:
            self.close()  # a broker that came back is found again by a new consumer
            raise

    def _offsets(self, committed: dict[int, int]) -> tuple[dict[int, int], dict[int, float]]:
        if self.consumer is None:
            self.consumer = KafkaConsumer(bootstrap_servers=self.settings.bootstrap_servers,
                                          bootstrap_timeout_ms=KAFKA_TIMEOUT_MS, enable_auto_commit=False,
                                          client_id="dashboard")
        topic = self.settings.topic
        partitions = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        if not partitions:
            raise TopicMissing(f"topic {topic} does not exist yet (producer.py creates it)")
        ends = {tp.partition: end for tp, end in self.consumer.end_offsets(partitions, KAFKA_TIMEOUT_MS).items()}
        behind = [tp for tp in partitions if committed.get(tp.partition, 0) < ends[tp.partition]]
        return ends, self._first_unread_times(behind, committed)

    def _first_unread_times(self, behind: list[TopicPartition], committed: dict[int, int]) -> dict[int, float]:
        """The append time of each lagging partition's oldest unread message: the lag in seconds starts there."""
        consumer = self.consumer
        consumer.assign(behind)
        for tp in behind:
            consumer.seek(tp, committed.get(tp.partition, 0))
        found: dict[int, float] = {}
        deadline = time.monotonic() + KAFKA_TIMEOUT_MS / 1000
        while len(found) < len(behind) and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                found.setdefault(tp.partition, records[0].timestamp / 1000)
                consumer.pause(tp)  # one message per partition is all it takes
        consumer.resume(*behind)
        return found

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


class MysqlProbe:
    def __init__(self, settings: Settings) -> None:
        url = make_url(settings.db_url)
        self.address = f"{url.host}:{url.port or 3306}/{url.database}"
        self.engine = database.connect(settings.db_url)

    def rows(self) -> int:
        with self.engine.connect() as connection:
            count = connection.execute(text("SELECT COUNT(*) FROM temperatures")).scalar_one()
            connection.commit()  # a new snapshot next time (repeatable read)
        return count


class HdfsProbe:
    """Whether the NameNode accepts a connection: a down NameNode makes the HDFS client retry for minutes."""

    def __init__(self, settings: Settings) -> None:
        parsed = urlparse(settings.data_url)
        self.hdfs = parsed.scheme == "hdfs"
        self.host, self.port = parsed.hostname, parsed.port or HDFS_DEFAULT_PORT
        self.address = parsed.netloc if self.hdfs else settings.data_url

    def check(self) -> None:
        """OSError when HDFS is not reachable; local folders always are."""
        if self.hdfs:
            socket.create_connection((self.host, self.port), timeout=CONNECT_TIMEOUT).close()
