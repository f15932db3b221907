"""Producer-side faults on the real servers: rows committed out of id order, the producer killed and restarted."""
from __future__ import annotations

import time

import pytest

from producer_world import SlowWriters, all_in_kafka, committed_verdict, fault_seed, filler
from world import wait_for

pytestmark = pytest.mark.faults


def test_rows_committed_out_of_id_order_are_each_sent_once(pipeline):
    rng = fault_seed("out-of-order")
    control_topic = f"{pipeline.topic}-nograce"
    producer = pipeline.start("producer.py", PRODUCER_GAP_GRACE_SECONDS="3")
    # The same table without the grace period: what a producer that only asks for id > last_id loses.
    control = pipeline.start("producer.py", TOPIC=control_topic, PRODUCER_GAP_GRACE_SECONDS="0")
    try:
        wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
        with SlowWriters(pipeline.engine, rng, writers=6, hold_max=1.5, rollback_rate=0.1) as writers:
            # until the producer has given up waiting for a rolled-back id and 100 rows are committed
            wait_for(lambda: "did not appear within 3.0 s" in producer.stderr and writers.committed >= 100, 90,
                     "the producer to give up on a rolled-back id")
        verdict = all_in_kafka(pipeline, 30)
        print(f"out-of-order: {writers.committed} committed, {writers.rolled_back} rolled back; {verdict.line()}")
        assert verdict.ok, verdict.line()
        assert writers.rolled_back > 0 and "did not appear within 3.0 s" in producer.stderr
        assert producer.process.poll() is None

        pipeline.topic, kept = control_topic, pipeline.topic
        try:
            lost = all_in_kafka(pipeline, 5)
        finally:
            pipeline.topic = kept
        print(f"out-of-order, without the grace period: {lost.line()}")
        assert lost.missing, "the writers never committed out of order: the test proves nothing"
    finally:
        control.process.kill()
        admin = pipeline.admin()
        admin.delete_topics([control_topic], raise_errors=False)
        admin.close()


def test_a_killed_producer_restarted_by_default_rebuilds_the_topic_with_every_row_once(pipeline):
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 200, 60, "200 rows in Kafka")
    producer.process.kill()
    assert producer.wait() == -9
    restarted = pipeline.start("producer.py")
    wait_for(lambda: "created topic" in restarted.stderr, 60, "the topic recreated")
    time.sleep(2)
    assert generator.stop() == 0
    verdict = all_in_kafka(pipeline, 60)
    print(f"producer killed, default mode: {verdict.line()}")
    assert verdict.ok, verdict.line()
    assert restarted.stop() == 0


def test_a_producer_killed_at_random_moments_resumes_with_every_row_once(pipeline):
    rng = fault_seed("producer-kill-resume")
    pipeline.insert(filler(60_000))  # a backlog, so that kills land in the middle of pages
    generator = pipeline.start("weather_generator.py", AUTOGRADER_DELAY_OVERRIDE_VAL="0.002")
    consumers = [pipeline.start("consumer.py", str(p)) for p in range(4)]
    kills = 6
    for life in range(kills):
        producer = pipeline.start("producer.py", "--resume", PRODUCER_PAGE_SIZE="2000", PRODUCER_GAP_GRACE_SECONDS="1")
        wait_for(lambda: "rows sent" in producer.stderr, 60, "the producer sending")
        time.sleep(rng.uniform(0, 1.5))
        producer.process.kill()
        assert producer.wait() == -9
    last = pipeline.start("producer.py", PRODUCER_RESUME="1", PRODUCER_GAP_GRACE_SECONDS="1")
    time.sleep(3)
    assert generator.stop() == 0
    verdict = all_in_kafka(pipeline, 90)
    print(f"producer killed {kills} times, resume mode: {verdict.line()}")
    assert verdict.ok, verdict.line()
    found = committed_verdict(pipeline, 120)
    print(f"producer killed {kills} times, resume mode: {found.line()}")
    assert found.ok and found.rows_expected == verdict.rows, found.line()
    assert "resuming: the partitions' last row ids are" in last.stderr
    for program in (last, *consumers):
        assert program.stop() == 0, program.stderr
