"""Helpers of the consumer-side fault tests: the verifier on a test's world, seeds, figures, garbage."""
from __future__ import annotations

import json
import os
import random
import time
from datetime import date, timedelta

from kafka import KafkaProducer

from weather.common import report
from weather.read import verify
from weather.common.config import Settings
from readback import ReadBackWatcher
from world import ROOT, STATIONS, wait_for

FIGURES = ROOT / "tests" / "artifacts" / "consumer-faults.json"
DEFAULT_SEED = 544


def settings(pipeline) -> Settings:
    return Settings.from_env(env=pipeline.env)


def verdict(pipeline) -> verify.Verdict:
    return verify.verify(settings(pipeline), pipeline.engine)


def wait_caught_up(pipeline, timeout: float = 120) -> None:
    """Every message of the topic committed: the verifier's precondition."""
    wait_for(lambda: verify.caught_up(settings(pipeline)), timeout, "every partition's checkpoint at its log end", 0.5)


def assert_verified(pipeline) -> verify.Verdict:
    found = verdict(pipeline)
    assert found.ok and found.rows_expected > 0, f"{found.line()}\n" + "\n".join(found.coverage_errors)
    return found


def seeded(name: str) -> tuple[int, random.Random]:
    """A fixed seed, printed; FAULT_SEED overrides it to explore (or replay) another run."""
    seed = int(os.environ.get("FAULT_SEED", DEFAULT_SEED))
    print(f"{name}: FAULT_SEED={seed}", flush=True)
    return seed, random.Random(seed)


def record_figures(test: str, found: verify.Verdict | None, **figures) -> None:
    """Add this test's figures to tests/artifacts/consumer-faults.json (docs/RELIABILITY.md quotes them);
    found is None for a test that measures without a pipeline to verify."""
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    known = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    verdict = {} if found is None else {
        "rows_checked": found.rows_expected, "rows_found": found.rows_found, "missing": found.missing,
        "duplicated": found.duplicated, "unexpected": found.unexpected,
        "coverage_errors": len(found.coverage_errors), "batches": found.batches, "verdict": found.line()}
    known[test] = {**verdict, "at": time.strftime("%Y-%m-%d %H:%M:%S"), **figures}
    temp = FIGURES.with_suffix(".tmp")
    temp.write_text(json.dumps(known, indent=2, sort_keys=True))
    temp.replace(FIGURES)


def readings(first_day: int, days: int) -> list[tuple[str, str, float]]:
    """days of readings for every station from day first_day of 2001, all distinct."""
    return [(station, str(date(2001, 1, 1) + timedelta(days=first_day + day)), round(first_day + day + index / 10, 1))
            for day in range(days) for index, station in enumerate(STATIONS)]


GARBAGE = [b"\xff\xfe garbage \x00", report.encode("StationA", "2001-01-01", 12.5)[:-4], b""]


def send_garbage(pipeline, partition: int, values=GARBAGE) -> list[int]:
    """Send values that are not Reports straight to a partition of the test topic; their offsets."""
    producer = KafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all")
    try:
        return [producer.send(pipeline.topic, value=value, key=b"garbage", partition=partition).get(timeout=30).offset
                for value in values]
    finally:
        producer.close()


def start_topic(pipeline):
    """The producer, once it has created the test topic."""
    producer = pipeline.start("producer.py")
    wait_for(lambda: pipeline.partitions() == [0, 1, 2, 3], 60, "the topic")
    return producer


def start_pipeline(pipeline, max_records: str = "50"):
    """Generator, producer, four consumers (several commits a second each) and a ReadBackWatcher."""
    generator = pipeline.start("weather_generator.py")
    producer = pipeline.start("producer.py")
    consumers = [pipeline.start("consumer.py", str(p), CONSUMER_MAX_POLL_RECORDS=max_records) for p in range(4)]
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= 200, 60, "200 rows in Kafka")
    watcher = ReadBackWatcher(pipeline.data_url, str(pipeline.checkpoint_dir))
    watcher.start()
    return generator, producer, consumers, watcher


def finish(pipeline, generator, producer, consumers, watcher):
    """Stop the generator, wait until all is committed; verifier and read-back clean; (verdict, read-back)."""
    assert generator.stop() == 0
    rows = len(pipeline.table_rows())
    wait_for(lambda: sum(pipeline.end_offsets().values()) >= rows, 60, "every row in Kafka")
    wait_caught_up(pipeline)
    read_back = watcher.stop()
    found = assert_verified(pipeline)
    assert found.rows_expected == rows
    assert not read_back.problems, "\n".join(read_back.problems[:20])
    assert read_back.rows == rows, f"{read_back.rows} rows read back, {rows} in the table"
    for program in (*consumers, producer):
        assert program.stop() == 0, program.stderr[-3000:]
    return found, read_back
