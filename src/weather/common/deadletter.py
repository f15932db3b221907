"""Messages that are not Reports: kept, not dropped, in `<DEADLETTER_URL>/partition-N-batch-M.jsonl`.

The folder is beside the data folder, not in it (`hdfs://boss:9000/deadletter` for the data in
`hdfs://boss:9000/data`), so the data folder holds only batch files; it is created with the first
dead letter. One JSON object per bad message: partition, offset, why it was rejected, and its key
and value (base64), so it can be inspected or replayed. The file of batch M is written (a temp file
of its own, renamed) in batch M's commit, before its Parquet file, so a committed batch's dead
letters are always on storage. Files of batches not committed (a crash before the checkpoint, a
topic created anew) are removed when the partition's consumer starts, before it redoes those
batches, and so are temp files of any batch (a crash, a write given up: weather/common/storage.py).
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import asdict, dataclass

from weather.common.storage import Storage

@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    error: str
    key: str | None  # base64
    value: str  # base64

    @classmethod
    def of(cls, partition: int, offset: int, error: str, key: bytes | None, value: bytes | None) -> "DeadLetter":
        encode = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
        return cls(partition, offset, error, None if key is None else encode(key), encode(value or b""))


def file_name(partition: int, batch_id: int) -> str:
    return f"partition-{partition}-batch-{batch_id}.jsonl"


def write(storage: Storage, partition: int, batch_id: int, letters: list[DeadLetter]) -> None:
    """Write the batch's dead letters atomically: temp file, then rename over the final name."""
    name = file_name(partition, batch_id)
    storage.ensure_folder()
    storage.write(name, "".join(json.dumps(asdict(letter)) + "\n" for letter in letters).encode())


def read(storage: Storage, partition: int, batch_id: int) -> list[DeadLetter]:
    lines = storage.read(file_name(partition, batch_id)).decode().splitlines()
    return [DeadLetter(**json.loads(line)) for line in lines]


def remove_uncommitted(storage: Storage, partition: int, last_committed: int) -> list[str]:
    """Delete the partition's files of batches after `last_committed` (-1: all), and its temp files (`….jsonl.tmp`,
    `….jsonl.<random>.tmp`, `….jsonl.tmp.<random>.tmp`); their names."""
    pattern = re.compile(rf"partition-{partition}-batch-(\d+)\.jsonl(\.(?:.+\.)?tmp)?")
    stale = [name for name in storage.names()
             if (match := pattern.fullmatch(name)) and (match[2] or int(match[1]) > last_committed)]
    for name in stale:
        storage.delete(name)
    return stale
