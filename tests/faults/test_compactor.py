"""The compactor (src/compactor.py) on real servers: committed batches folded into the Delta table exactly
once, whatever step it is killed at, with two compactors at once, across a recreated topic, with raw
retention on; the snapshot (table + raw tail) always equals the raw layer's committed view."""
from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest

from consumer_world import assert_verified, record_figures, seeded, settings, wait_caught_up
from table_world import SMALL_BATCHES, compact_once, multiset, readings, start_pipeline, table_part
from world import wait_for
from weather.common import batches, checkpoint, incarnation
from weather.common.storage import open_storage
from weather.common.table import TableVersion
from weather.compact.compactor import Step
from weather.read import committed, snapshot

pytestmark = pytest.mark.faults
COMPACTOR_KILLS = 12


def thread_niceness(pid):
    """The nice values of a process's threads (field 19 of /proc/<pid>/task/<tid>/stat): one per thread."""
    tasks = os.listdir(f"/proc/{pid}/task")
    return [int(open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()[16]) for tid in tasks]


def raw_view(pipeline):
    """The raw layer's committed rows, read as the specification's reader would (batches 0..batch_id)."""
    return committed.read_committed(open_storage(pipeline.data_url), str(pipeline.checkpoint_dir), range(4))


def snapshot_rows(pipeline):
    config = settings(pipeline)
    return snapshot.read_rows(open_storage(pipeline.data_url), config.checkpoint_dir, config.table_url, range(4))


def covered(pipeline):
    """Per partition, the (batch, offset) the newest table version covers of the current incarnation."""
    version = TableVersion.latest(settings(pipeline).table_url)
    storage = open_storage(pipeline.data_url)
    found = {}
    for p in range(4):
        saved = checkpoint.load(str(pipeline.checkpoint_dir), p)
        topic_id = batches.read_info(storage, p, saved.batch_id).topic_id if saved else None
        found[p] = version.covered(p, topic_id)
    return found


def assert_layers_agree(pipeline, raw_files_kept=True):
    """Table + tail == the raw committed view, the table holds each committed row at most once, and the
    verifier (reading through the snapshot) finds 0 missing and 0 duplicated. With raw retention on, the raw
    view is gone: the verifier's comparison with the source table is what is left to check."""
    if raw_files_kept:
        raw = multiset(raw_view(pipeline))
        assert multiset(snapshot_rows(pipeline)) == raw
        assert not multiset(table_part(pipeline)) - raw  # nothing in the table that is not committed, nothing twice
    return assert_verified(pipeline)


def test_the_compactor_folds_committed_batches_once_and_readers_read_table_plus_tail(pipeline):
    programs = start_pipeline(pipeline)
    compact_once(pipeline)
    raw = multiset(raw_view(pipeline))
    assert multiset(table_part(pipeline)) == raw  # caught up: the table holds every committed row
    for p, part in covered(pipeline).items():
        saved = checkpoint.load(str(pipeline.checkpoint_dir), p)
        assert part is not None and (part.batch_id, part.offset) == (saved.batch_id, saved.offset)
    version_before = TableVersion.latest(settings(pipeline).table_url).version
    compact_once(pipeline)  # nothing new: no commit
    assert TableVersion.latest(settings(pipeline).table_url).version == version_before

    pipeline.insert(readings(20, 10))  # a fresh tail the table does not hold yet
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 300, 60, "the new rows in Kafka")
    wait_caught_up(pipeline)
    assert sum(multiset(table_part(pipeline)).values()) == 200
    assert_layers_agree(pipeline)  # 200 rows from the table, 100 from the raw tail
    compact_once(pipeline)
    assert multiset(table_part(pipeline)) == multiset(raw_view(pipeline))
    reader = pipeline.run("reader.py")
    assert reader.returncode == 0 and reader.stdout.splitlines()[-1].split() == ["total", "300"], reader.stderr
    for program in programs:
        assert program.stop() == 0


@pytest.mark.parametrize("step", list(Step), ids=[step.value for step in Step])
def test_a_compactor_killed_at_each_step_restarts_into_exactly_once(pipeline, step):
    programs = start_pipeline(pipeline)
    # optimize after two small files per partition (and retention of every covered raw file): every step is reached
    retention = step is Step.RETAINED
    extra = {"TABLE_OPTIMIZE_FILES": "2", **({"RAW_RETENTION_SECONDS": "0"} if retention else {})}
    if step in (Step.OPTIMIZED, Step.RETAINED):
        compact_once(pipeline, **extra)  # a first commit; the crash comes in the next cycle
        pipeline.insert(readings(20, 10))
        wait_for(lambda: sum(pipeline.end_offsets().values()) == 300, 60, "the new rows in Kafka")
        wait_caught_up(pipeline)
    crashed = pipeline.run("compactor.py", "--once", timeout=180, COMPACTOR_CRASH_AT=step.value, **extra)
    assert crashed.returncode == -9, f"it did not crash at {step.value}:\n{crashed.stderr}"
    assert_layers_agree(pipeline, not retention)  # what readers see right after the crash
    compact_once(pipeline, **extra)
    assert multiset(table_part(pipeline)) == multiset(snapshot_rows(pipeline))
    assert_layers_agree(pipeline, not retention)
    for program in programs:
        assert program.stop() == 0


def test_two_compactors_at_once_under_load_double_nothing(pipeline, tmp_path):
    programs = start_pipeline(pipeline, days=10)
    # Separate lock folders, so the lock does not keep them apart: Delta's own conflict check must.
    fast = {"COMPACT_EVERY_SECONDS": "0.2"}
    compactors = [pipeline.start("compactor.py", LOCK_DIR=str(tmp_path / f"locks-{n}"), **fast) for n in range(2)]
    for day in range(10, 40, 5):
        pipeline.insert(readings(day, 5))
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 400, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    wait_for(lambda: sum(multiset(table_part(pipeline)).values()) == 400, 120, "the table caught up")
    for program in compactors:
        assert program.stop() == 0, program.stderr
    assert multiset(table_part(pipeline)) == multiset(raw_view(pipeline))
    assert_layers_agree(pipeline)
    same_lock = [pipeline.start("compactor.py", **fast) for _ in range(2)]  # one lock: the newest takes over
    assert same_lock[0].wait(60) == 0 and same_lock[1].process.poll() is None  # the older one left, however it lost
    # background work: every thread of the compactor yields the CPU to the producer and the consumers
    assert set(thread_niceness(same_lock[1].process.pid)) == {10}
    assert same_lock[1].stop() == 0
    for program in programs:
        assert program.stop() == 0


def test_a_recreated_topic_replaces_its_partitions_in_the_table(pipeline):
    producer, *consumers = start_pipeline(pipeline)
    compact_once(pipeline)
    assert producer.stop() == 0
    old = {p: part for p, part in covered(pipeline).items()}
    old_id = incarnation.current_topic_id(pipeline.admin(), pipeline.topic)
    producer = pipeline.start("producer.py")  # deletes and creates the topic: the consumers start afresh

    def recreated():
        try:
            return incarnation.current_topic_id(pipeline.admin(), pipeline.topic) != old_id
        except incarnation.TopicGone:
            return False
    wait_for(recreated, 90, "the topic recreated")
    new_id = incarnation.current_topic_id(pipeline.admin(), pipeline.topic)
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 200, 90, "the table sent again to the new topic")
    storage = open_storage(pipeline.data_url)

    def of_new_topic(p):
        saved = checkpoint.load(str(pipeline.checkpoint_dir), p)
        return saved is not None and batches.read_info(storage, p, saved.batch_id).topic_id == new_id
    wait_for(lambda: all(of_new_topic(p) for p in range(4)), 90, "every partition committing the new topic")
    wait_caught_up(pipeline)
    now = covered(pipeline)
    assert all(part is None for part in now.values()) and all(old.values()), (old, now)
    assert_layers_agree(pipeline)  # the old incarnation's table rows are not read
    compact_once(pipeline)
    assert multiset(table_part(pipeline)) == multiset(raw_view(pipeline))  # replaced, not added to
    assert sum(multiset(table_part(pipeline)).values()) == 200
    for program in (producer, *consumers):
        assert program.stop() == 0


def test_raw_retention_deletes_only_covered_files_and_readers_still_see_everything(pipeline):
    programs = start_pipeline(pipeline)
    rows_before = sum(multiset(raw_view(pipeline)).values())
    storage = open_storage(pipeline.data_url)
    def batch_files():  # a write given up on a stalled DataNode may leave a temp file for a while: not a batch
        return [name for name in storage.names() if name.endswith(".parquet")]
    files_before = len(batch_files())
    compact_once(pipeline, RAW_RETENTION_SECONDS="0")
    left = batch_files()
    assert len(left) == 4 and files_before > 4  # only each checkpoint's own batch stays
    for p in range(4):
        assert left.count(batches.batch_name(p, checkpoint.load(str(pipeline.checkpoint_dir), p).batch_id)) == 1
    assert sum(multiset(snapshot_rows(pipeline)).values()) == rows_before
    pipeline.insert(readings(20, 5))
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 250, 60, "the new rows in Kafka")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    assert found.rows_expected == 250
    reader = pipeline.run("reader.py")
    assert reader.stdout.splitlines()[-1].split() == ["total", "250"], reader.stderr
    for program in programs:
        assert program.stop() == 0


@pytest.mark.slow
def test_compactors_and_consumers_killed_at_random_moments_under_load_fold_every_row_once(pipeline):
    seed, rng = seeded("random compactor kills")
    generator = pipeline.start("weather_generator.py", AUTOGRADER_DELAY_OVERRIDE_VAL="0.01")
    producer = pipeline.start("producer.py")
    consumers = {p: pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)}
    # many commits and optimizes to land in, a backlog folded in steps of 40 batches
    fast = {"COMPACT_EVERY_SECONDS": "0.3", "TABLE_OPTIMIZE_FILES": "4", "COMPACT_MAX_BATCHES": "40"}
    wait_for(lambda: len(pipeline.table_rows()) >= 100, 60, "the first rows")
    compactor, versions = pipeline.start("compactor.py", **fast), []
    for kill in range(COMPACTOR_KILLS):
        wait_for(lambda: "folding" in compactor.stderr, 60, "the compactor started")
        time.sleep(rng.uniform(0.2, 3.0))  # inside a cycle or between two
        assert compactor.process.poll() is None, f"the compactor exited by itself:\n{compactor.stderr}"
        compactor.process.send_signal(signal.SIGKILL)
        compactor.wait(30)
        versions.append(TableVersion.latest(settings(pipeline).table_url).version)
        if kill % 3 == 0:  # a consumer too, now and then
            partition = rng.randrange(4)
            consumers[partition].process.send_signal(signal.SIGKILL)
            consumers[partition].wait(30)
            consumers[partition] = pipeline.start("consumer.py", str(partition), **SMALL_BATCHES)
        if kill % 4 == 3:  # a reader mid-run: no row twice, none the source table lacks (it is read after)
            seen = multiset(snapshot_rows(pipeline))
            source = Counter((station, day, degrees) for _, station, day, degrees in pipeline.table_rows())
            assert not seen - source
        compactor = pipeline.start("compactor.py", **fast)
    assert generator.stop() == 0
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    wait_for(lambda: "folding" in compactor.stderr, 60, "the last compactor started")  # SIGTERM handled from then on
    assert compactor.stop() == 0, compactor.stderr
    compact_once(pipeline)
    assert multiset(table_part(pipeline)) == multiset(raw_view(pipeline))
    found = assert_layers_agree(pipeline)
    assert found.rows_expected == rows and len(set(versions)) > 1  # the table moved on between the kills
    for program in (*consumers.values(), producer):
        assert program.stop() == 0, program.stderr
    record_figures("random_compactor_kills", found, seed=seed, kills=COMPACTOR_KILLS, table_versions=versions[-1])
