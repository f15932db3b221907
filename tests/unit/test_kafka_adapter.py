"""The Kafka adapter (weather/common/kafka_adapter.py): with the pinned kafka-python the consumer gets whole
record batches; with anything else it polls records the plain way, says so in one line, and its batches
come out the same."""
from __future__ import annotations

import logging
from types import SimpleNamespace

import kafka
import pytest
from kafka.consumer.fetcher import Fetcher
from kafka.producer.sender import Sender
from kafka.protocol.consumer.offsets import IsolationLevel
from kafka.record.memory_records import MemoryRecords

from test_fetch import TP, good, record_batch, values
from weather.common import kafka_adapter
from weather.consume import fetch

pytestmark = pytest.mark.skipif(fetch.weather_fastdecode is None, reason="the compiled decoder is not built")


class OneFetchConsumer:
    """What PartitionPoller uses of a KafkaConsumer: its fetcher, whose PartitionRecords parse one fetch's bytes
    as kafka-python's Fetcher does, and poll()."""

    def __init__(self, raw: bytes, isolation_level: int | None = IsolationLevel.READ_UNCOMMITTED) -> None:
        self._fetcher = SimpleNamespace(PartitionRecords=Fetcher.PartitionRecords)
        if isolation_level is not None:  # None: a kafka-python whose fetcher has no such attribute
            self._fetcher._isolation_level = isolation_level
        self.raw = raw
        self.parsed = None

    def poll(self, timeout_ms: int, max_records: int) -> dict:
        if self.parsed is None:
            self.parsed = self._fetcher.PartitionRecords(0, TP, MemoryRecords(self.raw))
        return {TP: self.parsed.take(max_records)} if self.parsed else {}  # false once drained


def poll_everything(consumer: OneFetchConsumer, caplog) -> tuple[bool, list, list, list[str]]:
    """Whether the poller took the fast path, the types of what it polled, the rows, and what it logged."""
    caplog.clear()
    caplog.set_level(logging.INFO)
    poller = fetch.PartitionPoller(consumer, TP, logging.getLogger("test-adapter"))
    kinds, rows, high_water = set(), [[], [], []], 0
    while items := poller.poll_batch(max_rows=7, max_wait=0.1):
        kinds.update(type(item).__name__ for item in items)
        decoded = fetch.decode(items, TP.partition, high_water)
        high_water = decoded.high_water
        for column, part in zip(rows, values(decoded)):
            column.extend(part)
    return poller.fast, sorted(kinds), rows, [record.getMessage() for record in caplog.records]


RAW = record_batch(0, [good(i, station=f"S{i}") for i in range(1, 11)]) + record_batch(10, [good(3), good(11)], "gzip")


def test_the_pinned_kafka_python_gives_whole_record_batches(caplog):
    assert kafka_adapter.problem() is None
    fast, kinds, rows, logged = poll_everything(OneFetchConsumer(RAW), caplog)
    assert fast and kinds == ["RecordBatch"] and len(rows[0]) == 11
    assert logged == ["decoding records with the compiled decoder (weather_fastdecode)"]


@pytest.mark.parametrize("change, isolation_level, named", [
    (lambda monkeypatch: monkeypatch.setattr(kafka, "__version__", "3.1.0"), IsolationLevel.READ_UNCOMMITTED,
     "kafka-python 3.1.0 is installed, not 3.0.12"),
    (lambda monkeypatch: monkeypatch.delattr(Sender, "force_close"), IsolationLevel.READ_UNCOMMITTED,
     "no Sender.force_close"),
    (None, None, "a KafkaConsumer without _fetcher._isolation_level"),
    (None, IsolationLevel.READ_COMMITTED, "reads committed records only"),
], ids=["version", "attribute", "consumer's attribute", "read_committed"])
def test_otherwise_the_plain_path_gives_the_same_rows_and_says_why_in_one_line(caplog, monkeypatch, change,
                                                                               isolation_level, named):
    _, _, expected, _ = poll_everything(OneFetchConsumer(RAW), caplog)
    if change:
        change(monkeypatch)
    fast, kinds, rows, logged = poll_everything(OneFetchConsumer(RAW, isolation_level), caplog)
    assert not fast and kinds == ["ConsumerRecord"] and rows == expected
    assert len(logged) == 1 and "decoding records in pure Python" in logged[0] and named in logged[0]
