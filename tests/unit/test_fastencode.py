"""The producer's compiled record-batch builder (fastdecode/weather_fastencode.c) against kafka-python's own
builder fed what the send() path passes (key, Report value, `row_id` header, partition from the default
partitioner): the records must be byte for byte the same, batch for batch, edge values included."""
from __future__ import annotations

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from edge_rows import edge_rows
from weather.common import records, report

weather_fastencode = pytest.importorskip("weather_fastencode", reason="the compiled builder is not built")

HEADER = 61  # a v2 record batch's header, which the builder leaves zero for kafka-python
TIMESTAMP = 1_700_000_000_000


def send_path_batches(rows: list[tuple], partitions: int, batch_size: int) -> dict[int, list[tuple]]:
    """Partition -> its batches as kafka-python's builder makes them from the send() path's arguments, each
    (records after the header, record count, last row id)."""
    batches: dict[int, list[list]] = {}
    for row_id, station_id, date, degrees in rows:
        key = station_id.encode()
        partition = records.partition_for(key, partitions)
        record = dict(timestamp=TIMESTAMP, key=key, value=report.encode(station_id, date, degrees),
                      headers=[(records.HEADER, b"%d" % row_id)])
        open_batches = batches.setdefault(partition, [])
        if not open_batches or open_batches[-1][0].append(open_batches[-1][1], **record) is None:
            builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                                producer_epoch=-1, base_sequence=-1, batch_size=batch_size)
            builder.append(0, **record)
            open_batches.append([builder, 0, 0])
        open_batches[-1][1] += 1
        open_batches[-1][2] = row_id
    return {partition: [(bytes(builder.build()[HEADER:]), count, last) for builder, count, last in found]
            for partition, found in batches.items()}


def compiled_batches(rows: list, partitions: int, batch_size: int) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = {}
    for partition, batch, count, last in weather_fastencode.record_batches(rows, partitions, batch_size):
        assert isinstance(batch, bytearray) and batch[:HEADER] == bytes(HEADER)
        found.setdefault(partition, []).append((bytes(batch[HEADER:]), count, last))
    return found


@pytest.mark.parametrize("batch_size", [1, 200, 1000, 16 << 10, 256 << 10])
@pytest.mark.parametrize("partitions", [1, 4, 7])
def test_the_batches_are_kafka_pythons_for_the_send_paths_records(partitions, batch_size):
    rows = edge_rows(3000)
    expected = send_path_batches(rows, partitions, batch_size)
    assert compiled_batches(rows, partitions, batch_size) == expected
    if batch_size <= 1000:  # split by size: many batches per partition
        assert all(len(batches) > 1 for batches in expected.values())


def test_any_sequence_of_rows_gives_the_same_batches():
    rows = edge_rows(500)
    assert compiled_batches([list(row) for row in rows], 4, 4096) == compiled_batches(rows, 4, 4096)


def test_an_empty_page_gives_no_batch():
    assert weather_fastencode.record_batches([], 4, 1000) == []


@pytest.mark.parametrize("row, error, says", [
    ((1, "S", "2024-01-01"), TypeError, "row 0 has 3 fields"),
    ((1, b"S", "2024-01-01", 1.0), TypeError, "station_id and date str"),
    ((1, "S", None, 1.0), TypeError, "station_id and date str"),
    ((1, "S", "2024-01-01", None), TypeError, "must be real number"),
    ((2**64, "S", "2024-01-01", 1.0), OverflowError, "row 0: id 18446744073709551616 does not fit in 64 bits"),
    ((1, "\ud800", "2024-01-01", 1.0), UnicodeEncodeError, "surrogates not allowed"),
])
def test_a_row_it_cannot_encode_is_named(row, error, says):
    with pytest.raises(error, match=says):
        weather_fastencode.record_batches([row], 4, 1000)
