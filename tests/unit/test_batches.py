"""Batch files: names, schema, offsets in the metadata, the temp-then-rename write (on file://)."""
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from weather.common import batches
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.storage import open_storage


@pytest.fixture
def storage(tmp_path):
    folder = open_storage(f"file://{tmp_path}/data")
    folder.ensure_folder()
    return folder


def a_batch(first=7):
    return batches.build_table(["2000-01-01", "2000-01-02"], [1.5, -2.25], ["StationA", "StationB"],
                               BatchInfo(OffsetRange(first, first + 1)))


def test_a_batch_is_written_under_its_name_with_exactly_the_three_columns(storage, tmp_path):
    temp = batches.write_temp(storage, 2, 0, a_batch())
    assert storage.names() == [temp] == batches.temp_files(storage, 2)
    assert temp.startswith("partition-2-batch-0.parquet.") and temp.endswith(".tmp")
    batches.publish(storage, 2, 0, temp)
    assert storage.names() == ["partition-2-batch-0.parquet"]
    on_disk = pq.read_table(tmp_path / "data" / "partition-2-batch-0.parquet")
    assert on_disk.schema.names == ["date", "degrees", "station_id"]
    assert [field.type for field in on_disk.schema] == [pa.string(), pa.float64(), pa.string()]
    assert on_disk.to_pydict() == {"date": ["2000-01-01", "2000-01-02"], "degrees": [1.5, -2.25],
                                   "station_id": ["StationA", "StationB"]}


def test_the_kafka_offsets_round_trip_through_the_parquet_metadata(storage):
    batches.publish(storage, 0, 3, batches.write_temp(storage, 0, 3, a_batch(first=41)))
    assert batches.read_offsets(storage, 0, 3) == OffsetRange(41, 42)
    assert batches.read_batch(storage, 0, 3).schema.metadata is None  # batches concatenate


def test_a_file_without_offsets_is_reported_by_name(storage):
    storage.write(batches.batch_name(1, 0), batches.to_parquet(pa.table({"date": ["x"]})))
    with pytest.raises(ValueError, match="partition-1-batch-0.parquet has no Kafka offsets"):
        batches.read_offsets(storage, 1, 0)


def test_batch_ids_lists_only_the_partitions_final_files_in_numeric_order(storage):
    for name in ["partition-0-batch-10.parquet", "partition-0-batch-2.parquet", "partition-0-batch-3.parquet.tmp",
                 "partition-1-batch-0.parquet", "partition-10-batch-1.parquet", "notes.txt"]:
        storage.write(name, b"")
    assert batches.batch_ids(storage, 0) == [2, 10]


def test_every_write_of_a_batch_has_a_temp_file_of_its_own(storage):
    assert batches.write_temp(storage, 0, 3, a_batch()) != batches.write_temp(storage, 0, 3, a_batch())
    assert len(batches.temp_files(storage, 0)) == 2


def test_remove_temp_files_deletes_only_that_partitions_temp_files_in_any_naming(storage):
    stale = ["partition-0-batch-3.parquet.tmp", "partition-0-batch-3.parquet.tmp.1a2b3c4d.tmp",
             "partition-0-batch-4.parquet.5e6f7a8b.tmp"]
    for name in [*stale, "partition-0-batch-2.parquet", "partition-1-batch-0.parquet.5e6f7a8b.tmp"]:
        storage.write(name, b"")
    assert sorted(batches.remove_temp_files(storage, 0)) == stale
    assert sorted(storage.names()) == ["partition-0-batch-2.parquet", "partition-1-batch-0.parquet.5e6f7a8b.tmp"]
