"""The dashboard's cache of committed rows (file:// storage and a local Delta table, no server): it loads a
partition through the snapshot (the table's part in one read, then the raw tail) and then reads each new
raw batch once; its summaries keep only what the page shows."""
from __future__ import annotations

import datetime
import logging

import pytest

from committing import commit_table
from weather.common import batches, checkpoint
from weather.common.batches import BatchInfo, OffsetRange
from weather.compact.compactor import Compactor
from weather.read import snapshot
from weather.read.dashboard.cache import CommittedCache
from weather.read.dashboard.summary import CHART_DAYS, KEPT_DAYS, Summary, summarize
from weather.common.storage import open_storage


@pytest.fixture
def folders(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    return storage, str(tmp_path / "checkpoints"), str(tmp_path / "warehouse" / "temperatures")


def commit_batches(storage, checkpoint_dir, partition, first_batch, count, rows_per_batch=3, topic_id="t1"):
    """Commit `count` batches through the consumer's own protocol; offsets continue from first_batch's."""
    for batch_id in range(first_batch, first_batch + count):
        first = batch_id * rows_per_batch
        table = batches.build_table([f"2000-01-{1 + batch_id:02d}"] * rows_per_batch,
                                    [float(first + i) for i in range(rows_per_batch)],
                                    [f"Station{'AB'[i % 2]}" for i in range(rows_per_batch)],
                                    BatchInfo(OffsetRange(first, first + rows_per_batch - 1), topic_id))
        commit_table(storage, checkpoint_dir, partition, batch_id, table, first + rows_per_batch)


def compact(folders, partitions=2, raw_retention=None):
    """One cycle of the compactor: committed batches folded into the table (raw files the table holds
    deleted, but for each checkpoint's own batch, with raw_retention=0)."""
    storage, checkpoints, table_url = folders
    compactor = Compactor(storage, checkpoints, table_url, partitions, logging.getLogger("test"),
                          file_bytes=64 << 20, optimize_files=20, max_batches=1000, raw_retention=raw_retention)
    try:
        return compactor.run_once()
    finally:
        compactor.close()


def cache_of(folders, partitions=2):
    storage, checkpoints, table_url = folders
    return CommittedCache(storage, checkpoints, table_url, range(partitions))


def rows(cache):
    return sum(data.rows for data in cache.partitions.values())


def per_station(cache):
    """{station: (rows, sum of degrees)} over every partition's summary."""
    found = {}
    for summary in cache.summaries():
        for station, totals in summary.stations.items():
            rows_before, total_before = found.get(station, (0, 0.0))
            found[station] = (rows_before + totals.rows, total_before + totals.total)
    return {station: (count, round(total, 6)) for station, (count, total) in found.items()}


def read_by_snapshot(folders, partitions=2):
    """{station: (rows, sum of degrees)} as reader.py reads them (weather/read/snapshot.py)."""
    storage, checkpoints, table_url = folders
    table = snapshot.read_rows(storage, checkpoints, table_url, range(partitions))
    grouped = table.group_by("station_id").aggregate([("degrees", "count"), ("degrees", "sum")]).to_pylist()
    return {row["station_id"]: (row["degrees_count"], round(row["degrees_sum"], 6)) for row in grouped}


def test_a_refresh_reads_only_newly_committed_batches(folders):
    storage, checkpoints, _ = folders
    cache = cache_of(folders)
    cache.refresh()
    assert cache.batches_read == 0 and rows(cache) == 0

    commit_batches(storage, checkpoints, 0, 0, 3)
    cache.refresh()
    assert (cache.batches_read, rows(cache)) == (3, 9)
    commit_batches(storage, checkpoints, 0, 3, 2)
    cache.refresh()
    cache.refresh()
    assert (cache.batches_read, rows(cache), cache.table_reads) == (5, 15, 0)
    assert cache.partitions[0].last_batch_rows == 3 and cache.partitions[1].saved is None


def test_a_cold_start_reads_the_tables_part_once_then_only_the_raw_tail(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 6)
    commit_batches(storage, checkpoints, 1, 0, 4)
    assert compact(folders, raw_retention=0).batches == 10
    # The table holds batches 0..5 and 0..3; the raw files it holds are gone but each checkpoint's own.
    assert [batches.batch_ids(storage, p) for p in (0, 1)] == [[5], [3]]
    commit_batches(storage, checkpoints, 0, 6, 2)  # a raw tail after the table's part

    cache = cache_of(folders)
    cache.refresh()
    assert (rows(cache), cache.table_reads, cache.batches_read) == (36, 2, 2)  # one table read a partition
    assert per_station(cache) == read_by_snapshot(folders)
    assert cache.partitions[0].read_through == 7 and cache.partitions[1].read_through == 3

    assert compact(folders, raw_retention=0).batches == 2  # the table now covers the tail the cache read
    commit_batches(storage, checkpoints, 0, 8, 1)
    cache.refresh()
    cache.refresh()
    # Nothing read again: the table covering more holds the same rows; only the new batch was read.
    assert (rows(cache), cache.table_reads, cache.batches_read) == (39, 2, 3)
    assert per_station(cache) == read_by_snapshot(folders) and cache.partitions[0].error is None


def test_a_raw_batch_deleted_once_the_table_holds_it_is_read_from_the_table(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 3)
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    assert (rows(cache), cache.table_reads) == (9, 0)
    # While the cache is behind, the compactor folds batches 0..5 and deletes 0..4 (raw retention).
    commit_batches(storage, checkpoints, 0, 3, 3)
    compact(folders, partitions=1, raw_retention=0)
    cache.refresh()
    assert (rows(cache), cache.table_reads, cache.partitions[0].error) == (18, 1, None)
    assert per_station(cache) == read_by_snapshot(folders, partitions=1)


def test_a_recreated_topic_after_a_table_load_is_loaded_afresh(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 4, topic_id="old-topic")
    compact(folders, partitions=1)
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    assert (rows(cache), cache.table_reads) == (12, 1)
    # The topic is recreated; its consumer commits past the old batch count before the next refresh.
    commit_batches(storage, checkpoints, 0, 0, 6, rows_per_batch=2, topic_id="new-topic")
    cache.refresh()
    assert cache.partitions[0].topic_id == "new-topic" and cache.table_reads == 1  # the table holds the old one
    assert per_station(cache) == {"StationA": (6, 30.0), "StationB": (6, 36.0)}  # the new topic's rows only


def test_files_past_the_checkpoint_are_ignored(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 2)
    storage.write(batches.batch_name(0, 2), b"half a file")  # renamed, but not checkpointed yet
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    assert (cache.batches_read, rows(cache), cache.partitions[0].error) == (2, 6, None)


def test_a_checkpoint_going_back_drops_the_partitions_rows(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 4)
    commit_batches(storage, checkpoints, 1, 0, 1)
    cache = cache_of(folders)
    cache.refresh()
    assert rows(cache) == 15

    checkpoint.save(checkpoints, 0, checkpoint.Checkpoint(batch_id=1, offset=6))  # e.g. the topic was recreated
    cache.refresh()
    assert cache.partitions[0].rows == 6 and cache.batches_read == 5 + 2
    assert cache.partitions[1].rows == 3  # the other partition's batches are not read again

    checkpoint.checkpoint_path(checkpoints, 0).unlink()
    cache.refresh()
    assert cache.partitions[0].saved is None and rows(cache) == 3


def test_a_missing_or_unreadable_committed_batch_is_reported_not_raised(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 3)
    storage.delete(batches.batch_name(0, 1))
    checkpoint.checkpoint_path(checkpoints, 1).write_text("{not json")
    cache = cache_of(folders)
    cache.refresh()
    assert cache.partitions[0].read_through == 0 and rows(cache) == 3
    assert "partition-0-batch-1.parquet is committed" in cache.partitions[0].error
    assert "corrupt" in cache.partitions[1].error

    cache.refresh(storage_reachable=False)
    assert "storage unreachable" in cache.partitions[0].error
    assert cache.partitions[0].saved == checkpoint.Checkpoint(batch_id=2, offset=9)  # still shown


def test_a_recreated_topic_drops_the_partitions_rows_even_when_it_got_further(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 2, topic_id="old-topic")
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    assert rows(cache) == 6
    # Between two refreshes the topic is recreated and its consumer commits past the old batch count.
    commit_batches(storage, checkpoints, 0, 0, 4, rows_per_batch=2, topic_id="new-topic")
    cache.refresh()
    assert cache.partitions[0].topic_id == "new-topic"
    assert per_station(cache) == {"StationA": (4, 12.0), "StationB": (4, 16.0)}  # the new topic's only


def test_a_rewrite_with_other_batch_boundaries_is_read_again_not_counted_twice(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 4, rows_per_batch=6)  # offsets 0..23
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    assert rows(cache) == 24
    # Between two refreshes the checkpoint is removed by hand: the consumer rewrites the same topic's offsets in
    # batches of 3 and gets past where the cache was (batch 9, offset 30), so the checkpoint never went back.
    checkpoint.remove(checkpoints, 0)
    commit_batches(storage, checkpoints, 0, 0, 10, rows_per_batch=3)
    cache.refresh()
    assert rows(cache) == 30 and sum(total for _, total in per_station(cache).values()) == sum(range(30))
    assert cache.partitions[0].error is None


def test_station_summary_and_chart_series(folders):
    storage, checkpoints, _ = folders
    commit_batches(storage, checkpoints, 0, 0, 2)  # dates 2000-01-01 and -02; A gets 2 rows a day, B 1
    cache = cache_of(folders, partitions=1)
    cache.refresh()
    stations, chart = summarize(cache.summaries())
    assert stations == [
        {"station_id": "StationA", "rows": 4, "first_date": "2000-01-01", "last_date": "2000-01-02",
         "mean": 2.5, "min": 0.0, "max": 5.0},
        {"station_id": "StationB", "rows": 2, "first_date": "2000-01-01", "last_date": "2000-01-02",
         "mean": 2.5, "min": 1.0, "max": 4.0}]
    assert chart["dates"] == ["2000-01-01", "2000-01-02"]
    assert chart["series"] == {"StationA": [1.0, 4.0], "StationB": [1.0, 4.0]}  # a day's mean
    assert chart["rolling_mean"] == {"StationA": [1.0, 2.5], "StationB": [1.0, 2.5]}


def test_the_chart_over_a_year_keeps_only_its_days_and_means_each_stations_last_week():
    first = datetime.date(2000, 1, 1)
    days = [(first + datetime.timedelta(days=day)).isoformat() for day in range(1000)]
    summary = Summary()
    for start in range(0, 1000, 100):  # batches of 100 days, StationA reading the day's number, StationB 0
        chunk = days[start:start + 100]
        summary.add(batches.build_table(chunk * 2, [float(start + i) for i in range(len(chunk))] + [0.0] * len(chunk),
                                        ["StationA"] * len(chunk) + ["StationB"] * len(chunk),
                                        BatchInfo(OffsetRange(0, 0))))
    assert summary.rows == 2000 and summary.recent.num_rows == 2 * KEPT_DAYS  # not the whole history
    stations, chart = summarize([summary])
    assert [s["rows"] for s in stations] == [1000, 1000] and stations[0]["first_date"] == "2000-01-01"
    assert chart["dates"] == days[-CHART_DAYS:]
    assert chart["series"]["StationA"][-1] == 999.0 and chart["series"]["StationA"][0] == 1000.0 - CHART_DAYS
    assert chart["rolling_mean"]["StationA"][-1] == 996.0  # the mean of days 993..999
    assert chart["rolling_mean"]["StationA"][0] == 1000.0 - CHART_DAYS - 3  # its window reaches before the chart
    assert set(chart["rolling_mean"]["StationB"]) == {0.0}
