"""The same program started twice, as a killed `docker exec` client leaves it: the newest wins, data stays exactly once.

The seed is fixed and printed (FAULT_SEED overrides it): a failing run can be replayed.
"""
from __future__ import annotations

import ast
import re
import time

import pytest
from kafka import KafkaProducer

from consumer_world import assert_verified, record_figures, seeded, wait_caught_up
from world import wait_for

pytestmark = pytest.mark.faults
TAKE_OVERS = 20
SMALL_BATCHES = {"CONSUMER_MAX_POLL_RECORDS": "20"}  # many commits per second: a take-over lands inside them


def took_over_from(program) -> int | None:
    found = re.search(r"took over partition \d+ from pid (\d+)", program.stderr)
    return int(found[1]) if found else None


def test_a_second_consumer_of_a_partition_takes_over_and_the_data_stays_exactly_once(pipeline):
    seed, rng = seeded("consumer take-overs")
    pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    consumers = {p: pipeline.start("consumer.py", str(p), **SMALL_BATCHES) for p in range(4)}
    wait_for(lambda: len(pipeline.table_rows()) >= 100, 60, "the first rows")
    for round_ in range(TAKE_OVERS):
        partition = rng.randrange(4)
        time.sleep(rng.uniform(0.5, 3.0))  # the old one is committing, polling, or still starting
        old = consumers[partition]
        assert old.process.poll() is None, f"{old.name} exited by itself:\n{old.stderr}"
        new = pipeline.start("consumer.py", str(partition), **SMALL_BATCHES)
        wait_for(lambda: took_over_from(new) or new.process.poll() is not None, 60, f"round {round_}: the take-over")
        # The lock passes only when its holder is gone: never two writers of the partition at once.
        assert took_over_from(new) == old.process.pid, new.stderr
        assert old.process.wait(timeout=2) == 0, old.stderr  # asked with SIGTERM, it stopped between steps
        consumers[partition] = new
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows * 0.9, 60, "rows in Kafka")
    assert pipeline.programs[0].stop() == 0  # the generator
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    assert found.rows_expected == rows
    for program in (*consumers.values(), producer):
        assert program.stop() == 0, program.stderr
    record_figures("consumer_take_overs", found, seed=seed, take_overs=TAKE_OVERS)
    print(found.line(), f"after {TAKE_OVERS} take-overs, seed {seed}")


@pytest.mark.parametrize("mode", [[], ["--resume"]])
def test_a_second_producer_takes_over_and_the_newest_topic_holds_each_row_once(pipeline, mode):
    pipeline.start("weather_generator.py")
    first = pipeline.start("producer.py", *mode)
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 200, 60, "the first producer's rows")
    second = pipeline.start("producer.py", *mode)  # the first is left running, as a killed docker exec leaves it
    wait_for(lambda: f"took over producing topic {pipeline.topic} from pid {first.process.pid}" in second.stderr,
             60, "the take-over")
    assert first.process.wait(timeout=2) == 0, first.stderr
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 400, 60, "the second producer's rows")
    assert pipeline.programs[0].stop() == 0  # the generator
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in the newest topic")
    row_ids = [int(dict(m.headers)["row_id"]) for m in pipeline.messages()]
    assert sorted(row_ids) == list(range(1, rows + 1)), "the topic's newest incarnation holds each row once"
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    for program in (*consumers, second):
        assert program.stop() == 0, program.stderr
    record_figures(f"producer_take_over{'_resume' if mode else ''}", found)


def printed_partitions(debug) -> set[int]:
    return {ast.literal_eval(line)["partition"] for line in debug.stdout.splitlines()}


def test_a_second_debug_of_a_group_takes_over_and_prints_every_partition(pipeline):
    pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    first = pipeline.start("debug.py")
    wait_for(lambda: first.stdout.strip(), 60, "the first debug.py printing")
    second = pipeline.start("debug.py")  # the first is left running, as a killed docker exec client leaves it
    assert first.process.wait(timeout=30) == 0, first.stderr  # asked with SIGTERM, it stopped before any SIGKILL
    wait_for(lambda: printed_partitions(second) == {0, 1, 2, 3}, 60, "the second debug.py printing every partition")
    for program in (second, producer):
        assert program.stop() == 0, program.stderr
    for debug in (first, second):  # the specification's lines only: a dict per line on stdout, stderr silent
        assert all(list(ast.literal_eval(line)) == ["station_id", "date", "degrees", "partition"]
                   for line in debug.stdout.splitlines())
        assert debug.stderr == ""


def test_duplicates_in_kafka_are_dropped_by_the_consumers_and_counted(pipeline):
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 300, 60, "the first rows")
    assert generator.stop() == 0
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    sent = pipeline.messages()
    by_partition = {p: [record for record in sent if record.partition == p] for p in range(4)}
    copies = [record for records in by_partition.values() for record in records[:10] + records[-10:]]  # old and newest
    raw = KafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    try:
        for record in copies:  # the same key, value and row_id header: where its station's records go
            raw.send(pipeline.topic, key=record.key, value=record.value, headers=record.headers)
        for record in by_partition[0][:20]:  # and old rows into another partition than their own
            raw.send(pipeline.topic, key=record.key, value=record.value, headers=record.headers,
                     partition=(record.partition + 1) % 4)
        raw.flush()
    finally:
        raw.close()
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows + len(copies) + 20, 60, "every copy in Kafka")
    wait_caught_up(pipeline)
    found = assert_verified(pipeline)
    assert found.duplicated == 0 and found.kafka_duplicates == len(copies) + 20
    for program in (*consumers, producer):
        assert program.stop() == 0, program.stderr
    record_figures("duplicates_in_kafka", found, injected=len(copies) + 20, dropped=found.kafka_duplicates)
