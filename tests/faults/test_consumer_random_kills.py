"""Consumers SIGKILLed from outside at random moments while the generator and the producer run.

The seed is fixed and printed (FAULT_SEED overrides it): a failing run can be replayed.
"""
from __future__ import annotations

import signal
import time

import pytest

from consumer_world import assert_verified, record_figures, seeded, wait_caught_up
from world import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.slow]
KILLS = 24
SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "20"}  # many commits per second: kills land inside them


def test_consumers_killed_at_random_moments_commit_every_row_exactly_once(pipeline):
    seed, rng = seeded("random consumer kills")
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    consumers = {p: pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)}
    wait_for(lambda: len(pipeline.table_rows()) >= 100, 60, "the first rows")
    restarts = []
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.2, 2.5))  # sometimes mid-commit, sometimes still starting up
        partition = rng.randrange(4)
        victim = consumers[partition]
        assert victim.process.poll() is None, f"{victim.name} exited by itself:\n{victim.stderr}"
        victim.process.send_signal(signal.SIGKILL)
        victim.wait(30)
        consumers[partition] = pipeline.start("consumer.py", str(partition), **SMALL_BATCHES)
        restarts.append(consumers[partition])
    assert generator.stop() == 0
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    assert found.rows_expected == rows
    stale_removed = sum(program.stderr.count("removed stale") for program in restarts)
    for program in (*consumers.values(), producer):
        assert program.stop() == 0, program.stderr
    record_figures("random_kills", found, seed=seed, kills=KILLS, temp_files_left_by_kills=stale_removed)
    print(found.line(), f"after {KILLS} kills, seed {seed}; {stale_removed} stale temp files removed on restart")
