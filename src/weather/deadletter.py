"""Messages that are not Reports: kept, not dropped, in `<DATA_URL>/deadletter/partition-N-batch-M.jsonl`.

One JSON object per bad message: partition, offset, why it was rejected, and its key and value
(base64), so it can be inspected or replayed. The file of batch M is written (temp file, rename)
in batch M's commit, before its Parquet file, so a committed batch's dead letters are always on
storage; a restart that redoes the batch rewrites the same file from the same offsets.
"""
from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass

from .storage import Storage

FOLDER = "deadletter"


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


def folder_url(data_url: str) -> str:
    return f"{data_url.rstrip('/')}/{FOLDER}"


def file_name(partition: int, batch_id: int) -> str:
    return f"partition-{partition}-batch-{batch_id}.jsonl"


def write(storage: Storage, partition: int, batch_id: int, letters: list[DeadLetter]) -> None:
    """Write the batch's dead letters atomically: temp file, then rename over the final name."""
    name = file_name(partition, batch_id)
    storage.write(name + ".tmp", "".join(json.dumps(asdict(letter)) + "\n" for letter in letters).encode())
    storage.rename(name + ".tmp", name)


def read(storage: Storage, partition: int, batch_id: int) -> list[DeadLetter]:
    lines = storage.read(file_name(partition, batch_id)).decode().splitlines()
    return [DeadLetter(**json.loads(line)) for line in lines]
