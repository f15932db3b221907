"""The exactly-once check: the committed data against the source table and the topic
(run as `python -m weather.verify`, src/weather/verify.py).

Passes when
- every row of `temperatures` with id <= the producer's last sent id (the highest `row_id` header
  at the tail of the topic's partitions) is in the committed data exactly once, with the same
  station, date and degrees, compared as multisets (a restarted generator legitimately repeats a
  day), and no committed row is one the table does not have;
- per partition, the committed batches 0..batch_id tile Kafka offsets 0..offset-1 with no gap and
  no overlap, each batch's rows plus its dead letters plus the duplicates its consumer dropped fill
  its offset range, its dead-letter file holds those letters, and the batches belong to the topic's
  current incarnation.
Duplicates are counted twice over, apart: records Kafka holds twice (dropped by the consumers,
from the batches' metadata: expected after a resend, harmless) and rows committed twice (a
failure of the guarantee).

Run it once the consumers have caught up (every checkpoint's offset at its partition's log end):
rows sent but not yet committed count as missing. `--wait SECONDS` first waits for that. `--live`
checks a running pipeline instead: nothing committed is duplicated or foreign, and no committed
offset range has a gap; rows not committed yet are not counted as missing. It prints one line of
counts and exits 1 on any difference.
"""
from __future__ import annotations

import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from weather.common import batches, checkpoint, database, deadletter, incarnation
from weather.read import snapshot
from weather.common import records
from weather.common.batches import BatchInfo
from weather.common.checkpoint import Checkpoint, CorruptCheckpoint
from weather.common.config import Settings
from weather.common.storage import Storage, open_storage
from weather.common.table import TableVersion
from weather.common.waiting import wait_until

Row = tuple  # (station_id, date "YYYY-MM-DD", degrees)
EXPECTED_QUERY = text("SELECT station_id, date, degrees FROM temperatures WHERE id <= :last_id")
ALL_ROWS_QUERY = text("SELECT station_id, date, degrees FROM temperatures")


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
    kafka_duplicates: int = 0  # records Kafka holds twice, dropped by the consumers (not an error)
    live: bool = False  # a running pipeline: missing rows are not counted

    @property
    def ok(self) -> bool:
        return not (self.missing or self.duplicated or self.unexpected or self.coverage_errors)

    def line(self) -> str:
        expected = ("live: missing rows not checked" if self.live
                    else f"{self.rows_expected} rows expected (ids 1..{self.last_row_id})")
        return (f"verify: {'OK' if self.ok else 'FAILED'}: {expected}, {self.rows_found} found in {self.batches} "
                f"committed batches, {self.missing} missing, {self.duplicated} duplicated, {self.unexpected} "
                f"unexpected, {len(self.coverage_errors)} coverage errors; {self.kafka_duplicates} duplicates in "
                f"Kafka dropped by the consumers")


def compare(expected: Iterable[Row], found: Iterable[Row], coverage_errors: Iterable[str] = (),
            live: bool = False) -> Verdict:
    """The verdict on committed rows `found` against the table's rows `expected`, as multisets.

    live: `expected` is the whole table while rows are still on their way, so none counts as missing.
    """
    want, have = Counter(expected), Counter(found)
    extra = have - want
    return Verdict(rows_expected=sum(want.values()), rows_found=sum(have.values()),
                   missing=0 if live else sum((want - have).values()), live=live,
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
                    log_end: int, first_offset: int = 0) -> list[str]:
    """How the partition's committed raw batches fail to tile offsets first_offset..checkpoint.offset-1 exactly
    once (first_offset: where the table's part ends, weather/read/snapshot.py)."""
    if saved is None:
        return []
    name = f"partition {partition}"
    errors = []
    if saved.offset > log_end:
        errors.append(f"{name}: the checkpoint's offset {saved.offset} is beyond the log end {log_end}")
    next_first = first_offset
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
        if fact.rows + fact.info.dead_letters + fact.info.duplicates != last - first + 1:
            errors.append(f"{batch}: {fact.rows} rows, {fact.info.dead_letters} dead letters and "
                          f"{fact.info.duplicates} dropped duplicates for {last - first + 1} offsets {first}..{last}")
        if fact.info.topic_id != topic_id:
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


def committed_partition(storage: Storage, dead_storage: Storage, checkpoint_dir: str, version: TableVersion,
                        partition: int) -> tuple[snapshot.PartitionView, list[BatchFacts], list[Row]]:
    """The partition as readers see it (table part and raw tail), the facts of its raw batches, and every row."""
    view = snapshot.read_partition(storage, checkpoint_dir, version, partition, check_tiling=False)
    facts = []
    table_rows = view.table_rows
    rows = list(zip(table_rows["station_id"].to_pylist(), table_rows["date"].to_pylist(),
                    table_rows["degrees"].to_pylist()))
    for batch in view.raw:
        if batch.info is None:
            facts.append(BatchFacts(batch.batch_id, None, 0))
            continue
        letters = None
        if batch.info.dead_letters:
            try:
                letters = [letter.offset for letter in deadletter.read(dead_storage, partition, batch.batch_id)]
            except FileNotFoundError:
                pass
        facts.append(BatchFacts(batch.batch_id, batch.info, batch.table.num_rows, letters))
        table = batch.table
        rows.extend(zip(table["station_id"].to_pylist(), table["date"].to_pylist(), table["degrees"].to_pylist()))
    return view, facts, rows


def expected_rows(engine: Engine, last_id: int | None) -> list[Row]:
    """The table's rows with id <= last_id; all of them when last_id is None."""
    query, parameters = (ALL_ROWS_QUERY, {}) if last_id is None else (EXPECTED_QUERY, {"last_id": last_id})
    with engine.connect() as connection:
        return [(station, str(date), float(degrees)) for station, date, degrees in connection.execute(query, parameters)]


def topic_state(settings: Settings) -> tuple[str, dict[int, int], int]:
    """The topic's id, each partition's log end offset, and the producer's last sent row id."""
    consumer = KafkaConsumer(**settings.kafka_options(), enable_auto_commit=False)
    admin = KafkaAdminClient(**settings.kafka_options())
    try:
        topic_id = incarnation.current_topic_id(admin, settings.topic)
        partitions = [TopicPartition(settings.topic, p) for p in range(settings.partitions)]
        ends = {tp.partition: end for tp, end in consumer.end_offsets(partitions).items()}
        last_id = max(records.read_tails(consumer, settings.topic).values(), default=0)
        return topic_id, ends, last_id
    finally:
        consumer.close()
        admin.close()


def verify(settings: Settings, engine: Engine | None = None, live: bool = False) -> Verdict:
    """Compare the committed data with the table and the topic (see the module's docstring)."""
    storage = open_storage(settings.data_url)
    dead_storage = open_storage(settings.deadletter_url, "DEADLETTER_URL")
    errors, found, partitions = [], [], {}
    version = TableVersion.latest(settings.table_url)
    for partition in range(settings.partitions):
        try:
            partitions[partition] = committed_partition(storage, dead_storage, settings.checkpoint_dir, version,
                                                        partition)
        except CorruptCheckpoint as error:
            errors.append(f"partition {partition}: {error}")
    # Asked after the committed data was read, so a running pipeline's log ends are at or past its checkpoints.
    topic_id, ends, last_id = topic_state(settings)
    for partition, (view, facts, rows) in partitions.items():
        errors.extend(coverage_errors(partition, view.saved, facts, topic_id, ends.get(partition, 0),
                                      view.first_raw_offset))
        found.extend(rows)
    all_facts = [fact for _, facts, _ in partitions.values() for fact in facts]
    own_engine = engine is None
    engine = engine or database.connect(settings.db_url)
    try:
        # Live, the table is read last, so it holds every row committed so far.
        verdict = compare(expected_rows(engine, None if live else last_id), found, errors, live)
    finally:
        if own_engine:
            engine.dispose()
    # every committed batch, whether its rows are read from the table or from its file
    committed_batches = sum(view.saved.batch_id + 1 for view, _, _ in partitions.values() if view.saved)
    verdict.last_row_id, verdict.batches = last_id, committed_batches
    verdict.kafka_duplicates = sum(fact.info.duplicates for fact in all_facts if fact.info)  # in the raw tail
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
    try:
        return wait_until(lambda: caught_up(settings), seconds, "every checkpoint at its log end", every=0.5)
    except TimeoutError:
        return False
