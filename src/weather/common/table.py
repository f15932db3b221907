"""The table layer: committed raw batches folded into a Delta Lake table beside the data folder.

The raw layer (`/data/partition-N-batch-M.parquet` and the checkpoints) is the specification's and
stays exactly as it is; the compactor (src/compactor.py) folds its committed batches into this
table, `TABLE_URL` (by default `<data folder's parent>/warehouse/temperatures`), in few large files
that standard engines read (Spark's Delta reader, DuckDB through an Arrow dataset).

Columns: the batch files' `date`, `degrees`, `station_id`, plus `partition` (the Kafka partition,
also the table's partition column, so one partition's rows are replaced without touching others).

What the table covers is recorded in every commit that changes it, atomically with its files, as
Delta application transactions (the `txn` actions of the Delta protocol, kept in the snapshot and
in its checkpoints): per Kafka partition N and topic incarnation T,

    weather/partition-N/topic-T/batch   = the last raw batch folded in
    weather/partition-N/topic-T/offset  = the next Kafka offset after it

A reader asks for the incarnation its raw batches belong to, so rows of an older incarnation of the
topic are never taken for the current one; the compactor replaces a partition's rows when it folds
the first batches of a new incarnation. Two compactors committing for the same partition at once
conflict on these application ids: Delta lets one commit win and refuses the other.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, Transaction
from deltalake.exceptions import TableNotFoundError

from weather.common import batches

SCHEMA = pa.schema([*batches.SCHEMA, pa.field("partition", pa.int32())])
# Table properties set when the compactor creates the table: a commit every few seconds must not
# leave a month of log files (Delta's default) on the NameNode, and files replaced by an optimize are
# vacuumed after an hour (readers of this project read the newest version).
PROPERTIES = {
    "delta.logRetentionDuration": "interval 1 days",
    "delta.deletedFileRetentionDuration": "interval 1 hours",
    "delta.checkpointInterval": "100",
}


@dataclass(frozen=True)
class Covered:
    """What the table holds of one partition of one topic incarnation."""
    batch_id: int  # the last raw batch folded in
    offset: int  # the next offset after it


def app_id(partition: int, topic_id: str, what: str) -> str:
    return f"weather/partition-{partition}/topic-{topic_id}/{what}"


def transactions_for(partition: int, topic_id: str, covered: Covered) -> list:
    return [Transaction(app_id(partition, topic_id, "batch"), covered.batch_id),
            Transaction(app_id(partition, topic_id, "offset"), covered.offset)]


class TableVersion:
    """One version of the table, pinned: what it covers and its rows agree."""

    def __init__(self, delta: DeltaTable | None) -> None:
        self.delta = delta

    @classmethod
    def latest(cls, url: str) -> "TableVersion":
        """The newest version; an empty one when there is no table yet."""
        try:
            return cls(DeltaTable(url))
        except TableNotFoundError:
            return cls(None)

    @property
    def version(self) -> int | None:
        return None if self.delta is None else self.delta.version()

    def covered(self, partition: int, topic_id: str | None) -> Covered | None:
        """What this version holds of the partition's incarnation `topic_id`; None: nothing."""
        if self.delta is None or topic_id is None:
            return None
        batch_id = self.delta.transaction_version(app_id(partition, topic_id, "batch"))
        offset = self.delta.transaction_version(app_id(partition, topic_id, "offset"))
        if batch_id is None or offset is None:
            return None
        return Covered(batch_id, offset)

    def rows(self, partitions: list[int]) -> pa.Table:
        """The rows of these partitions at this version, with the batch files' columns only."""
        if self.delta is None or not partitions:
            return batches.SCHEMA.empty_table()
        dataset = self.delta.to_pyarrow_dataset()
        found = dataset.to_table(columns=batches.SCHEMA.names,
                                 filter=pc.field("partition").isin(pa.array(partitions, pa.int32())))
        return found.cast(batches.SCHEMA)

    def file_count(self) -> int:
        return 0 if self.delta is None else len(self.delta.file_uris())
