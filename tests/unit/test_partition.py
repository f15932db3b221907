"""The partition writer: duplicates dropped at or below the high-water mark, which survives a restart."""
import logging
from collections import namedtuple

from weather.common import batches, checkpoint, deadletter, lock, report
from weather.consume.partition import PartitionWriter
from weather.common.storage import open_storage

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
    first.start_afresh("t2", "recreated")
    assert (first.batch_id, first.offset, first.position.high_water) == (0, 0, 0)
    assert checkpoint.load(first.checkpoint_dir, 0) is None and first.dead_storage.names() == []
    assert first.batch(records(0, [1])).table.num_rows == 1  # low ids are new in the new topic
    first.lock.release()
