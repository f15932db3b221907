"""The dashboard's cache of committed batches (file:// storage, no server): it reads each batch once."""
from __future__ import annotations

from committing import commit_table
from weather.common import batches, checkpoint
from weather.common.batches import BatchInfo, OffsetRange
from weather.read.dashboard.cache import CommittedCache
from weather.read.dashboard.state import summarize
from weather.common.storage import open_storage


def commit_batches(storage, checkpoint_dir, partition, first_batch, count, rows_per_batch=3, topic_id=None):
    """Commit `count` batches through the consumer's own protocol; offsets continue from first_batch's."""
    for batch_id in range(first_batch, first_batch + count):
        first = batch_id * rows_per_batch
        table = batches.build_table([f"2000-01-{1 + batch_id:02d}"] * rows_per_batch,
                                    [float(first + i) for i in range(rows_per_batch)],
                                    [f"Station{'AB'[i % 2]}" for i in range(rows_per_batch)],
                                    BatchInfo(OffsetRange(first, first + rows_per_batch - 1), topic_id))
        commit_table(storage, checkpoint_dir, partition, batch_id, table, first + rows_per_batch)


def test_a_refresh_reads_only_newly_committed_batches(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    cache = CommittedCache(storage, checkpoints, range(2))
    cache.refresh()
    assert cache.batches_read == 0 and cache.table().num_rows == 0

    commit_batches(storage, checkpoints, 0, 0, 3)
    cache.refresh()
    assert (cache.batches_read, cache.table().num_rows) == (3, 9)
    commit_batches(storage, checkpoints, 0, 3, 2)
    cache.refresh()
    cache.refresh()
    assert (cache.batches_read, cache.table().num_rows) == (5, 15)
    assert cache.partitions[0].last_batch_rows == 3 and cache.partitions[1].saved is None


def test_files_past_the_checkpoint_are_ignored(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 2)
    storage.write(batches.batch_name(0, 2), b"half a file")  # renamed, but not checkpointed yet
    cache = CommittedCache(storage, checkpoints, range(1))
    cache.refresh()
    assert (cache.batches_read, cache.table().num_rows, cache.partitions[0].error) == (2, 6, None)


def test_a_checkpoint_going_back_drops_the_partitions_cache(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 4)
    commit_batches(storage, checkpoints, 1, 0, 1)
    cache = CommittedCache(storage, checkpoints, range(2))
    cache.refresh()
    assert cache.table().num_rows == 15

    checkpoint.save(checkpoints, 0, checkpoint.Checkpoint(batch_id=1, offset=6))  # e.g. the topic was recreated
    cache.refresh()
    assert cache.partitions[0].table.num_rows == 6 and cache.batches_read == 5 + 2
    assert cache.partitions[1].table.num_rows == 3  # the other partition's batches are not read again

    checkpoint.checkpoint_path(checkpoints, 0).unlink()
    cache.refresh()
    assert cache.partitions[0].saved is None and cache.table().num_rows == 3


def test_a_missing_or_unreadable_committed_batch_is_reported_not_raised(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 3)
    storage.delete(batches.batch_name(0, 1))
    checkpoint.checkpoint_path(checkpoints, 1).write_text("{not json")
    cache = CommittedCache(storage, checkpoints, range(2))
    cache.refresh()
    assert cache.partitions[0].read_through == 0 and cache.table().num_rows == 3
    assert "partition-0-batch-1.parquet is committed" in cache.partitions[0].error
    assert "corrupt" in cache.partitions[1].error

    cache.refresh(storage_reachable=False)
    assert "storage unreachable" in cache.partitions[0].error


def test_station_summary_and_chart_series(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 2)  # dates 2000-01-01 and -02; A gets 2 rows a day, B 1
    cache = CommittedCache(storage, checkpoints, range(1))
    cache.refresh()
    stations, chart = summarize(cache.table())
    assert stations == [
        {"station_id": "StationA", "rows": 4, "first_date": "2000-01-01", "last_date": "2000-01-02",
         "mean": 2.5, "min": 0.0, "max": 5.0},
        {"station_id": "StationB", "rows": 2, "first_date": "2000-01-01", "last_date": "2000-01-02",
         "mean": 2.5, "min": 1.0, "max": 4.0}]
    assert chart["dates"] == ["2000-01-01", "2000-01-02"]
    assert chart["series"] == {"StationA": [2.0, 5.0], "StationB": [1.0, 4.0]}


def test_a_recreated_topic_drops_the_partitions_cache_even_when_it_got_further(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 2, topic_id="old-topic")
    cache = CommittedCache(storage, checkpoints, range(1))
    cache.refresh()
    assert cache.table().num_rows == 6
    # Between two refreshes the topic is recreated and its consumer commits past the old batch count.
    commit_batches(storage, checkpoints, 0, 0, 4, rows_per_batch=2, topic_id="new-topic")
    cache.refresh()
    assert cache.partitions[0].topic_id == "new-topic"
    assert cache.table().column("degrees").to_pylist() == [float(v) for v in range(8)]  # the new topic's only


def test_a_rewrite_with_other_batch_boundaries_is_read_again_not_counted_twice(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    commit_batches(storage, checkpoints, 0, 0, 4, rows_per_batch=6, topic_id="t1")  # offsets 0..23
    cache = CommittedCache(storage, checkpoints, range(1))
    cache.refresh()
    assert cache.table().num_rows == 24
    # Between two refreshes the checkpoint is removed by hand: the consumer rewrites the same topic's offsets in
    # batches of 3 and gets past where the cache was (batch 9, offset 30), so the checkpoint never went back.
    checkpoint.remove(checkpoints, 0)
    commit_batches(storage, checkpoints, 0, 0, 10, rows_per_batch=3, topic_id="t1")
    cache.refresh()
    assert cache.table().column("degrees").to_pylist() == [float(v) for v in range(30)]
    assert cache.partitions[0].error is None
