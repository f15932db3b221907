"""The one module that touches kafka-python's private names, and checks them before it does.

kafka-python has no public way to make a consumer's poll return whole record batches instead of records
(the consumer's compiled decoder wants them: weather/consume/fetch.py), to read a record batch's bytes,
or to stop a producer without flushing it first (weather/produce/delivery.py replaces a client whose
sends are stuck). This module does each through the internals of the pinned kafka-python
(src/requirements.txt). `problem()` checks the installed version and every internal used here; when
anything differs, the callers take the plain path (kafka-python's public API) and say so in one line.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

import kafka
from kafka import KafkaProducer, TopicPartition
from kafka.errors import CorruptRecordError, KafkaTimeoutError

try:  # internal modules: a later kafka-python may move them, and then problem() says so
    from kafka.consumer.fetcher import Fetcher
    from kafka.producer.sender import Sender
    from kafka.protocol.consumer.offsets import IsolationLevel
    from kafka.record.default_records import DefaultRecordBatchBuilder
    from kafka.record.memory_records import MemoryRecords
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
