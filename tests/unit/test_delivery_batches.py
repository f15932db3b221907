"""The producer's two ways of sending a page (weather/produce/delivery.py): whole record batches built in C and
handed to kafka-python's accumulator, and send() per row. Through kafka-python's own accumulator, idempotent
producer state and ProduceRequest, without a broker: the requests must be byte for byte the same, page after
page (sequence numbers continued), with batches split by size; what they carry reads back as the rows through
kafka-python's parser and the consumer's decoder. And when the adapter refuses, send() runs, said in one line.
"""
from __future__ import annotations

import logging
import struct
from collections import defaultdict
from types import SimpleNamespace

import kafka
import pytest
from kafka import TopicPartition
from kafka.producer.record_accumulator import RecordAccumulator
from kafka.producer.sender import Sender
from kafka.producer.transaction_manager import ProducerIdAndEpoch, TransactionManager
from kafka.record.memory_records import MemoryRecords

from edge_rows import edge_rows
from weather.common import kafka_adapter, records, report
from weather.common.config import Settings
from weather.consume import fetch
from weather.produce import delivery

pytest.importorskip("weather_fastencode", reason="the compiled builder is not built")

TOPIC = "temperatures"
PARTITIONS = 4
BATCH_BYTES = 2000  # small: a page makes several batches per partition
MAX_REQUEST = 10_000  # and a drain several requests
TIMESTAMP = 1_700_000_000_000  # every record's, both ways
PRODUCE_VERSION = 9  # what kafka-python 3.0.12 sends to the stack's broker
log = logging.getLogger("test-delivery-batches")


class OfflineClient:
    """What Delivery uses of a KafkaProducer, backed by kafka-python's own accumulator and idempotent producer
    state (the producer id and epoch as InitProducerId sets them), with a broker stand-in: flush() drains the
    accumulator as the sender does, encodes each ProduceRequest, appends the batches to per-partition logs
    with their offsets and acknowledges them."""

    def __init__(self) -> None:
        self.manager = TransactionManager()
        self.manager.producer_id_and_epoch = ProducerIdAndEpoch(4242, 7)
        self._accumulator = RecordAccumulator(transaction_manager=self.manager, batch_size=BATCH_BYTES,
                                              message_version=2)
        self._sender = SimpleNamespace(wakeup=lambda: None)
        self.requests: list[bytes] = []
        self.logs: dict[int, bytearray] = defaultdict(bytearray)  # partition -> its record batches, offsets set
        self.ends: dict[int, int] = defaultdict(int)

    def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def send(self, topic, key, value, headers, partition):
        future, _, _, _ = self._accumulator.append(TopicPartition(topic, partition), TIMESTAMP, key, value, headers)
        return future

    def flush(self, timeout=None) -> None:
        cluster = SimpleNamespace(partitions_for_broker=lambda node_id: [TopicPartition(TOPIC, p)
                                                                         for p in range(PARTITIONS)])
        while batches := self._accumulator.drain(cluster, [0], MAX_REQUEST)[0]:
            request = Sender._produce_request(SimpleNamespace(_transaction_manager=self.manager), 0, -1, 5000, batches)
            self.requests.append(bytes(request.encode(version=PRODUCE_VERSION)))
            for batch in batches:
                partition = batch.topic_partition.partition
                stored = bytearray(batch.records.buffer())
                struct.pack_into(">q", stored, 0, self.ends[partition])  # the base offset, as the broker sets it
                self.logs[partition] += stored
                batch.complete(self.ends[partition], -1)
                self._accumulator.deallocate(batch)
                self.ends[partition] += batch.record_count


def offline_delivery(monkeypatch, whole_batches: bool) -> delivery.Delivery:
    monkeypatch.setattr(delivery, "BATCH_BYTES", BATCH_BYTES)
    monkeypatch.setattr(delivery, "time", SimpleNamespace(time=lambda: TIMESTAMP / 1000))  # send()'s timestamp too
    sender = delivery.Delivery(Settings.from_env(env={"TOPIC": TOPIC}), log)
    sender.producer = OfflineClient()
    sender.tails = {partition: 0 for partition in range(PARTITIONS)}
    sender.whole_batches = whole_batches
    return sender


def send_pages(sender: delivery.Delivery, rows: list, page_size: int) -> OfflineClient:
    for start in range(0, len(rows), page_size):
        assert sender.send(rows[start:start + page_size]) == len(rows[start:start + page_size])
    return sender.producer


def test_whole_batches_make_the_same_produce_requests_as_send_page_after_page(monkeypatch):
    rows = edge_rows(4000)
    by_send = send_pages(offline_delivery(monkeypatch, whole_batches=False), rows, 700)
    by_batches = send_pages(offline_delivery(monkeypatch, whole_batches=True), rows, 700)
    assert len(by_send.requests) > 6  # pages, each several requests of several batches a partition
    assert by_batches.requests == by_send.requests
    assert by_batches.manager._sequence_numbers == by_send.manager._sequence_numbers
    assert sum(by_batches.manager._sequence_numbers.values()) == len(rows)


def test_what_is_sent_reads_back_as_the_rows(monkeypatch):
    rows = edge_rows(2000)
    client = send_pages(offline_delivery(monkeypatch, whole_batches=True), rows, 900)
    expected = defaultdict(list)
    for row_id, station_id, date, degrees in rows:
        key = station_id.encode()
        expected[records.partition_for(key, PARTITIONS)].append(
            (key, report.encode(station_id, date, degrees), [("row_id", b"%d" % row_id)]))
    for partition, raw in client.logs.items():
        read = [(record.offset, record.key, record.value, record.headers, record.timestamp)
                for batch in MemoryRecords(bytes(raw)) for record in batch]
        assert read == [(offset, *record, TIMESTAMP) for offset, record in enumerate(expected[partition])]


def test_what_is_sent_reads_back_through_the_consumers_decoder(monkeypatch):
    """Reports the consumer keeps (a station id, a YYYY-MM-DD date), with the edge degrees and station ids."""
    degrees = [-0.0, 0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 21.5]
    stations = ["StationA", "é" * 300, "日本語の観測所", "USW00014837"]
    rows = [(row_id, stations[n % 4], f"2024-01-{1 + n % 28:02d}", degrees[n % 7])
            for n, row_id in enumerate([*range(1, 600), *range(2**53, 2**53 + 600)])]
    client = send_pages(offline_delivery(monkeypatch, whole_batches=True), rows, 500)
    whole_batches = kafka_adapter.whole_batch_records(fetch.RecordBatch)
    for partition, raw in client.logs.items():
        parsed = whole_batches(0, TopicPartition(TOPIC, partition), MemoryRecords(bytes(raw)))
        decoded = fetch.decode(parsed.take(), partition, 0)
        dates, read_degrees, station_ids = (column.to_pylist() for column in decoded.columns())
        mine = [row for row in rows if records.partition_for(row[1].encode(), PARTITIONS) == partition]
        assert (dates, station_ids) == ([date for _, _, date, _ in mine], [station for _, station, _, _ in mine])
        assert [struct.pack("<d", value) for value in read_degrees] == [struct.pack("<d", row[3]) for row in mine]
        assert (decoded.high_water, decoded.duplicates, decoded.dead_letters) == (mine[-1][0], 0, [])


@pytest.fixture
def checked_afresh():
    """The adapter's sample check (cached for the process) runs again, and its answer is not kept."""
    kafka_adapter._sample_pages_drain_as_sent.cache_clear()
    yield
    kafka_adapter._sample_pages_drain_as_sent.cache_clear()


@pytest.mark.parametrize("change, level, says", [
    (lambda monkeypatch: monkeypatch.setattr(kafka, "__version__", "3.1.0"), logging.WARNING,
     "kafka-python 3.1.0 is installed, not 3.0.12"),
    (lambda monkeypatch: monkeypatch.delattr(RecordAccumulator, "_tp_lock"), logging.WARNING,
     "handing over a record batch fails (AttributeError"),
    (lambda monkeypatch: monkeypatch.setattr(delivery, "weather_fastencode", None), logging.INFO,
     "the compiled record-batch builder is not installed"),
    (lambda monkeypatch: monkeypatch.setattr(TransactionManager, "is_transactional", lambda self: True),
     logging.WARNING, "a transactional producer"),
], ids=["version", "accumulator's attribute", "no builder", "transactional"])
def test_when_the_adapter_refuses_rows_go_through_send_and_one_line_says_why(checked_afresh, monkeypatch, caplog,
                                                                             change, level, says):
    change(monkeypatch)
    sender = offline_delivery(monkeypatch, whole_batches=False)
    caplog.set_level(logging.INFO, logger=log.name)
    sender._choose_path()
    assert not sender.whole_batches
    assert [(record.levelno, "sending rows one by one with kafka-python's send()" in record.getMessage(),
             says in record.getMessage()) for record in caplog.records] == [(level, True, True)]


def test_with_the_pinned_kafka_python_whole_batches_are_chosen_in_one_line(monkeypatch, caplog):
    sender = offline_delivery(monkeypatch, whole_batches=False)
    caplog.set_level(logging.INFO, logger=log.name)
    sender._choose_path()
    assert sender.whole_batches
    assert [record.getMessage() for record in caplog.records] == [
        "sending whole record batches built by the compiled builder (weather_fastencode)"]
