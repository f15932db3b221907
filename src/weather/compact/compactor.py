"""Folding committed raw batches into the table (weather/common/table.py), one cycle at a time, as named steps.

    PLANNED -> READ -> COMMITTED -> OPTIMIZED -> RETAINED

PLANNED    the table's newest version and each partition's checkpoint are read: per partition, what
           to fold. Never beyond the checkpoint: batches 0..M of `partition-N.json` are the committed
           ones. A partition continues (raw batches B+1..M appended after the B the table covers
           for the same topic incarnation, their offsets following its recorded one), or is replaced
           (its first batches of a new incarnation, or a table that disagrees with the raw layer:
           its rows replaced by raw batches from 0 in one commit, the rest appended by the next
           cycles), or has nothing new. At most COMPACT_MAX_BATCHES raw files a partition a cycle.
READ       those raw batches are in memory, their offsets checked to follow each other; nothing is written.
COMMITTED  one Delta commit per kind of work holds their rows and, atomically, what the table now
           covers (the application transactions). A crash before this leaves at most unreferenced
           data files in the table's folder (vacuumed later), and the next cycle plans the same work.
OPTIMIZED  a partition with many small table files has them merged into files of TABLE_FILE_BYTES,
           and replaced files older than an hour are vacuumed now and then.
RETAINED   only with RAW_RETENTION_SECONDS set: raw batch files the table covers, older than that,
           and below the checkpoint's own batch (which a restarted consumer reads), are deleted.

Killed at any step and restarted, the compactor never adds a batch twice (the table says what it
covers) and never skips one (it continues from exactly there). The fault tests stop it at a step by
name: COMPACTOR_CRASH_AT=<step> (weather/common/crash.py).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

import pyarrow as pa
from deltalake import CommitProperties, write_deltalake
from deltalake.exceptions import CommitFailedError

from weather.common import batches, checkpoint, table
from weather.common.crash import Hook, no_hook
from weather.common.storage import Storage
from weather.common.table import Covered, TableVersion

READERS = 8  # raw batch files read at once: a one-row file costs a NameNode and a DataNode round trip
VACUUM_EVERY = 3600.0  # seconds between vacuums of table files an optimize replaced


class Step(str, Enum):
    PLANNED = "planned"
    READ = "read"
    COMMITTED = "committed"
    OPTIMIZED = "optimized"
    RETAINED = "retained"


class Disagreement(Exception):
    """The raw batches to fold do not continue what the table covers (offsets, topic): replace instead."""


@dataclass(frozen=True)
class Plan:
    partition: int
    topic_id: str
    first: int  # the first raw batch to fold
    last: int  # the checkpoint's batch
    offset: int  # the offset the first batch must start at
    end_offset: int  # the checkpoint's next offset
    replace: bool  # the partition's rows are replaced rather than appended to

    @property
    def covered(self) -> Covered:
        return Covered(self.last, self.end_offset)


@dataclass
class Cycle:
    """What one cycle did, for the log and the tests."""
    version: int | None = None
    batches: int = 0
    rows: int = 0
    replaced: tuple[int, ...] = ()
    optimized: tuple[int, ...] = ()
    retained_files: int = 0


class Compactor:
    def __init__(self, storage: Storage, checkpoint_dir: str, table_url: str, partitions: int,
                 log: logging.Logger, file_bytes: int, optimize_files: int, max_batches: int,
                 raw_retention: float | None = None, reached: Hook = no_hook) -> None:
        self.storage = storage
        self.checkpoint_dir = checkpoint_dir
        self.table_url = table_url
        self.partitions = range(partitions)
        self.log = log
        self.file_bytes = file_bytes
        self.optimize_files = optimize_files
        self.max_batches = max_batches
        self.raw_retention = raw_retention
        self.reached = reached
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="raw-reader")
        self._retained_below: dict[int, int] = {}  # partition -> lowest raw batch id not yet deleted
        self._last_vacuum = time.monotonic()

    # -- one cycle ---------------------------------------------------------------------------------
    def run_once(self) -> Cycle:
        """Fold what is committed and not yet in the table; what it did."""
        cycle = Cycle()
        version = TableVersion.latest(self.table_url)
        plans = [plan for plan in map(lambda p: self._plan(p, version), self.partitions) if plan]
        if not plans:
            cycle.version = version.version
            self._keep_small(version, cycle)
            return cycle
        self.reached(Step.PLANNED)
        read = {}
        for index, plan in enumerate(plans):
            try:
                read[plan.partition] = self._read(plan)
            except Disagreement as error:
                if plan.replace:
                    raise
                self.log.warning("%s; the table's rows of partition %d will be replaced", error, plan.partition)
                plans[index] = plan = self._plan(plan.partition, version, replace=True)
                read[plan.partition] = self._read(plan)
        self.reached(Step.READ)
        appended = [plan for plan in plans if not plan.replace]
        if appended:
            self._commit([read[plan.partition] for plan in appended], appended)
        replaced = [plan for plan in plans if plan.replace]
        for plan in replaced:
            self.log.info("partition %d: raw batches 0..%d of topic id %s in place of whatever the table held "
                          "of the partition", plan.partition, plan.last, plan.topic_id)
        if replaced:
            self._commit([read[plan.partition] for plan in replaced], replaced,
                         replace=[plan.partition for plan in replaced])
        self.reached(Step.COMMITTED)
        cycle.batches = sum(plan.last - plan.first + 1 for plan in plans)
        cycle.rows = sum(rows.num_rows for rows in read.values())
        cycle.replaced = tuple(plan.partition for plan in plans if plan.replace)
        latest = TableVersion.latest(self.table_url)
        cycle.version = latest.version
        self._keep_small(latest, cycle)
        return cycle

    def _keep_small(self, version: TableVersion, cycle: Cycle) -> None:
        cycle.optimized = self._optimize(version)
        if cycle.optimized:
            self.reached(Step.OPTIMIZED)
        if self.raw_retention is not None:
            cycle.retained_files = self._retain(TableVersion.latest(self.table_url) if cycle.optimized else version)
            self.reached(Step.RETAINED)

    # -- planning ----------------------------------------------------------------------------------
    def _plan(self, partition: int, version: TableVersion, replace: bool = False) -> Plan | None:
        saved = checkpoint.load(self.checkpoint_dir, partition)
        if saved is None:
            return None  # nothing committed (or the partition starts afresh): nothing to fold yet
        topic_id = batches.read_info(self.storage, partition, saved.batch_id).topic_id or ""
        covered = version.covered(partition, topic_id)
        if not replace and covered == Covered(saved.batch_id, saved.offset):
            return None
        if replace or covered is None or covered.batch_id > saved.batch_id or covered.batch_id == saved.batch_id:
            self._retained_below.pop(partition, None)  # the raw batches are numbered from 0 again
            return self._capped(Plan(partition, topic_id, 0, saved.batch_id, 0, saved.offset, replace=True))
        return self._capped(Plan(partition, topic_id, covered.batch_id + 1, saved.batch_id, covered.offset,
                                 saved.offset, replace=False))

    def _capped(self, plan: Plan) -> Plan:
        """At most max_batches raw files a cycle, so a backlog is committed in steps that each finish (a
        replacement too: its first step replaces, the next ones append)."""
        last = plan.first + self.max_batches - 1
        if last >= plan.last:
            return plan
        end_offset = batches.read_info(self.storage, plan.partition, last).offsets.last + 1
        return Plan(plan.partition, plan.topic_id, plan.first, last, plan.offset, end_offset, plan.replace)

    # -- reading -----------------------------------------------------------------------------------
    def _read(self, plan: Plan) -> pa.Table:
        """The plan's raw batches, their offsets following each other from plan.offset to plan.end_offset."""
        read = list(self._readers.map(lambda batch_id: batches.read_batch_and_info(self.storage, plan.partition,
                                                                                    batch_id),
                                      range(plan.first, plan.last + 1)))
        offset = plan.offset
        for batch_id, (_, info) in zip(range(plan.first, plan.last + 1), read):
            if info.offsets.first != offset or (info.topic_id or "") != plan.topic_id:
                raise Disagreement(f"partition {plan.partition} batch {batch_id}: offsets {info.offsets.first}.."
                                   f"{info.offsets.last} of topic id {info.topic_id}, expected from offset {offset} "
                                   f"of {plan.topic_id}")
            offset = info.offsets.last + 1
        if offset != plan.end_offset:
            raise Disagreement(f"partition {plan.partition}: batches end at offset {offset}, the checkpoint says "
                               f"{plan.end_offset}")
        rows = pa.concat_tables([rows for rows, _ in read]) if read else batches.SCHEMA.empty_table()
        return rows.append_column("partition", pa.array([plan.partition] * rows.num_rows, pa.int32()))

    # -- committing --------------------------------------------------------------------------------
    def _commit(self, tables: list[pa.Table], plans: list[Plan], replace: list[int] | None = None) -> None:
        """One Delta commit: the rows appended, or in place of the `replace` partitions' rows, with the plans'
        coverage as application transactions."""
        transactions = [txn for plan in plans for txn in table.transactions_for(plan.partition, plan.topic_id,
                                                                                 plan.covered)]
        rows = pa.concat_tables(tables).cast(table.SCHEMA)
        try:
            write_deltalake(self.table_url, rows, mode="overwrite" if replace else "append",
                            predicate=f"partition IN ({', '.join(map(str, replace))})" if replace else None,
                            partition_by=["partition"], configuration=table.PROPERTIES,
                            target_file_size=self.file_bytes,
                            # No rebase onto a newer version: delta-rs let two first commits of a new table
                            # both land (rows doubled); a commit that loses any race fails, and the cycle
                            # plans again from the winner's version.
                            commit_properties=CommitProperties(app_transactions=transactions, max_commit_retries=0))
        except CommitFailedError as error:
            raise ConcurrentCompactor(f"another compactor committed to {self.table_url} first "
                                      f"({str(error).splitlines()[0]})") from None

    # -- keeping files few -------------------------------------------------------------------------
    def _optimize(self, version: TableVersion) -> tuple[int, ...]:
        if version.delta is None:
            return ()
        actions = pa.table(version.delta.get_add_actions(flatten=True)).to_pydict()
        small: dict[int, int] = {}
        for partition, size in zip(actions["partition.partition"], actions["size_bytes"]):
            if size < self.file_bytes // 2:
                small[partition] = small.get(partition, 0) + 1
        merged = tuple(sorted(p for p, count in small.items() if count >= self.optimize_files))
        for partition in merged:
            version.delta.optimize.compact(partition_filters=[("partition", "=", str(partition))],
                                           target_size=self.file_bytes)
        if time.monotonic() - self._last_vacuum > VACUUM_EVERY:
            version.delta.vacuum(retention_hours=1, enforce_retention_duration=False, dry_run=False)
            self._last_vacuum = time.monotonic()
        return merged

    def _retain(self, version: TableVersion) -> int:
        """Delete raw batches the table covers, older than raw_retention, below each checkpoint's batch."""
        deleted = 0
        cutoff = time.time() - self.raw_retention
        for partition in self.partitions:
            saved = checkpoint.load(self.checkpoint_dir, partition)
            if saved is None:
                continue
            topic_id = batches.read_info(self.storage, partition, saved.batch_id).topic_id or ""
            covered = version.covered(partition, topic_id)
            if covered is None:
                continue
            below = min(covered.batch_id + 1, saved.batch_id)  # the checkpoint's own batch always stays
            batch_id = self._retained_below.get(partition)
            if batch_id is None:
                batch_id = min(batches.batch_ids(self.storage, partition), default=below)
            while batch_id < below:
                name = batches.batch_name(partition, batch_id)
                try:
                    if self.storage.modified(name) > cutoff:
                        break
                    self.storage.delete(name)
                    deleted += 1
                except FileNotFoundError:
                    pass
                batch_id += 1
            self._retained_below[partition] = batch_id
        return deleted

    def close(self) -> None:
        self._readers.shutdown(wait=False, cancel_futures=True)


class ConcurrentCompactor(Exception):
    """Another compactor committed the same partition's batches first; plan again."""
