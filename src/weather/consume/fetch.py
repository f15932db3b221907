"""Polling one partition, and decoding what a poll returns into a batch's columns; fast when it can be.

kafka-python turns every record into Python objects (a record, then a ConsumerRecord), and the
consumer then decodes each value (weather/common/report.py) and reads each `row_id` header
(weather/common/records.py): at hundreds of thousands of rows that per-record Python work is most of
a consumer's time. When the compiled decoder is installed (fastdecode/, built by `make setup` and in
the Kafka image), the fetcher hands over whole record batches instead (RecordBatch, through
weather/common/kafka_adapter.py, the one module that touches kafka-python's internals), and
weather_fastdecode turns each into Arrow columns in one call. A record batch the decoder cannot
decode exactly as the pure-Python path would (a malformed record, a value that is not a plain
Report, an odd header) is decoded by that path, which then decides: a dead letter, a kept record,
or kafka-python's own error (raised when the batch is decoded rather than when it is polled). So
both paths give the same batch from the same bytes (tests/unit/test_fetch.py compares them).
Without the decoder, or with a kafka-python whose internals the adapter does not know, the
pure-Python path runs alone.
"""
from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import pyarrow as pa
from kafka.record.default_records import DefaultRecordBatch

from weather.common import batches, kafka_adapter, report
from weather.common.records import row_id as header_row_id
from weather.common.deadletter import DeadLetter

try:
    import weather_fastdecode
except ImportError:  # not built: the pure-Python path
    weather_fastdecode = None

POLL_MS = 1000  # the blocking poll that starts a batch


class RecordBatch:
    """One record batch of the partition, or the part of it with offsets in [min_offset, end_offset), as
    the fast fetcher returns it: decoded only when batched."""

    def __init__(self, batch, min_offset: int, end_offset: int | None = None, raw: bytearray | None = None) -> None:
        self.batch = batch  # kafka-python's DefaultRecordBatch, CRC already checked
        # Its bytes as fetched, taken before any decoding replaces them with the decompressed records.
        self.raw = kafka_adapter.batch_bytes(batch) if raw is None else raw
        self.min_offset = min_offset  # the fetch position: records before it are not part of this poll
        self.end_offset = batch.next_offset if end_offset is None else end_offset

    @property
    def offset(self) -> int:
        """Its last offset: the fetcher drops a record batch wholly before its position by this."""
        return self.batch.last_offset

    @property
    def count(self) -> int:
        """At most this many records: the offsets it spans."""
        return self.end_offset - max(self.min_offset, self.batch.base_offset)

    def split(self, rows: int) -> tuple["RecordBatch", "RecordBatch"]:
        """The part with the first `rows` offsets, and the rest."""
        cut = max(self.min_offset, self.batch.base_offset) + rows
        return (RecordBatch(self.batch, self.min_offset, cut, self.raw),
                RecordBatch(self.batch, cut, self.end_offset, self.raw))

    def records(self):
        """kafka-python's own records of this part (the pure-Python path), parsed afresh."""
        return (record for record in DefaultRecordBatch(self.raw) if self.min_offset <= record.offset < self.end_offset)

    def decode_fast(self, high_water: int):
        """The compiled decoder's columns (see fastdecode/weather_fastdecode.c); None if it cannot tell."""
        if self.batch.magic != 2:
            return None
        return weather_fastdecode.decode_reports(kafka_adapter.records_bytes(self.batch), self.batch.records_count,
                                                 self.batch.base_offset, self.min_offset, self.end_offset, high_water)


class PartitionPoller:
    """Polls one assigned partition for batches, through the fast fetcher when it can (see the module).

    The fast fetcher returns whole record batches; one that does not fit in a batch is cut, and its
    rest (`pending`) starts the next batch. So a batch never holds more than max_rows records.
    """

    def __init__(self, consumer, tp, log: logging.Logger) -> None:
        self.consumer = consumer
        self.tp = tp
        self.pending: RecordBatch | None = None
        self.fast = False
        if weather_fastdecode is None:
            log.info("decoding records in pure Python (kafka-python's parser): the compiled decoder is not "
                     "installed; `make setup` builds it")
        elif why_not := kafka_adapter.fetch_whole_batches(consumer, RecordBatch):
            log.warning("decoding records in pure Python (kafka-python's parser), not with the compiled decoder: %s",
                        why_not)
        else:
            self.fast = True
            log.info("decoding records with the compiled decoder (weather_fastdecode)")

    def seek(self, offset: int) -> None:
        self.pending = None
        self.consumer.seek(self.tp, offset)

    def poll_batch(self, max_rows: int, max_wait: float) -> list:
        """One batch's records: a blocking poll, then whatever is already fetched, up to max_rows or max_wait.

        Gathering stops at the first poll that finds nothing waiting, so a slow stream is committed as
        soon as it arrives and only a backlog or a fast stream makes bigger batches.
        """
        items, self.pending = ([self.pending], None) if self.pending else (self._poll(POLL_MS, max_rows), None)
        rows = self._fit(items, max_rows)
        deadline = time.monotonic() + max_wait
        while items and rows < max_rows and time.monotonic() < deadline:
            more = self._poll(0, max_rows - rows)
            if not more:
                break
            items.extend(more)
            rows = self._fit(items, max_rows)
        return items

    def _poll(self, timeout_ms: int, max_rows: int) -> list:
        # One record batch at a time on the fast path, so only the last one can pass max_rows.
        return self.consumer.poll(timeout_ms=timeout_ms, max_records=1 if self.fast else max_rows).get(self.tp, [])

    def _fit(self, items: list, max_rows: int) -> int:
        """How many records the items hold, once the last one is cut to max_rows (its rest kept pending)."""
        rows = sum(item.count if isinstance(item, RecordBatch) else 1 for item in items)
        if rows > max_rows:
            items[-1], self.pending = items[-1].split(items[-1].count - (rows - max_rows))
            rows = max_rows
        return rows


@dataclass
class Decoded:
    """A poll's records as a batch's columns, and what was not a row."""
    high_water: int  # the partition's highest committed row id once these rows are committed
    dates: list[pa.Array] = field(default_factory=list)  # per part, concatenated by the table
    degrees: list[pa.Array] = field(default_factory=list)
    station_ids: list[pa.Array] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    duplicates: int = 0
    first_offset: int = -1
    last_offset: int = -1

    def add_columns(self, dates: pa.Array, degrees: pa.Array, station_ids: pa.Array) -> None:
        if len(dates):
            self.dates.append(dates)
            self.degrees.append(degrees)
            self.station_ids.append(station_ids)

    def covers(self, first: int, last: int) -> None:
        if first >= 0:
            self.first_offset = first if self.first_offset < 0 else self.first_offset
            self.last_offset = last

    def columns(self) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
        return (pa.chunked_array(self.dates, pa.string()), pa.chunked_array(self.degrees, pa.float64()),
                pa.chunked_array(self.station_ids, pa.string()))


def decode(items: list, partition: int, high_water: int) -> Decoded:
    """The polled items (records, or RecordBatch objects from the fast fetcher) as one batch's columns.

    A record whose row id is at or below the high-water mark is a duplicate: counted and dropped.
    A value that is not a Report becomes a dead letter. Rows keep the records' order.
    """
    decoded = Decoded(high_water)
    for whole, group in itertools.groupby(items, key=lambda item: isinstance(item, RecordBatch)):
        if not whole:
            _decode_records(group, partition, decoded)
            continue
        for item in group:
            fast = item.decode_fast(decoded.high_water)
            if fast is None:
                _decode_records(item.records(), partition, decoded)
                continue
            dates, date_offsets, degrees, station_ids, station_offsets, rows, first, last, duplicates, high = fast
            decoded.add_columns(pa.StringArray.from_buffers(rows, pa.py_buffer(date_offsets), pa.py_buffer(dates)),
                                pa.Array.from_buffers(pa.float64(), rows, [None, pa.py_buffer(degrees)]),
                                pa.StringArray.from_buffers(rows, pa.py_buffer(station_offsets),
                                                            pa.py_buffer(station_ids)))
            decoded.covers(first, last)
            decoded.duplicates += duplicates
            decoded.high_water = high
    return decoded


def _decode_records(records, partition: int, decoded: Decoded) -> None:
    """The pure-Python path: kafka-python's records, one at a time."""
    dates, degrees, station_ids = [], [], []
    first = last = -1
    for record in records:
        first = record.offset if first < 0 else first
        last = record.offset
        row_id = header_row_id(record.headers)
        if row_id is not None and row_id <= decoded.high_water:
            decoded.duplicates += 1
            continue
        try:
            reading = report.decode(record.value)
        except report.BadReport as error:
            decoded.dead_letters.append(DeadLetter.of(partition, record.offset, str(error), record.key, record.value))
            continue
        dates.append(reading.date)
        degrees.append(reading.degrees)
        station_ids.append(reading.station_id)
        if row_id is not None:
            decoded.high_water = row_id
    decoded.add_columns(batches.string_array(dates), batches.double_array(degrees), batches.string_array(station_ids))
    decoded.covers(first, last)
