"""The compiled decoder against kafka-python's own, on the same bytes: every batch must come out the same.

The record batches are built by kafka-python's own builder (plain and with each codec the broker
allows), then read twice: by kafka-python's fetcher records and the pure-Python path, and by the
fast fetcher (whole record batches) and the compiled decoder. Rows, dead letters, duplicates, the
high-water mark, the offsets covered and the fetch position must be equal; and the tests check that
the compiled decoder really decoded the plain batches rather than handing them all back.
"""
from __future__ import annotations

import struct

import crc32c
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.memory_records import MemoryRecords

from weather.consume import fetch
from weather.common import kafka_adapter, report

pytestmark = pytest.mark.skipif(fetch.weather_fastdecode is None, reason="the compiled decoder is not built")

TP = TopicPartition("temperatures", 0)
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CONTROL_BIT = 0x20
WHOLE_BATCHES = kafka_adapter.whole_batch_records(fetch.RecordBatch)  # the fast fetcher's parsed fetch


def good(row_id: int, station: str = "USW00014837", date: str = "2024-03-05", degrees: float = 12.5):
    return station.encode(), report.encode(station, date, degrees), [("row_id", str(row_id).encode())]


def field(number: int, wire: int, payload: bytes) -> bytes:
    return bytes([number << 3 | wire]) + (bytes([len(payload)]) + payload if wire == 2 else payload)


def record_batch(base_offset: int, records: list, codec: str = "none", control: bool = False) -> bytes:
    """One v2 record batch from kafka-python's own builder; `control` sets the control bit (CRC redone)."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[codec], is_transactional=False,
                                        producer_id=-1, producer_epoch=-1, base_sequence=-1, batch_size=1 << 20)
    for delta, (key, value, headers) in enumerate(records):
        builder.append(delta, timestamp=1_700_000_000_000 + delta, key=key, value=value, headers=headers)
    raw = bytearray(builder.build())
    struct.pack_into(">q", raw, 0, base_offset)
    if control:
        raw[22] |= CONTROL_BIT  # attributes: int16 at byte 21, the flags in its low byte
        struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    return bytes(raw)


def both_ways(raw: bytes, fetch_offset: int = 0, high_water: int = 0):
    """(pure-Python path, fast path): each a Decoded (or the exception raised) and the next fetch offset."""
    results = []
    for records_class in (Fetcher.PartitionRecords, WHOLE_BATCHES):
        parsed = records_class(fetch_offset, TP, MemoryRecords(raw))
        try:
            outcome = fetch.decode(parsed.take(), TP.partition, high_water)
        except Exception as error:  # must be the same error either way
            outcome = (type(error), str(error))
        results.append((outcome, parsed.next_fetch_offset))
    return results


def values(decoded: fetch.Decoded) -> list:
    """The columns' values, degrees as their bits (NaN equals NaN, -0.0 differs from 0.0)."""
    dates, degrees, station_ids = (column.to_pylist() for column in decoded.columns())
    return [dates, [struct.pack("<d", value) for value in degrees], station_ids]


def assert_same(raw: bytes, **kwargs) -> fetch.Decoded:
    (slow, slow_next), (fast, fast_next) = both_ways(raw, **kwargs)
    if isinstance(slow, tuple):  # the same error (the fast path raises it when decoding, not when polling)
        assert fast == slow
        return slow
    assert fast_next == slow_next
    assert values(fast) == values(slow)
    assert (fast.dead_letters, fast.duplicates, fast.high_water, fast.first_offset, fast.last_offset) == \
           (slow.dead_letters, slow.duplicates, slow.high_water, slow.first_offset, slow.last_offset)
    return slow


def decoded_fast(raw: bytes, fetch_offset: int = 0, high_water: int = 0) -> list:
    """What the compiled decoder itself returned for each record batch (None: handed back)."""
    parsed = WHOLE_BATCHES(fetch_offset, TP, MemoryRecords(raw))
    return [item.decode_fast(high_water) for item in parsed.take()]


@pytest.mark.parametrize("codec", CODECS)
def test_plain_reports_decode_alike_and_fast_with_every_codec(codec):
    rows = [good(i, station=f"ST{i % 7:05d}", date=f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", degrees=i / 8 - 20)
            for i in range(1, 301)]
    raw = record_batch(0, rows[:150], codec) + record_batch(150, rows[150:], codec)
    slow = assert_same(raw)
    assert sum(len(c) for c in slow.dates) == 300 and (slow.first_offset, slow.last_offset) == (0, 299)
    assert all(result is not None for result in decoded_fast(raw))


def test_duplicates_and_the_high_water_mark_alike():
    rows = [good(row_id) for row_id in (5, 6, 6, 3, 9, 2, 10)]
    slow = assert_same(record_batch(0, rows), high_water=5)
    assert (slow.duplicates, slow.high_water) == (4, 10)  # 5, the second 6, 3 and 2
    assert decoded_fast(record_batch(0, rows), high_water=5)[0] is not None


def test_records_before_the_fetch_position_are_left_out_alike():
    raw = record_batch(40, [good(i) for i in range(1, 11)])
    slow = assert_same(raw, fetch_offset=45)
    assert (slow.first_offset, slow.last_offset) == (45, 49)
    assert decoded_fast(raw, fetch_offset=45)[0] is not None


def test_a_record_batch_wholly_before_the_position_is_skipped_alike():
    raw = record_batch(0, [good(1), good(2)]) + record_batch(2, [good(3)])
    assert assert_same(raw, fetch_offset=2).first_offset == 2


@pytest.mark.parametrize("headers", [
    [], [("row_id", None)], [("row_id", b"abc")], [("row_id", b"0")], [("row_id", b"")], [("row_id", b" 7")],
    [("row_id", b"+8")], [("row_id", b"1_000")], [("row_id", "٣".encode())], [("other", b"1"), ("row_id", b"4")],
    [("row_id", b"4"), ("row_id", b"1")], [("rôw_id", b"4")], [("row_id", b"99999999999999999999")],
], ids=repr)
def test_every_kind_of_row_id_header_alike(headers):
    key, value, _ = good(0)
    assert_same(record_batch(0, [good(2), (key, value, headers), good(3)]), high_water=1)


@pytest.mark.parametrize("value", [
    None, b"", b"\xff\xff", b"garbage that is not protobuf",
    field(1, 2, b"2024-01-01"),  # no station
    field(1, 2, b"2024-1-1") + field(3, 2, b"S"),  # not YYYY-MM-DD
    field(1, 2, "٢٠٢٤-٠١-٠١".encode()) + field(3, 2, b"S"),  # digits, but not ASCII ones
    field(1, 2, b"2024-01-01") + field(3, 2, "Zürich".encode()),  # a station id beyond ASCII
    field(1, 2, b"2024-01-01") + field(3, 2, b"\xc3"),  # not UTF-8
    field(1, 2, b"2024-01-01") + field(3, 2, b"S") + field(4, 0, b"\x01"),  # an unknown field
    field(1, 2, b"2024-01-01") + field(3, 2, b"S") + field(2, 0, b"\x05"),  # degrees with the wrong wire type
    field(1, 2, b"1999-12-31") + field(3, 2, b"S") + field(1, 2, b"2024-01-01"),  # repeated: the last wins
    field(3, 2, b"S") + field(1, 2, b"2024-01-01"),  # fields out of order, degrees absent (0.0)
    field(1, 2, b"2024-01-01") + field(2, 1, struct.pack("<d", float("-0.0"))) + field(3, 2, b"S"),
    field(1, 2, b"2024-01-01") + field(2, 1, struct.pack("<d", float("nan"))) + field(3, 2, b"S"),
    field(1, 2, b"2024-01-01") + field(3, 2, b"S")[:-1],  # cut short
], ids=repr)
def test_every_kind_of_value_alike(value):
    assert_same(record_batch(0, [good(1), (b"key", value, [("row_id", b"2")]), good(3)]))


def test_a_batch_with_a_bad_value_keeps_the_rows_around_it_in_order():
    rows = [good(1, station="A"), (None, b"not a report", [("row_id", b"2")]), good(3, station="C")]
    slow = assert_same(record_batch(7, rows))
    assert [c.to_pylist() for c in slow.station_ids] == [["A", "C"]] and slow.dead_letters[0].offset == 8


def test_control_batches_are_skipped_alike():
    raw = record_batch(0, [good(1)]) + record_batch(1, [(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00", [])],
                                                    control=True) + record_batch(2, [good(2)])
    slow = assert_same(raw)
    assert (slow.first_offset, slow.last_offset, sum(len(c) for c in slow.dates)) == (0, 2, 2)


def test_a_corrupt_record_batch_fails_alike():
    raw = bytearray(record_batch(0, [good(1), good(2)]))
    raw[-3] ^= 0xFF  # the CRC no longer matches
    slow = assert_same(bytes(raw))
    assert isinstance(slow, tuple) and "crc" in slow[1]


def test_a_malformed_record_fails_alike():
    """A record whose length does not match its fields: kafka-python's error either way."""
    raw = bytearray(record_batch(0, [good(1), good(2)]))
    raw[61] += 1  # the first record's length, just after the 61-byte header
    struct.pack_into(">I", raw, 17, crc32c.crc32c(bytes(raw[21:])))
    slow = assert_same(bytes(raw))
    assert isinstance(slow, tuple)
    assert decoded_fast(bytes(raw)) == [None]


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_a_record_batch_cut_in_parts_decodes_as_the_whole(codec):
    """Cut as the poller cuts it: each part decoded before the rest is cut again."""
    raw = record_batch(10, [good(i) for i in range(1, 11)] + [(None, b"bad", [("row_id", b"11")]), good(12)], codec)
    whole = fetch.decode(WHOLE_BATCHES(12, TP, MemoryRecords(raw)).take(), 0, 2)
    rest = WHOLE_BATCHES(12, TP, MemoryRecords(raw)).take()[0]
    high_water, decoded, counts = 2, [], []
    for rows in (3, 4, 3):  # offsets 12..14, 15..18, 19..21 (the bad value at 20)
        part, rest = rest.split(rows)
        counts.append(part.count)
        decoded.append(fetch.decode([part], 0, high_water))
        high_water = decoded[-1].high_water
    assert rest.count == 0 and counts == [3, 4, 3]
    assert [(d.first_offset, d.last_offset) for d in decoded] == [(12, 14), (15, 18), (19, 21)]
    assert sum((values(d)[2] for d in decoded), []) == values(whole)[2] and len(values(whole)[2]) == 9
    assert [d.dead_letters for d in decoded] == [[], [], whole.dead_letters] and high_water == whole.high_water
