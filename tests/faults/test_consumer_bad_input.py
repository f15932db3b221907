"""Messages that are not Reports: dead-lettered with partition and offset, counted, logged once; no crash."""
from __future__ import annotations

import ast

import pytest

from consumer_world import GARBAGE, assert_verified, record_figures, readings, send_garbage, settings, \
    start_topic, wait_caught_up
from weather.common import batches, checkpoint, deadletter
from weather.common.storage import open_storage
from world import wait_for

pytestmark = pytest.mark.faults


def test_garbage_goes_to_the_dead_letter_file_and_debug_marks_it(pipeline):
    producer = start_topic(pipeline)
    debug = pipeline.start("debug.py")
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    days = 0

    def another_day():  # a new group starts at the end: feed rows until debug.py has joined and prints
        nonlocal days
        pipeline.insert(readings(days, 1))
        days += 1
        return debug.stdout.strip()

    wait_for(another_day, 60, "debug.py printing rows", interval=0.5)
    bad = {p: send_garbage(pipeline, p) for p in (1, 2)}
    pipeline.insert(readings(days, 5))
    rows = (days + 5) * 10
    wait_for(lambda: sum(pipeline.end_offsets().values()) == rows + 6, 60, "rows and garbage in Kafka")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)  # rows + dead letters fill every batch's offsets exactly
    assert found.rows_expected == rows

    dead_storage = open_storage(settings(pipeline).deadletter_url)
    storage = open_storage(pipeline.data_url)
    for partition, offsets in bad.items():
        letters = []
        for batch_id in range(checkpoint.load(str(pipeline.checkpoint_dir), partition).batch_id + 1):
            if batches.read_info(storage, partition, batch_id).dead_letters:
                letters += deadletter.read(dead_storage, partition, batch_id)
        assert [(letter.partition, letter.offset) for letter in letters] == [(partition, o) for o in offsets]
        assert all(letter.error.startswith("not a Report") for letter in letters)
        log = consumers[partition].stderr
        for offset in offsets:
            assert log.count(f"partition {partition} offset {offset}: not a Report") == 1, log
        assert consumers[partition].process.poll() is None
    wait_for(lambda: sum(line.startswith("#") for line in debug.stderr.splitlines()) == 6, 30, "debug's markers")
    lines = debug.stdout.splitlines()
    markers = [line for line in debug.stderr.splitlines() if line.startswith("#")]  # on stderr: stdout is dicts only
    for partition, offsets in bad.items():
        for offset in offsets:
            assert sum(m.startswith(f"# partition {partition} offset {offset}: not a Report") for m in markers) == 1
    assert lines and all(isinstance(ast.literal_eval(line), dict) for line in lines)
    assert "Traceback" not in debug.stderr
    for program in (debug, *consumers, producer):
        assert program.stop() == 0, program.stderr
    record_figures("bad_input", found, dead_letters=sum(map(len, bad.values())), garbage_kinds=len(GARBAGE))
