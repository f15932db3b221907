"""The exactly-once check: the committed data against the source table and the topic.

    python -m weather.verify [--wait SECONDS]      (from src/, or with PYTHONPATH=src)

Passes when
- every row of `temperatures` with id <= the producer's last sent id (the highest `row_id` header
  at the tail of the topic's partitions) is in the committed data exactly once, with the same
  station, date and degrees, compared as multisets (a restarted generator legitimately repeats a
  day), and no committed row is one the table does not have;
- per partition, the committed batches 0..batch_id tile Kafka offsets 0..offset-1 with no gap and
  no overlap, each batch's rows plus its dead letters fill its offset range, its dead-letter file
  holds those letters, and the checkpoint and batches belong to the topic's current incarnation.

Run it once the consumers have caught up (every checkpoint's offset at its partition's log end):
rows sent but not yet committed count as missing. `--wait SECONDS` first waits for that. It prints
one line of counts and exits 1 on any difference.
"""
from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from . import batches, checkpoint, committed, deadletter, incarnation, resume, source
from .batches import BatchInfo
from .checkpoint import Checkpoint, CorruptCheckpoint
from .config import Settings
from .program import FatalError, run, seconds_option
from .storage import Storage, open_storage

Row = tuple  # (station_id, date "YYYY-MM-DD", degrees)
EXPECTED_QUERY = text("SELECT station_id, date, degrees FROM temperatures WHERE id <= :last_id")


@dataclass
class Verdict:
    rows_expected: int
    rows_found: int
    missing: int  # expected rows not committed (counting repeats)
    duplicated: int  # committed copies beyond the table's count of a row
    unexpected: int  # committed rows the table does not have at all
    coverage_errors: list[str] = field(default_factory=list)
    last_row_id: int = 0
    batches: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.coverage_errors)

    def line(self) -> str:
        return (f"verify: {'OK' if self.ok else 'FAILED'}: {self.rows_expected} rows expected (ids 1..{self.last_row_id}), "
                f"{self.rows_found} found in {self.batches} committed batches, {self.missing} missing, "
                f"{self.duplicated} duplicated, {self.unexpected} unexpected, "
                f"{len(self.coverage_errors)} coverage errors")


def compare(expected: Iterable[Row], found: Iterable[Row], coverage_errors: Iterable[str] = ()) -> Verdict:
    """The verdict on committed rows `found` against the table's rows `expected`, as multisets."""
    want, have = Counter(expected), Counter(found)
    extra = have - want
    return Verdict(rows_expected=sum(want.values()), rows_found=sum(have.values()),
                   missing=sum((want - have).values()),
                   duplicated=sum(count for row, count in extra.items() if row in want),
                   unexpected=sum(count for row, count in extra.items() if row not in want),
                   coverage_errors=list(coverage_errors))


@dataclass(frozen=True)
class BatchFacts:
    """What one committed batch's files say; info None when the Parquet file is missing or unreadable."""
    batch_id: int
    info: BatchInfo | None
    rows: int
    dead_letter_offsets: list[int] | None = None  # from the dead-letter file; None when there is none


def coverage_errors(partition: int, saved: Checkpoint | None, facts: list[BatchFacts], topic_id: str,
                    log_end: int) -> list[str]:
    """How the partition's committed batches fail to tile offsets 0..checkpoint.offset-1 exactly once."""
    if saved is None:
        return []
    name = f"partition {partition}"
    errors = []
    if saved.topic_id is not None and saved.topic_id != topic_id:
        errors.append(f"{name}: the checkpoint is for topic id {saved.topic_id}, the topic is {topic_id}")
    if saved.offset > log_end:
        errors.append(f"{name}: the checkpoint's offset {saved.offset} is beyond the log end {log_end}")
    next_first = 0
    for fact in facts:
        batch = f"{name} batch {fact.batch_id}"
        if fact.info is None:
            errors.append(f"{batch}: committed but missing or unreadable")
            continue
        first, last = fact.info.offsets.first, fact.info.offsets.last
        if first > next_first:
            errors.append(f"{batch}: gap, offsets {next_first}..{first - 1} are in no batch")
        elif first < next_first:
            errors.append(f"{batch}: overlap, offsets {first}..{min(last, next_first - 1)} are in an earlier batch too")
        if fact.rows + fact.info.dead_letters != last - first + 1:
            errors.append(f"{batch}: {fact.rows} rows and {fact.info.dead_letters} dead letters "
                          f"for {last - first + 1} offsets {first}..{last}")
        if fact.info.topic_id is not None and fact.info.topic_id != topic_id:
            errors.append(f"{batch}: written from topic id {fact.info.topic_id}, the topic is {topic_id}")
        letters = fact.dead_letter_offsets or []
        if fact.info.dead_letters and (len(letters) != fact.info.dead_letters
                                       or not all(first <= offset <= last for offset in letters)):
            errors.append(f"{batch}: {fact.info.dead_letters} dead letters counted, the dead-letter file holds "
                          f"offsets {letters if fact.dead_letter_offsets is not None else 'none (missing)'}")
        next_first = max(next_first, last + 1)
    if next_first != saved.offset:
        errors.append(f"{name}: the batches end at offset {next_first - 1}, the checkpoint says {saved.offset - 1}")
    return errors


def committed_partition(storage: Storage, dead_storage: Storage, checkpoint_dir: str,
                        partition: int) -> tuple[Checkpoint | None, list[BatchFacts], list[Row]]:
    """The partition's checkpoint, the facts of its committed batches and their rows."""
    saved = checkpoint.load(checkpoint_dir, partition)
    facts, rows = [], []
    for batch_id in committed.committed_batch_ids(checkpoint_dir, partition):
        try:
            table, info = batches.read_batch_and_info(storage, partition, batch_id)
        except (FileNotFoundError, ValueError):
            facts.append(BatchFacts(batch_id, None, 0))
            continue
        letters = None
        if info.dead_letters:
            try:
                letters = [letter.offset for letter in deadletter.read(dead_storage, partition, batch_id)]
            except FileNotFoundError:
                pass
        facts.append(BatchFacts(batch_id, info, table.num_rows, letters))
        rows.extend(zip(table["station_id"].to_pylist(), table["date"].to_pylist(), table["degrees"].to_pylist()))
    return saved, facts, rows


def expected_rows(engine: Engine, last_id: int) -> list[Row]:
    with engine.connect() as connection:
        return [(station, str(date), float(degrees))
                for station, date, degrees in connection.execute(EXPECTED_QUERY, {"last_id": last_id})]


def topic_state(settings: Settings) -> tuple[str, dict[int, int], int]:
    """The topic's id, each partition's log end offset, and the producer's last sent row id."""
    consumer = KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False)
    admin = KafkaAdminClient(**settings.kafka_options())
    try:
        topic_id = incarnation.current_topic_id(admin, settings.topic)
        partitions = [TopicPartition(settings.topic, p) for p in range(settings.partitions)]
        ends = {tp.partition: end for tp, end in consumer.end_offsets(partitions).items()}
        last_id = max(resume.read_tails(consumer, settings.topic).values(), default=0)
        return topic_id, ends, last_id
    finally:
        consumer.close()
        admin.close()


def verify(settings: Settings, engine: Engine | None = None) -> Verdict:
    """Compare the committed data with the table and the topic (see the module's docstring)."""
    topic_id, ends, last_id = topic_state(settings)
    storage = open_storage(settings.data_url)
    dead_storage = open_storage(deadletter.folder_url(settings.data_url))
    errors, found, batch_count = [], [], 0
    for partition in range(settings.partitions):
        try:
            saved, facts, rows = committed_partition(storage, dead_storage, settings.checkpoint_dir, partition)
        except CorruptCheckpoint as error:
            errors.append(f"partition {partition}: {error}")
            continue
        errors.extend(coverage_errors(partition, saved, facts, topic_id, ends.get(partition, 0)))
        found.extend(rows)
        batch_count += len(facts)
    own_engine = engine is None
    engine = engine or source.connect(settings.db_url)
    try:
        verdict = compare(expected_rows(engine, last_id), found, errors)
    finally:
        if own_engine:
            engine.dispose()
    verdict.last_row_id, verdict.batches = last_id, batch_count
    return verdict


def caught_up(settings: Settings) -> bool:
    """Every partition's checkpoint offset equals its log end offset (an empty partition needs none)."""
    consumer = KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False)
    try:
        partitions = [TopicPartition(settings.topic, p) for p in range(settings.partitions)]
        ends = consumer.end_offsets(partitions)
    finally:
        consumer.close()
    for tp, end in ends.items():
        try:
            saved = checkpoint.load(settings.checkpoint_dir, tp.partition)
        except CorruptCheckpoint:
            return False
        if (saved.offset if saved else 0) != end:
            return False
    return True


def wait_until_caught_up(settings: Settings, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not caught_up(settings):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def main() -> None:
    wait = seconds_option(sys.argv[1:], "--wait")
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)  # its plugin chatter would bury the verdict
    settings = Settings.from_env()
    try:
        if wait is not None and not wait_until_caught_up(settings, wait):
            print(f"verify: the consumers did not catch up within {wait:g} s; verifying what is committed",
                  file=sys.stderr)
        verdict = verify(settings)
    except (KafkaError, incarnation.TopicGone, SQLAlchemyError, OSError, RuntimeError) as error:
        raise FatalError(f"cannot verify ({type(error).__name__}: {error}); are Kafka, HDFS and the database "
                         f"running, and the variables right?") from None
    for error in verdict.coverage_errors:
        print(f"coverage: {error}", file=sys.stderr)
    print(verdict.line(), flush=True)
    if not verdict.ok:
        sys.exit(1)


if __name__ == "__main__":
    run(main, "python -m weather.verify [--wait SECONDS]")
