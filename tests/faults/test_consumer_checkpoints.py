"""A checkpoint lost or corrupted, `--recover`, and temp files left behind: never a crash loop, never a duplicate."""
from __future__ import annotations

import re
from collections import Counter

import pytest

from consumer_world import assert_verified, record_figures, readings, start_topic, wait_caught_up
from weather.common import batches, checkpoint
from weather.read import committed
from weather.common.storage import open_storage
from world import wait_for

pytestmark = pytest.mark.faults
SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "5"}  # many batches: the rebuild is long enough to watch


def committed_partition_rows(pipeline, partition: int) -> Counter:
    table = committed.read_committed_partition(open_storage(pipeline.data_url), str(pipeline.checkpoint_dir),
                                               partition)
    return Counter(zip(table["station_id"].to_pylist(), table["date"].to_pylist(), table["degrees"].to_pylist()))


def one_partition_committed(pipeline, days: int = 80):
    """The producer, and partition 0 fully committed by a consumer that has since stopped."""
    producer = start_topic(pipeline)
    pipeline.insert(readings(0, days))
    wait_for(lambda: sum(pipeline.end_offsets().values()) == days * 10, 60, "every row in Kafka")
    consumer = pipeline.start("consumer.py", "0", **SMALL_BATCHES)
    wait_for(lambda: (checkpoint.load(str(pipeline.checkpoint_dir), 0) or checkpoint.Checkpoint(0, 0)).offset
             == pipeline.end_offsets()[0], 90, "partition 0 committed")
    assert consumer.stop() == 0
    return producer


def finish(pipeline, producer, partition_0):
    for p in range(1, 4):
        pipeline.start("consumer.py", str(p))
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    for program in pipeline.programs:
        if program.process.poll() is None:
            assert program.stop() == 0, program.stderr
    assert "Traceback" not in partition_0.stderr
    return found


def test_a_missing_checkpoint_rereads_from_0_and_the_committed_view_never_holds_a_duplicate(pipeline):
    producer = one_partition_committed(pipeline)
    table = Counter((station, date, degrees) for _, station, date, degrees in pipeline.table_rows())
    before = checkpoint.load(str(pipeline.checkpoint_dir), 0)
    checkpoint.checkpoint_path(str(pipeline.checkpoint_dir), 0).unlink()
    consumer = pipeline.start("consumer.py", "0", **SMALL_BATCHES)
    snapshots, sizes = 0, set()
    while (checkpoint.load(str(pipeline.checkpoint_dir), 0) or checkpoint.Checkpoint(0, 0)).offset < before.offset:
        rows = committed_partition_rows(pipeline, 0)  # a reader polling while the partition is rebuilt
        assert all(count <= table[row] for row, count in rows.items()), "a duplicate or foreign row was visible"
        snapshots += 1
        sizes.add(sum(rows.values()))
        assert consumer.process.poll() is None, consumer.stderr
    assert "partition 0: from offset 0, next batch 0" in consumer.stderr
    assert len(sizes) > 3, f"the rebuild was not observed in progress ({snapshots} snapshots, sizes {sizes})"
    assert checkpoint.load(str(pipeline.checkpoint_dir), 0).batch_id == before.batch_id  # same batches again
    found = finish(pipeline, producer, consumer)
    record_figures("checkpoint_missing", found, reader_snapshots_during_rebuild=snapshots,
                   distinct_sizes_seen=len(sizes))


@pytest.mark.parametrize("corruption", ["truncated", "unparsable"])
def test_a_corrupt_checkpoint_is_rebuilt_from_the_batch_files_and_reading_goes_on(pipeline, corruption):
    producer = one_partition_committed(pipeline, days=30)
    before = checkpoint.load(str(pipeline.checkpoint_dir), 0)
    path = checkpoint.checkpoint_path(str(pipeline.checkpoint_dir), 0)
    path.write_text(path.read_text()[:9] if corruption == "truncated" else "}{ not json")
    pipeline.insert(readings(30, 10))
    consumer = pipeline.start("consumer.py", "0", **SMALL_BATCHES)
    wait_for(lambda: "next batch" in consumer.stderr, 60, "the consumer's start, after the rebuild")
    line = next(line for line in consumer.stderr.splitlines() if "is corrupt" in line)
    assert f"batch {before.batch_id}, offset {before.offset}" in line, line
    assert f"from offset {before.offset}, next batch {before.batch_id + 1}" in consumer.stderr  # nothing re-read
    found = finish(pipeline, producer, consumer)
    assert consumer.stop() == 0
    record_figures(f"checkpoint_{corruption}", found)


def test_recover_rebuilds_a_missing_checkpoint_from_the_batch_files(pipeline):
    producer = one_partition_committed(pipeline, days=30)
    before = checkpoint.load(str(pipeline.checkpoint_dir), 0)
    checkpoint.checkpoint_path(str(pipeline.checkpoint_dir), 0).unlink()
    consumer = pipeline.start("consumer.py", "0", "--recover", **SMALL_BATCHES)
    wait_for(lambda: "next batch" in consumer.stderr, 60, "the consumer's start")
    assert re.search(rf"no checkpoint \(--recover\); rebuilt the checkpoint .*: batch {before.batch_id}, offset {before.offset}", consumer.stderr)
    assert f"from offset {before.offset}, next batch {before.batch_id + 1}" in consumer.stderr
    assert checkpoint.load(str(pipeline.checkpoint_dir), 0).offset == before.offset
    found = finish(pipeline, producer, consumer)
    record_figures("checkpoint_recover", found)


def test_stale_temp_files_are_removed_on_start(pipeline):
    producer = one_partition_committed(pipeline, days=10)
    storage = open_storage(pipeline.data_url)
    saved = checkpoint.load(str(pipeline.checkpoint_dir), 0)
    batch_temp = storage.write_temp(batches.batch_name(0, saved.batch_id + 1), b"half a parquet")
    checkpoint_temp = pipeline.checkpoint_dir / "partition-0.json.tmp"  # as earlier versions named it
    checkpoint_temp.write_text('{"batch_id": 99')
    consumer = pipeline.start("consumer.py", "0")
    wait_for(lambda: "next batch" in consumer.stderr, 60, "the consumer's start")
    assert f"removed stale {pipeline.data_url}/{batch_temp}" in consumer.stderr
    assert f"removed stale {checkpoint_temp}" in consumer.stderr
    assert batches.temp_files(storage, 0) == [] and checkpoint.temp_files(str(pipeline.checkpoint_dir), 0) == []
    finish(pipeline, producer, consumer)
