"""Helpers of the producer-side fault tests: seeds, out-of-order writers, server restarts, exactly-once checks."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy

from weather.common import report
from weather.common import records
from weather.read import verify
from weather.common.config import Settings
from world import ROOT, STATIONS, wait_until

INSERT = sqlalchemy.text("INSERT INTO temperatures (station_id, date, degrees) VALUES (:s, :d, :g)")


DEFAULT_SEED = 7


def fault_seed(name: str) -> random.Random:
    """A random source with a fixed seed, printed; FAULT_SEED sets another to explore (or replay) a run."""
    seed = int(os.environ.get("FAULT_SEED", DEFAULT_SEED))
    print(f"{name}: FAULT_SEED={seed}", flush=True)
    return random.Random(seed)


def filler(count: int, first_day: int = 0) -> list[tuple[str, str, float]]:
    """count distinct readings (station, date, degrees)."""
    return [(STATIONS[i % 10], f"{2001 + (first_day + i // 10) // 365}-01-01", float(first_day * 10 + i))
            for i in range(count)]


class SlowWriters:
    """Writers that commit out of id order: each inserts a row, holds its transaction open for a
    random time, then commits it (or, sometimes, rolls it back), in threads of the test process."""

    def __init__(self, engine, rng: random.Random, writers: int, hold_max: float, rollback_rate: float) -> None:
        self.engine, self.hold_max, self.rollback_rate = engine, hold_max, rollback_rate
        self.stopping = threading.Event()
        self.committed = 0
        self.rolled_back = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._write, args=(random.Random(rng.random()), n), daemon=True)
                        for n in range(writers)]

    def _write(self, rng: random.Random, writer: int) -> None:
        count = 0
        while not self.stopping.is_set():
            count += 1
            with self.engine.connect() as connection:
                connection.execute(INSERT, {"s": rng.choice(STATIONS), "d": f"2002-01-{1 + count % 28:02d}",
                                            "g": writer * 100_000 + count})
                time.sleep(rng.uniform(0, self.hold_max))
                undo = rng.random() < self.rollback_rate
                connection.rollback() if undo else connection.commit()
            with self.lock:
                self.rolled_back += undo
                self.committed += not undo

    def __enter__(self) -> "SlowWriters":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)


@dataclass
class KafkaVerdict:
    rows: int
    messages: int
    missing: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    unexpected: list[int] = field(default_factory=list)
    wrong: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.wrong)

    def line(self) -> str:
        return (f"table {self.rows} rows, Kafka {self.messages} messages: missing {len(self.missing)}, duplicated "
                f"{len(self.duplicated)}, unexpected {len(self.unexpected)}, wrong values {len(self.wrong)} "
                f"(first missing {self.missing[:5]}, duplicated {self.duplicated[:5]})")


def kafka_verdict(pipeline) -> KafkaVerdict:
    """Every row of the table in the topic exactly once, with its values, by the `row_id` header."""
    table = {id: (station, date, degrees) for id, station, date, degrees in pipeline.table_rows()}
    messages = pipeline.messages()
    ids = Counter(records.row_id(message.headers) for message in messages)
    verdict = KafkaVerdict(len(table), len(messages), sorted(set(table) - set(ids)),
                           sorted(id for id, count in ids.items() if count > 1), sorted(set(ids) - set(table)))
    for message in messages:
        reading = report.decode(message.value)
        id = records.row_id(message.headers)
        if id in table and (reading.station_id, reading.date, reading.degrees) != table[id]:
            verdict.wrong.append(id)
    return verdict


def all_in_kafka(pipeline, timeout: float) -> KafkaVerdict:
    """Wait until the topic holds as many messages as the table has rows, then judge it."""
    wait_until(lambda: sum(pipeline.end_offsets().values()) >= len(pipeline.table_rows()), timeout, 0.5)
    return kafka_verdict(pipeline)


def committed_verdict(pipeline, timeout: float) -> verify.Verdict:
    """The verifier's verdict on the committed data, once the consumers have caught up (or timeout passed)."""
    settings = Settings.from_env(env=pipeline.env)
    verify.wait_until_caught_up(settings, timeout)
    return verify.verify(settings, pipeline.engine)


def stack(command: str, server: str) -> None:
    subprocess.run([sys.executable, "-m", "stack", command, server], cwd=ROOT, check=True, capture_output=True,
                   timeout=180)


@contextmanager
def server_down(server: str, how: str = "kill"):
    """The server killed (SIGKILL) or stopped inside the block, and always started again after it."""
    stack(how, server)
    try:
        yield
    finally:
        stack("start", server)
