"""The one module that touches kafka-python's private names, and checks them before it does.

kafka-python has no public way to make a consumer's poll return whole record batches instead of records
(the consumer's compiled decoder wants them: weather/consume/fetch.py), to read a record batch's bytes,
to hand a producer whole record batches instead of one record per send() (the producer's compiled
builder makes them: weather/produce/delivery.py), or to stop a producer without flushing it first
(delivery.py replaces a client whose sends are stuck). This module does each through the internals of
the pinned kafka-python (src/requirements.txt). `problem()` and `batch_sending_problem()` check the
installed version and every internal used here; when anything differs, the callers take the plain path
(kafka-python's public API) and say so in one line.
"""
from __future__ import annotations

import functools
import inspect
import time
from types import SimpleNamespace
from typing import Callable, Iterable

import kafka
from kafka import KafkaProducer, TopicPartition
from kafka.errors import CorruptRecordError, IllegalStateError, KafkaTimeoutError

try:  # internal modules: a later kafka-python may move them, and then problem() says so
    from kafka.consumer.fetcher import Fetcher
    from kafka.producer.producer_batch import ProducerBatch
    from kafka.producer.record_accumulator import RecordAccumulator
    from kafka.producer.sender import Sender
    from kafka.producer.transaction_manager import ProducerIdAndEpoch, TransactionManager
    from kafka.protocol.consumer.offsets import IsolationLevel
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder
    _missing_module = None
except ImportError as error:
    _missing_module = error

PINNED_VERSION = "3.0.12"
RECORDS_AT = 61  # where a v2 record batch's records start, after its header
UNPACK_PARAMETERS = ["self", "tp", "records", "key_deserializer", "value_deserializer"]


def problem() -> str | None:
    """Why the internals used here cannot be trusted with the installed kafka-python; None when they can."""
    if kafka.__version__ != PINNED_VERSION:
        return f"kafka-python {kafka.__version__} is installed, not {PINNED_VERSION} (src/requirements.txt)"
    if _missing_module is not None:
        return f"kafka-python {kafka.__version__}: {_missing_module}"
    if not hasattr(Sender, "force_close"):
        return f"kafka-python {kafka.__version__} has no Sender.force_close"
    unpack = getattr(getattr(Fetcher, "PartitionRecords", None), "_unpack_records", None)
    if unpack is None or list(inspect.signature(unpack).parameters) != UNPACK_PARAMETERS:
        return (f"kafka-python {kafka.__version__}: Fetcher.PartitionRecords._unpack_records is not "
                f"({', '.join(UNPACK_PARAMETERS)})")
    return _fetch_one_sample_batch()


def _fetch_one_sample_batch() -> str | None:
    """Parse one small record batch through the whole-batch fetch: what the consumer relies on, in one go."""
    try:
        builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                            producer_epoch=-1, base_sequence=-1, batch_size=1 << 10)
        builder.append(0, timestamp=0, key=b"k", value=b"v", headers=[])
        sample = bytes(builder.build())
        parsed = whole_batch_records(_Sample)(0, TopicPartition("t", 0), MemoryRecords(sample))
        items = parsed.take()
        fine = (len(items) == 1 and parsed.next_fetch_offset == 1 and bytes(batch_bytes(items[0].batch)) == sample
                and bytes(records_bytes(items[0].batch)) == sample[RECORDS_AT:])
    except Exception as error:  # any of the internals gone or changed
        return f"kafka-python {kafka.__version__}: a whole-batch fetch fails ({type(error).__name__}: {error})"
    return None if fine else f"kafka-python {kafka.__version__}: a fetched record batch does not read back as built"


class _Sample:
    def __init__(self, batch, fetch_offset: int) -> None:
        self.batch = batch
        self.offset = batch.last_offset


# -- the consumer: whole record batches -------------------------------------------------------------
@functools.cache
def whole_batch_records(item: Callable) -> type:
    """kafka-python's parsed fetch of one partition (its Fetcher.PartitionRecords), yielding item(batch,
    fetch_offset) for each record batch instead of its records. The item's `offset` must be the batch's
    last offset: kafka-python drops an item wholly before the fetch position by it.

    It does what kafka-python's own does for each record batch of a read_uncommitted consumer: check
    the CRC, skip control batches (only transactions write them), move the fetch position past the batch.
    """
    class WholeRecordBatches(Fetcher.PartitionRecords):
        def _unpack_records(self, tp, records, key_deserializer, value_deserializer):
            batch = records.next_batch()
            while batch is not None:
                if self.check_crcs and not batch.validate_crc():
                    raise CorruptRecordError(f"Record batch for partition {tp} at offset {batch.base_offset} "
                                             f"failed crc check")
                self.leader_epoch = batch.leader_epoch
                self.next_fetch_offset = batch.next_offset
                if not batch.is_control_batch:
                    self.records_read += batch.records_count
                    self.bytes_read += batch.size_in_bytes
                    yield item(batch, self.fetch_offset)
                batch = records.next_batch()
            self.drain()

    return WholeRecordBatches


def fetch_whole_batches(consumer: kafka.KafkaConsumer, item: Callable) -> str | None:
    """Make the consumer's poll return item(batch, fetch_offset) per record batch (see whole_batch_records),
    so that a poll's max_records counts record batches. None when done; else why not, and the consumer
    polls records as usual."""
    if why_not := problem():
        return why_not
    fetcher = getattr(consumer, "_fetcher", None)
    if not hasattr(fetcher, "_isolation_level"):
        return f"kafka-python {kafka.__version__}: a KafkaConsumer without _fetcher._isolation_level"
    if fetcher._isolation_level != IsolationLevel.READ_UNCOMMITTED:
        return "the consumer reads committed records only, which the whole-batch fetch does not filter"
    fetcher.PartitionRecords = whole_batch_records(item)
    return None


def batch_bytes(batch) -> bytearray:
    """A fetched record batch's bytes as fetched (its records still compressed, if they are)."""
    return batch._buffer


def records_bytes(batch) -> memoryview:
    """A record batch's records, decompressed, after its header. Decompressing replaces batch_bytes(batch)."""
    batch._maybe_uncompress()
    return memoryview(batch._buffer)[batch._pos:]


# -- the producer: stopping without a flush ---------------------------------------------------------
def stop_producer(producer: KafkaProducer, wait: float) -> bool:
    """Stop the client at once: its batches not yet acknowledged fail, its sender thread ends, nothing is
    flushed; whether the thread has ended within `wait` seconds.

    kafka-python's close() flushes first, and raises when that times out before stopping anything, so a
    client whose sends are stuck would go on retrying them (late duplicates) in a thread of its own.
    """
    sender = getattr(producer, "_sender", None)
    if problem() is None and isinstance(sender, Sender):
        sender.force_close()
        sender.join(wait)
        if sender.is_alive():
            return False
        producer.close(timeout=0)  # nothing left to flush: marks it closed, drops its exit hook and metrics
        return True
    try:  # the plain path
        producer.close(timeout=wait)
    except KafkaTimeoutError:
        return False
    return True


# -- the producer: whole record batches -------------------------------------------------------------
def batch_sending_problem(producer: KafkaProducer) -> str | None:
    """Why send_batches() cannot be trusted with this client; None when it can. Otherwise the caller
    sends with send(), for the client's whole life: never both on one partition."""
    if why_not := problem():
        return why_not
    accumulator = getattr(producer, "_accumulator", None)
    if not isinstance(accumulator, RecordAccumulator) or not hasattr(getattr(producer, "_sender", None), "wakeup"):
        return f"kafka-python {kafka.__version__}: a KafkaProducer without _accumulator or _sender.wakeup"
    if accumulator.config["message_version"] != 2:
        return f"the broker takes message format v{accumulator.config['message_version']}, not v2"
    manager = accumulator._transaction_manager
    if manager is not None and manager.is_transactional():
        return "a transactional producer: send() adds each partition to the transaction"
    return _sample_pages_drain_as_sent()


@functools.cache
def injected_records() -> type:
    """kafka-python's MemoryRecordsBuilder holding a record batch built elsewhere (defined on first use: an
    unknown kafka-python may not have the class, and problem() says so)."""
    class InjectedRecords(MemoryRecordsBuilder):
        """A record batch as kafka-python's own builder holds one it has appended records to: its records
        after a blank header, which kafka-python writes (producer id, epoch, base sequence, CRC; compressed
        if the client compresses) when its sender drains the batch. It takes no more records: a send() to
        its partition would start a batch of its own after it."""
        __slots__ = ()

        def __init__(self, batch: bytearray, records: int, timestamp_ms: int, config: dict) -> None:
            super().__init__(magic=2, compression_type=config["compression_attrs"], batch_size=config["batch_size"])
            builder = self._builder
            builder._buffer = batch
            builder._num_records = records
            builder._last_offset = records - 1
            builder._first_timestamp = builder._max_timestamp = timestamp_ms
            self._next_offset = records

        def append(self, timestamp, key, value, headers=None):
            return None

    return InjectedRecords


class SentBatch:
    """One handed-over record batch's outcome, as a send()'s future tells one record's: kafka-python
    resolves the batch's produce future once it is acknowledged, or failed, expired or aborted."""

    def __init__(self, batch: ProducerBatch) -> None:
        self._future = batch.produce_future

    def succeeded(self) -> bool:
        return self._future.is_done and self.exception is None

    @property
    def exception(self) -> Exception | None:
        if not self._future.is_done:
            return None
        if self._future.failed():
            return self._future.exception
        _, _, record_exceptions = self._future.value
        return record_exceptions(0) if record_exceptions is not None else None


def send_batches(producer: KafkaProducer, topic: str, batches: Iterable[tuple], timestamp_ms: int) -> list[SentBatch]:
    """Hand whole record batches, (partition, batch, records, ...) as weather_fastencode builds them, to
    the client, in order, as if send() had filled them; one SentBatch each. kafka-python then does all
    it does for its own: assigns the sequence numbers when it drains them, sends them with acks, retries,
    expires them after the delivery timeout, and flush() waits for them. Check batch_sending_problem()
    first. Raises what send() raises when the topic's metadata does not come."""
    producer.partitions_for(topic)  # waits for the topic's metadata, as send() does
    sent = _inject(producer._accumulator, topic, batches, timestamp_ms)
    producer._sender.wakeup()
    return sent


def _inject(accumulator: RecordAccumulator, topic: str, batches: Iterable[tuple], timestamp_ms: int) -> list[SentBatch]:
    """Queue each batch behind its partition's, as RecordAccumulator.append queues a new batch."""
    now, sent, records_class = time.monotonic(), [], injected_records()
    accumulator._appends_in_progress.increment()  # a forced close aborts what is queued only after this
    try:
        for partition, batch, records, *_ in batches:
            tp = TopicPartition(topic, partition)
            queued = ProducerBatch(tp, records_class(batch, records, timestamp_ms, accumulator.config), now=now)
            with accumulator._tp_lock(tp):
                if accumulator._closed:
                    raise IllegalStateError("RecordAccumulator is closed")
                accumulator._batches[tp].append(queued)
                accumulator._incomplete.add(queued)  # what flush() waits for
            sent.append(SentBatch(queued))
    finally:
        accumulator._appends_in_progress.decrement()
    return sent


SAMPLE_PAGES = [[(b"StationA", b"first page", 1), (b"StationB", b"\x00" * 40, 2)], [(b"StationC", b"", 3)]]


@functools.cache
def _sample_pages_drain_as_sent() -> str | None:
    """Two pages to one partition, appended as send() appends them and handed over whole, each drained as
    the sender drains: the bytes sent (header, sequence numbers continued across pages, CRC) must be the
    same, and flush() must wait for the handed-over batches."""
    try:
        sent, handed_over = _drain_sample_pages(whole=False), _drain_sample_pages(whole=True)
    except Exception as error:  # any of the internals gone or changed
        return f"kafka-python {kafka.__version__}: handing over a record batch fails ({type(error).__name__}: {error})"
    if sent != handed_over:
        return f"kafka-python {kafka.__version__}: a handed-over record batch is not sent as send()'s would be"
    return None


def _drain_sample_pages(whole: bool) -> list[bytes]:
    tp = TopicPartition("sample", 0)
    manager = TransactionManager()  # idempotent, as the producer's
    manager.producer_id_and_epoch = ProducerIdAndEpoch(1000, 3)
    accumulator = RecordAccumulator(transaction_manager=manager, batch_size=1 << 10)
    cluster = SimpleNamespace(partitions_for_broker=lambda node_id: [tp])
    drained = []
    for page in SAMPLE_PAGES:
        records = [(key, value, [("row_id", b"%d" % row_id)]) for key, value, row_id in page]
        if whole:
            builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                                producer_epoch=-1, base_sequence=-1, batch_size=1 << 10)
            for offset, (key, value, headers) in enumerate(records):
                builder.append(offset, timestamp=0, key=key, value=value, headers=headers)
            batch = bytearray(RECORDS_AT) + builder.build()[RECORDS_AT:]  # its header left blank, as the C builder's
            _inject(accumulator, tp.topic, [(tp.partition, batch, len(records))], 0)
        else:
            for key, value, headers in records:
                accumulator.append(tp, 0, key, value, headers)
        if not accumulator.has_incomplete:
            raise IllegalStateError("flush() would not wait for the batch")
        for batch in accumulator.drain(cluster, [0], 1 << 20)[0]:
            drained.append(bytes(batch.records.buffer()))
    return drained
