"""The verifier on a real run, and on committed data broken on purpose: it must catch every kind."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from world import SRC, wait_for
from weather.common import batches, checkpoint
from weather.read import verify
from weather.common.config import Settings
from weather.common.storage import open_storage


def readings(days):
    return [(f"Station{s}", f"2002-01-{1 + d:02d}", d + i / 10) for d in range(days) for i, s in enumerate("ABCDEFGHIJ")]


def run_cli(pipeline, *args):
    return subprocess.run([sys.executable, "-m", "weather.verify", *args], cwd=SRC, env=pipeline.env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def committed_run(pipeline):
    """Rows produced and committed by the real programs, then stopped."""
    producer = pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    pipeline.insert(readings(28))
    consumers = [pipeline.start("consumer.py", str(p), CONSUMER_MAX_POLL_RECORDS="10") for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 280, 60, "every row in Kafka")
    cli = run_cli(pipeline, "--wait", "90")
    for program in (*consumers, producer):
        assert program.stop() == 0
    return pipeline, cli


def test_a_real_run_verifies_ok(committed_run):
    pipeline, cli = committed_run
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.splitlines()[-1] == ("verify: OK: 280 rows expected (ids 1..280), 280 found in "
                                           f"{cli.stdout.split(' found in ')[1].split()[0]} committed batches, "
                                           "0 missing, 0 duplicated, 0 unexpected, 0 coverage errors; "
                                           "0 duplicates in Kafka dropped by the consumers")
    found = verify.verify(Settings.from_env(env=pipeline.env), pipeline.engine)
    assert found.ok and (found.rows_expected, found.rows_found, found.last_row_id) == (280, 280, 280)


def biggest_partition(pipeline):
    return max(range(4), key=lambda p: checkpoint.load(str(pipeline.checkpoint_dir), p).batch_id)


def test_a_duplicated_batch_is_caught(committed_run):
    pipeline, _ = committed_run
    storage = open_storage(pipeline.data_url)
    partition = biggest_partition(pipeline)
    saved = checkpoint.load(str(pipeline.checkpoint_dir), partition)
    copied = batches.read_info(storage, partition, 1)
    storage.write(batches.batch_name(partition, saved.batch_id + 1), storage.read(batches.batch_name(partition, 1)))
    checkpoint.save(str(pipeline.checkpoint_dir), partition, checkpoint.Checkpoint(
        saved.batch_id + 1, saved.offset + copied.offsets.last - copied.offsets.first + 1))
    found = verify.verify(Settings.from_env(env=pipeline.env), pipeline.engine)
    rows = batches.read_batch(storage, partition, 1).num_rows
    assert (found.missing, found.duplicated, found.unexpected) == (0, rows, 0) and not found.ok
    assert any("overlap" in error for error in found.coverage_errors), found.coverage_errors
    cli = run_cli(pipeline)
    assert cli.returncode == 1 and cli.stdout.startswith("verify: FAILED:") and f"{rows} duplicated" in cli.stdout
    assert "coverage: " in cli.stderr


def test_a_missing_batch_is_caught(committed_run):
    pipeline, _ = committed_run
    storage = open_storage(pipeline.data_url)
    partition = biggest_partition(pipeline)
    rows = batches.read_batch(storage, partition, 1).num_rows
    storage.delete(batches.batch_name(partition, 1))
    found = verify.verify(Settings.from_env(env=pipeline.env), pipeline.engine)
    assert (found.missing, found.duplicated) == (rows, 0) and not found.ok
    assert f"partition {partition} batch 1: committed but missing or unreadable" in found.coverage_errors
    cli = run_cli(pipeline)
    assert cli.returncode == 1 and f"{rows} missing" in cli.stdout


def test_a_lost_batch_renumbered_away_is_a_gap(committed_run):
    pipeline, _ = committed_run
    storage = open_storage(pipeline.data_url)
    partition = biggest_partition(pipeline)
    saved = checkpoint.load(str(pipeline.checkpoint_dir), partition)
    for batch_id in range(1, saved.batch_id):  # batch 1 lost, the later ones shifted down: no file is missing
        storage.rename(batches.batch_name(partition, batch_id + 1), batches.batch_name(partition, batch_id))
    checkpoint.save(str(pipeline.checkpoint_dir), partition, checkpoint.Checkpoint(
        saved.batch_id - 1, saved.offset))
    found = verify.verify(Settings.from_env(env=pipeline.env), pipeline.engine)
    assert found.missing > 0 and any("gap" in error for error in found.coverage_errors)


def test_live_mode_passes_on_a_running_pipeline_and_catches_a_duplicated_batch(pipeline):
    pipeline.start("weather_generator.py")
    pipeline.start("producer.py")
    for partition in range(4):
        pipeline.start("consumer.py", str(partition), CONSUMER_MAX_POLL_RECORDS="10")
    wait_for(lambda: all(checkpoint.load(str(pipeline.checkpoint_dir), p) for p in range(4)), 60, "commits")
    live = run_cli(pipeline, "--live")  # the generator keeps inserting: a drained check could never pass
    assert live.returncode == 0 and live.stdout.startswith("verify: OK: live"), live.stdout + live.stderr
    assert " 0 missing, 0 duplicated" in live.stdout
    storage = open_storage(pipeline.data_url)
    pipeline.programs[3].stop()  # consumer 1, so its checkpoint stays put while we tamper with it
    saved = checkpoint.load(str(pipeline.checkpoint_dir), 1)
    copied = batches.read_info(storage, 1, 0)
    storage.write(batches.batch_name(1, saved.batch_id + 1), storage.read(batches.batch_name(1, 0)))
    checkpoint.save(str(pipeline.checkpoint_dir), 1, checkpoint.Checkpoint(
        saved.batch_id + 1, saved.offset + copied.offsets.last - copied.offsets.first + 1))
    caught = run_cli(pipeline, "--live")
    duplicated = int(re.search(r"(\d+) duplicated", caught.stdout)[1])  # ("10 duplicated" contains "0 duplicated")
    assert caught.returncode == 1 and duplicated > 0 and "overlap" in caught.stderr, caught.stdout + caught.stderr
