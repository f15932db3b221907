"""Every committed batch read back the moment its checkpoint appears, as a reader would.

A watcher thread looks at each partition's checkpoint every few milliseconds; on a new one it reads
every batch the checkpoint newly commits, straight away, and counts its rows against what the batch's
own metadata implies: offsets (last - first + 1) - dead letters - dropped duplicates. A setting or a
client change that makes a freshly closed file look short (a committed-but-incomplete last block left
out of the length) fails here, as does a batch that cannot be read while a DataNode is down. While the
NameNode itself does not answer or is still in safe mode after a restart, no reader can read anything:
the batch is read again once it serves.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from weather.common import batches, checkpoint
from weather.common.storage import open_storage

INTERVAL = 0.005


@dataclass
class ReadBack:
    checked: int = 0  # batches read back in full
    rows: int = 0
    deferred: int = 0  # reads put off because the NameNode did not answer
    problems: list[str] = field(default_factory=list)
    commits: list[tuple[float, int, int]] = field(default_factory=list)  # (monotonic time, partition, batch id)


class ReadBackWatcher(threading.Thread):
    def __init__(self, data_url: str, checkpoint_dir: str, partitions: int = 4) -> None:
        super().__init__(daemon=True)
        self.storage = open_storage(data_url)
        self.checkpoint_dir, self.partitions = checkpoint_dir, partitions
        self.found = ReadBack()
        self.stopping = threading.Event()

    def run(self) -> None:
        seen = {p: -1 for p in range(self.partitions)}  # the last checkpoint's batch id per partition
        done = {p: -1 for p in range(self.partitions)}  # the last batch id read back per partition
        while not self.stopping.is_set():
            for p in range(self.partitions):
                try:
                    saved = checkpoint.load(self.checkpoint_dir, p)
                except checkpoint.CorruptCheckpoint as error:
                    self.found.problems.append(str(error))
                    continue
                if saved is None:
                    continue
                if saved.batch_id < seen[p]:  # started afresh: not expected in these tests
                    seen[p] = done[p] = saved.batch_id
                if saved.batch_id > seen[p]:
                    seen[p] = saved.batch_id
                    self.found.commits.append((time.monotonic(), p, saved.batch_id))
                for batch_id in range(done[p] + 1, saved.batch_id + 1):
                    if not self._check(p, batch_id):
                        break
                    done[p] = batch_id
            time.sleep(INTERVAL)

    def _namenode_answers(self) -> bool:
        try:
            self.storage.names()
            return True
        except Exception:  # noqa: BLE001 - whatever the client raises for a NameNode that is not there
            return False

    def _check(self, partition: int, batch_id: int) -> bool:
        """Read one committed batch; False if it must be read again later (the NameNode not serving)."""
        name = batches.batch_name(partition, batch_id)
        for attempt in (1, 2):
            try:
                table, info = batches.read_batch_and_info(self.storage, partition, batch_id)
                break
            except Exception as error:  # noqa: BLE001 - a failure to read a committed batch is the finding,
                # unless the NameNode is down or still in safe mode (starting): no reader could read then
                if "SafeModeException" in str(error) or not self._namenode_answers():
                    self.found.deferred += 1
                    return False
                if attempt == 2:  # it failed again with the NameNode serving (the first may predate its return)
                    self.found.problems.append(f"{name}: committed but unreadable: {type(error).__name__}: "
                                               f"{str(error).splitlines()[0][:200] if str(error) else ''}")
                    return True
        expected = info.offsets.last - info.offsets.first + 1 - info.dead_letters - info.duplicates
        if table.num_rows != expected:
            self.found.problems.append(f"{name}: {table.num_rows} rows read right after its checkpoint, "
                                       f"its metadata implies {expected}")
        self.found.checked += 1
        self.found.rows += table.num_rows
        return True

    def stop(self) -> ReadBack:
        self.stopping.set()
        self.join(timeout=30)
        return self.found
