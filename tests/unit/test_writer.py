"""The partition writer (its state machine): duplicates dropped at or below the high-water mark, which survives a restart."""
import logging
from collections import namedtuple

import pytest

from weather.common import batches, checkpoint, deadletter, lock, report
from weather.common.crash import no_hook
from weather.consume.writer import PartitionWriter, RecordsLost, State
from weather.common.storage import open_storage, temp_name

Record = namedtuple("Record", "partition offset key value headers")
log = logging.getLogger("test")


def records(first_offset, row_ids):
    """One record per row id (None: no header), all Reports but for the id "bad"."""
    made = []
    for index, row_id in enumerate(row_ids):
        offset = first_offset + index
        value = b"\xff" if row_id == "bad" else report.encode("StationA", "2000-01-01", float(offset))
        headers = [] if row_id in (None, "bad") else [("row_id", str(row_id).encode())]
        made.append(Record(0, offset, b"StationA", value, headers))
    return made


def writer(tmp_path):
    return PartitionWriter(0, open_storage(f"file://{tmp_path}/data"), open_storage(f"file://{tmp_path}/deadletter"),
                           str(tmp_path / "cp"), lock.acquire(tmp_path / "partition-0.lock", "partition 0", 1, log), log)


def test_records_at_or_below_the_high_water_mark_are_dropped_and_counted(tmp_path):
    first = writer(tmp_path)
    first.start("t1")
    batch = first.batch(records(0, [5, 6, 6, 3, None, "bad", 7]))
    assert (batch.table.num_rows, batch.duplicates, len(batch.dead_letters), batch.high_water) == (4, 2, 1, 7)
    assert batch.table["degrees"].to_pylist() == [0.0, 1.0, 4.0, 6.0]  # offsets 2 and 3 dropped, 5 dead-lettered
    first.commit(batch)
    info = batches.read_info(first.storage, 0, 0)
    assert (info.duplicates, info.dead_letters, info.high_water) == (2, 1, 7)
    assert batch.table.num_rows + info.duplicates + info.dead_letters == info.offsets.last - info.offsets.first + 1
    first.lock.release()

    again = writer(tmp_path)  # a restart learns the mark from the last committed batch
    again.start("t1")
    assert (again.batch_id, again.offset, again.position.high_water) == (1, 7, 7)
    assert again.batch(records(7, [7, 2, 8])).table.num_rows == 1


def test_a_header_without_a_usable_row_id_is_kept_and_moves_no_mark(tmp_path):
    first = writer(tmp_path)
    first.start("t1")
    first.commit(first.batch(records(0, [10])))
    strangers = records(1, [None, None, None])
    strangers[0] = strangers[0]._replace(headers=[("row_id", None)])
    strangers[1] = strangers[1]._replace(headers=[("row_id", b"0")])
    strangers[2] = strangers[2]._replace(headers=[("row_id", b"ten")])
    batch = first.batch(strangers)
    assert (batch.table.num_rows, batch.duplicates, batch.high_water) == (3, 0, 10)
    first.lock.release()


def test_a_recreated_topic_resets_the_mark_and_a_restart_removes_uncommitted_dead_letters(tmp_path):
    first = writer(tmp_path)
    first.start("t1")
    first.commit(first.batch(records(0, [10, 11])))
    uncommitted = first.batch(records(2, ["bad"]))
    deadletter.write(first.dead_storage, 0, uncommitted.batch_id, uncommitted.dead_letters)  # a crash before commit
    assert first.follow_topic("t2")
    assert (first.batch_id, first.offset, first.position.high_water) == (0, 0, 0)
    assert checkpoint.load(first.checkpoint_dir, 0) is None and first.dead_storage.names() == []
    assert first.batch(records(0, [1])).table.num_rows == 1  # low ids are new in the new topic
    first.lock.release()


def test_a_start_removes_every_stale_temp_file_of_its_partition_in_any_naming(tmp_path):
    first = writer(tmp_path)
    first.start("t1")
    first.commit(first.batch(records(0, [1, "bad"])))  # batch 0 committed, a dead letter with it
    first.lock.release()
    # What crashes and given-up writes leave: temp files, and copies of them written when a close stalled.
    stale = {first.storage: ["partition-0-batch-1.parquet.tmp", "partition-0-batch-1.parquet.tmp.1a2b3c4d.tmp",
                             "partition-0-batch-1.parquet.5e6f7a8b.tmp"],
             first.dead_storage: ["partition-0-batch-0.jsonl.tmp.1a2b3c4d.tmp", "partition-0-batch-1.jsonl.tmp",
                                  "partition-0-batch-1.jsonl.tmp.5e6f7a8b.tmp",
                                  "partition-0-batch-1.jsonl.9c0d1e2f.tmp"]}
    kept = {first.storage: sorted([batches.batch_name(0, 0), "partition-1-batch-1.parquet.5e6f7a8b.tmp"]),
            first.dead_storage: sorted([deadletter.file_name(0, 0), "partition-1-batch-1.jsonl.tmp.1a2b3c4d.tmp"])}
    for folder in stale:
        for name in [*stale[folder], *kept[folder]]:
            if not folder.exists(name):
                folder.write(name, b"half a file")
    for name in ["partition-0.json.tmp", "partition-0.json.tmp.1a2b3c4d.tmp", "partition-0.json.5e6f7a8b.tmp"]:
        (tmp_path / "cp" / name).write_text('{"batch_id": 7')

    again = writer(tmp_path)
    again.start("t1")
    assert {folder: sorted(folder.names()) for folder in stale} == kept
    assert sorted(path.name for path in (tmp_path / "cp").iterdir()) == ["partition-0.json"]
    assert (again.batch_id, again.offset) == (1, 2)
    again.lock.release()


class MemoryStorage:
    """A folder in memory that counts writes and can fail one named operation once (storage errors are OSErrors)."""

    def __init__(self):
        self.url, self.files, self.writes, self.fail_next = "memory://data", {}, [], set()

    def _maybe_fail(self, operation):
        if operation in self.fail_next:
            self.fail_next.discard(operation)
            raise OSError(f"injected failure of {operation}")

    def ensure_folder(self):
        pass

    def write_temp(self, name, data, midway=None):
        self._maybe_fail("write")
        self.writes.append(name)
        temp = temp_name(name)
        self.files[temp] = bytes(data)
        return temp

    def write(self, name, data, midway=None):
        self.rename(self.write_temp(name, data, midway), name)

    def rename(self, source, target):
        self._maybe_fail("rename")
        self.files[target] = self.files.pop(source)

    def names(self):
        return list(self.files)

    def read(self, name):
        return self.files[name]

    def delete(self, name):
        self.files.pop(name, None)

    def exists(self, name):
        return name in self.files

    def modified(self, name):
        return 0.0


def memory_writer(tmp_path, storage, reached):
    return PartitionWriter(0, storage, MemoryStorage(), str(tmp_path / "cp"), writer_lock=None, log=log, reached=reached)


def test_recovery_is_the_machines_first_states_and_a_commit_walks_the_rest_in_order(tmp_path):
    seen = []
    machine = memory_writer(tmp_path, MemoryStorage(), lambda state, batch_id: seen.append((state.value, batch_id)))
    machine.start("t1")
    assert seen == [("recovering", 0), ("positioned", 0), ("ready", 0)] and machine.state is State.READY
    seen.clear()
    machine.commit(machine.batch(records(0, [1, 2])))
    assert seen == [(state, 0) for state in ("polled", "temp_written", "renamed", "writing_checkpoint",
                                             "checkpointed")]
    assert (machine.state, machine.batch_id, machine.offset) == (State.READY, 1, 2)


@pytest.mark.parametrize("failing, resumed_at, data_writes", [
    ("rename", State.TEMP_WRITTEN, 1),  # the closed temp file is renamed, not written again
    ("checkpoint", State.RENAMED, 1),  # the batch file stays; only the checkpoint is written again
    ("write", State.POLLED, 1),  # nothing was written: the first successful write is the only one
])
def test_a_failed_step_leaves_the_machine_there_and_the_retry_resumes_at_that_step(tmp_path, monkeypatch, failing,
                                                                                    resumed_at, data_writes):
    storage = MemoryStorage()
    machine = memory_writer(tmp_path, storage, no_hook)
    machine.start("t1")
    batch = machine.batch(records(0, [1, 2, 3]))
    if failing == "checkpoint":
        real_save = checkpoint.save

        def save_failing_once(*args, **kwargs):
            monkeypatch.setattr(checkpoint, "save", real_save)
            raise OSError("injected failure of the checkpoint write")
        monkeypatch.setattr(checkpoint, "save", save_failing_once)
    else:
        storage.fail_next.add(failing)
    with pytest.raises(OSError, match="injected"):
        machine.commit(batch)
    assert machine.state is resumed_at and machine.pending is batch
    assert checkpoint.load(machine.checkpoint_dir, 0) is None  # nothing committed yet
    machine.commit(batch)  # the consumer's retry
    assert len(storage.writes) == data_writes
    assert checkpoint.load(machine.checkpoint_dir, 0) == checkpoint.Checkpoint(batch_id=0, offset=3)
    assert storage.names() == [batches.batch_name(0, 0)] and machine.state is State.READY


def test_a_lost_offset_of_the_same_topic_is_unrecoverable_and_of_a_new_topic_starts_afresh(tmp_path):
    machine = memory_writer(tmp_path, MemoryStorage(), no_hook)
    machine.start("t1")
    machine.commit(machine.batch(records(0, [1])))
    with pytest.raises(RecordsLost, match="move .*partition-0.json away"):
        machine.offset_lost("t1", OffsetError())
    assert (machine.batch_id, machine.offset) == (1, 1)
    machine.offset_lost("t2", OffsetError())
    assert (machine.batch_id, machine.offset, machine.topic_id) == (0, 0, "t2")
    assert checkpoint.load(machine.checkpoint_dir, 0) is None


class OffsetError(Exception):
    """Stands for kafka-python's OffsetOutOfRangeError."""
