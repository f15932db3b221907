"""The consumer SIGKILLed at each named step of its commit protocol, then restarted: exactly once.

CONSUMER_CRASH_AT=<step>:<batch> makes the consumer kill itself at that step (weather/consume/writer.py);
every partition also holds messages that are not Reports, so the dead-letter step is reached too.
"""
from __future__ import annotations

import pytest

from consumer_world import assert_verified, record_figures, readings, send_garbage, start_topic, verdict, \
    wait_caught_up
from weather.common import batches, checkpoint
from weather.consume.writer import COMMIT, State
from weather.common.storage import open_storage
from world import wait_for

pytestmark = pytest.mark.faults
CRASH_BATCH = 2  # batches 0 and 1 are committed first, so the crash lands in the middle of the partition
SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "10"}


@pytest.mark.parametrize("step", list(COMMIT), ids=[state.value for state in COMMIT])
def test_a_consumer_killed_at_each_step_restarts_into_exactly_once(pipeline, step):
    producer = start_topic(pipeline)
    garbage = {p: send_garbage(pipeline, p) for p in range(4)}  # offsets 0..2 of every partition: batch 0
    pipeline.insert(readings(0, 40))
    wait_for(lambda: sum(pipeline.end_offsets().values()) == 412, 60, "every row and the garbage in Kafka")
    crash_at = f"{step.value}:0" if step is State.DEAD_LETTERED else f"{step.value}:{CRASH_BATCH}"
    crashing = [pipeline.start("consumer.py", str(p), CONSUMER_CRASH_AT=crash_at, **SMALL_BATCHES) for p in range(4)]
    for program in crashing:
        assert program.wait(90) == -9, f"{program.name} did not crash at {crash_at}:\n{program.stderr}"

    crashed_batch = 0 if step is State.DEAD_LETTERED else CRASH_BATCH
    storage = open_storage(pipeline.data_url)
    temps_left = {}
    for p in range(4):
        saved = checkpoint.load(str(pipeline.checkpoint_dir), p)
        committed = crashed_batch if step is State.CHECKPOINTED else crashed_batch - 1
        assert (saved.batch_id if saved else -1) == committed
        batch_temps = [f"{pipeline.data_url}/{name}" for name in batches.temp_files(storage, p)]
        checkpoint_temps = checkpoint.temp_files(str(pipeline.checkpoint_dir), p)
        if step in (State.WRITING_TEMP, State.TEMP_WRITTEN):  # (other steps may leave copies of a stalled close)
            assert batch_temps, storage.names()
        assert len(checkpoint_temps) == (step is State.WRITING_CHECKPOINT), checkpoint_temps
        temps_left[p] = batch_temps + checkpoint_temps
    midway = verdict(pipeline)  # what a reader sees right after the crashes: less, never more or mixed
    assert midway.duplicated == midway.unexpected == 0 and not midway.coverage_errors, midway.coverage_errors

    restarted = [pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)]
    wait_caught_up(pipeline)
    for p, program in enumerate(restarted):
        assert program.process.poll() is None, program.stderr
        for temp in temps_left[p]:
            assert f"removed stale {temp}" in program.stderr
    found = assert_verified(pipeline)
    assert found.rows_expected == 400
    for program in (*restarted, producer):
        assert program.stop() == 0
    record_figures(f"crash_at_{step.value}", found, kills=4, dead_letters=sum(map(len, garbage.values())))
