"""Servers killed or stopped, then started again, while the generator, the producer and the consumers run.

These disturb every other test on the shared servers, so they are few, short, marked slow (only
`make faults` runs them), and always start the server again.
"""
from __future__ import annotations

import time

import pytest

from producer_world import all_in_kafka, committed_verdict, server_down
from world import wait_for, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]


def said_retrying(programs, name: str) -> bool:
    logs = "".join(p.stderr for p in programs if p.name.startswith(name))
    return "; retrying" in logs or "not acknowledged" in logs


@pytest.mark.parametrize("server, how, producer_args, who_retries", [
    ("kafka", "kill", [], ["producer"]),
    ("kafka", "kill", ["--resume"], ["producer"]),
    ("datanode-2", "kill", [], ["consumer"]),  # one of three: replicas elsewhere, new writes fail until it is back
    ("namenode", "stop", [], ["consumer"]),
    ("mariadb", "stop", [], ["weather_generator", "producer"]),
])
def test_every_program_rides_out_a_server_restart(pipeline, server, how, producer_args, who_retries):
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py", *producer_args)
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    programs = [generator, producer, *consumers]
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 300, 60, "300 rows in Kafka")
    began = time.monotonic()
    with server_down(server, how):  # until each program that needs it has said it is retrying (15 s at most)
        wait_until(lambda: all(said_retrying(programs, name) for name in who_retries), 15)
    outage = time.monotonic() - began
    before = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= before + 300, 120, "the pipeline moving again")
    assert all(program.process.poll() is None for program in programs), \
        "\n".join(f"{p.name} exited {p.process.poll()}:\n{p.stderr[-2000:]}" for p in programs if p.process.poll())
    assert generator.stop() == 0
    in_kafka = all_in_kafka(pipeline, 60)
    found = committed_verdict(pipeline, 120)
    mode = " ".join(producer_args) or "default mode"
    print(f"{server} ({how}, producer in {mode}) back after {outage:.0f} s: {in_kafka.line()}; {found.line()}")
    assert in_kafka.ok, in_kafka.line()
    assert found.ok and found.rows_expected == in_kafka.rows, found.line()
    for name in who_retries:
        assert said_retrying(programs, name), f"no {name} said it was retrying:\n" + \
            "".join(p.stderr for p in programs if p.name.startswith(name))[-3000:]
    for program in programs[1:]:
        assert program.stop() == 0, program.stderr[-3000:]
