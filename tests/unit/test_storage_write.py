"""HdfsStorage's writes against a fake client: every write is a temp file of its own; a stalled close is hedged by
a copy, a file whose pipeline fails is written again with fewer replicas, then set back; a write given up never
lands where a later one's result is."""
from __future__ import annotations

import io
import threading
import time
from types import SimpleNamespace

import pytest

from committing import commit_table
from weather.common import batches, checkpoint, storage
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.checkpoint import Checkpoint
from weather.common.storage import HdfsStorage, is_temp_of
from weather.consume.writer import State
from world import wait_for


class FakeFile:
    """One file (an inode) of the fake HDFS: its bytes, its replication, and whether its writer closed it."""

    def __init__(self, replication):
        self.data, self.replication, self.closed = b"", replication, False


class HeldWrite:
    """The fake's next write, held before it creates its file and again before its first bytes, as a write
    stuck in a pipeline, until the test lets it go on."""

    def __init__(self):
        self.may_create, self.may_write = threading.Event(), threading.Event()
        self.created, self.finished = threading.Event(), threading.Event()

    def go_on(self):
        self.may_create.set()
        self.may_write.set()


class FakeWriter:
    def __init__(self, client, file, held=None):
        self.client, self.file, self.held = client, file, held

    def write(self, data):
        if self.held:
            self.held.may_write.wait()
        if self.client.fail_replication == self.file.replication:
            raise RuntimeError("Failed to connect to DataNode 127.0.0.1:9876")
        self.file.data += data

    def close(self):
        try:
            delay = self.client.close_delays.pop(0) if self.client.close_delays else 0
            time.sleep(delay)
            with self.client.lock:
                if self.file not in self.client.paths.values():
                    raise FileNotFoundError("no lease")  # deleted or renamed over while open, as on HDFS
                self.file.closed = True
        finally:
            if self.held:
                self.held.finished.set()


class FakeClient:
    """HDFS as hdfs-native shows it: a create replaces the path's file; a rename moves a file, open or not;
    the writer of a file deleted meanwhile fails to close it."""

    def __init__(self):
        self.paths: dict[str, FakeFile] = {}
        self.lock = threading.Lock()
        self.close_delays: list[float] = []
        self.fail_replication = "none"
        self.replication_set = {}
        self.held: HeldWrite | None = None
        self.holds: list[HeldWrite] = []

    def hold_next_write(self) -> HeldWrite:
        self.held = HeldWrite()
        self.holds.append(self.held)
        return self.held

    @property
    def files(self):
        """The closed files: path -> (bytes, replication)."""
        with self.lock:
            return {path: (file.data, file.replication or 3) for path, file in self.paths.items() if file.closed}

    @property
    def open_files(self):
        with self.lock:
            return {path for path, file in self.paths.items() if not file.closed}

    def create(self, path, options):
        held, self.held = self.held, None
        if held:
            held.may_create.wait()
        file = FakeFile(options.replication)
        with self.lock:
            self.paths[path] = file
        if held:
            held.created.set()
        return FakeWriter(self, file, held)

    def rename(self, source, target, overwrite=False):
        with self.lock:
            self.paths[target] = self.paths.pop(source)

    def delete(self, path, recursive=False):
        with self.lock:
            return self.paths.pop(path, None) is not None

    def mkdirs(self, path, create_parent=False):
        pass

    def list_status(self, folder):
        with self.lock:
            return [SimpleNamespace(path=path) for path in self.paths if path.startswith(folder + "/")]

    def read(self, path):
        with self.lock:
            return io.BytesIO(self.paths[path].data)

    def set_replication(self, path, replication):
        self.replication_set[path] = replication
        return True

    def get_file_info(self, path):
        if path == "/data":
            return SimpleNamespace(replication=0)  # the folder: the NameNode answers
        return SimpleNamespace(replication=self.paths[path].replication or 3)


@pytest.fixture
def fake():
    folder = HdfsStorage.__new__(HdfsStorage)
    folder.url, folder.folder, folder.client = "hdfs://fake/data", "/data", FakeClient()
    yield folder
    for held in folder.client.holds:
        held.go_on()  # a failed test leaves no thread waiting forever


def test_a_fast_close_writes_one_temp_file_of_its_own(fake):
    temp = fake.write_temp("a", b"x" * 100)
    assert is_temp_of(temp, "a") and fake.client.files == {f"/data/{temp}": (b"x" * 100, 3)}
    assert fake.write_temp("a", b"x" * 100) != temp


def test_write_puts_the_bytes_under_the_name_itself(fake):
    fake.write("e", b"v" * 10)
    assert fake.client.files == {"/data/e": (b"v" * 10, 3)}


def test_a_stalled_close_is_replaced_by_a_copy_and_nothing_else_is_left(fake):
    fake.client.close_delays = [0.5]  # the first close stalls as hdfs-native's does (500 ms)
    began = time.monotonic()
    temp = fake.write_temp("a", b"y" * 100)
    assert time.monotonic() - began < 0.3
    assert fake.client.files[f"/data/{temp}"][0] == b"y" * 100
    # the stalled copy closes after 500 ms, and is deleted
    wait_for(lambda: set(fake.client.paths) == {f"/data/{temp}"}, 5, "the stalled copy deleted")


def test_a_failed_pipeline_is_written_with_fewer_replicas_then_set_back(fake):
    fake.client.fail_replication = None  # the default replication's pipeline fails
    temp = fake.write_temp("b", b"z" * 10)
    assert fake.client.files[f"/data/{temp}"] == (b"z" * 10, storage.FALLBACK_REPLICATION)
    assert fake.client.replication_set == {f"/data/{temp}": 3}


def test_a_failure_with_fewer_replicas_too_is_retried_for_a_while_then_raised(fake, monkeypatch):
    monkeypatch.setattr(storage, "FALLBACK_FOR", 0.3)
    fake.client.fail_replication = None
    original = FakeWriter.write

    def always_fail(self, data):
        raise RuntimeError("no DataNode")
    FakeWriter.write = always_fail
    try:
        began = time.monotonic()
        with pytest.raises(RuntimeError):
            fake.write_temp("c", b"z")
        assert 0.3 <= time.monotonic() - began < 2
    finally:
        FakeWriter.write = original
    assert fake.client.paths == {}  # the failed files are deleted


def test_a_namenode_failure_during_the_fallback_is_raised_at_once(fake, monkeypatch):
    def no_datanode(self, data):
        raise RuntimeError("no DataNode")

    def no_namenode(path):
        raise ConnectionRefusedError("NameNode 127.0.0.1:9000")
    monkeypatch.setattr(FakeWriter, "write", no_datanode)  # every pipeline fails, the fallback's too
    monkeypatch.setattr(fake.client, "get_file_info", no_namenode)
    began = time.monotonic()
    with pytest.raises(ConnectionRefusedError):  # not retried for FALLBACK_FOR
        fake.write_temp("f", b"z")
    assert time.monotonic() - began < 1


def test_a_write_whose_copies_all_hang_is_given_up_and_written_again(fake, monkeypatch):
    monkeypatch.setattr(storage, "WRITE_GIVE_UP", 0.3)
    fake.client.close_delays = [2.0, 2.0, 2.0]  # the first write and both its copies hang
    began = time.monotonic()
    temp = fake.write_temp("d", b"w" * 10)  # given up after 0.3 s, then written again (with fewer replicas)
    assert time.monotonic() - began < 1.5
    assert fake.client.files[f"/data/{temp}"][0] == b"w" * 10
    wait_for(lambda: set(fake.client.paths) == {f"/data/{temp}"}, 5, "the hung copies deleted once they end")


# A write given up after WRITE_GIVE_UP may still run in the background. It must never take the place of what a
# later attempt wrote: not the checkpoint's, not a batch's.
def test_a_given_up_checkpoint_write_that_lands_later_never_takes_a_newer_checkpoints_place(fake, monkeypatch):
    monkeypatch.setattr(storage, "WRITE_GIVE_UP", 0.3)
    monkeypatch.setattr(checkpoint, "_folder", lambda checkpoint_dir: fake)
    stale = fake.client.hold_next_write()
    checkpoint.save(fake.url, 0, Checkpoint(5, 50))  # its first write is given up, a second one commits it

    def stale_write_lands():
        stale.go_on()
        assert stale.finished.wait(5)

    checkpoint.save(fake.url, 0, Checkpoint(6, 60), before_replace=stale_write_lands)
    assert checkpoint.load(fake.url, 0) == Checkpoint(6, 60)
    wait_for(lambda: set(fake.client.paths) == {"/data/partition-0.json"}, 5, "the stale temp file deleted")


def test_a_given_up_batch_write_never_puts_a_stale_or_open_file_in_the_batchs_place(fake, monkeypatch, tmp_path):
    monkeypatch.setattr(storage, "WRITE_GIVE_UP", 0.3)
    table = batches.build_table(["2000-01-01"], [1.5], ["StationA"], BatchInfo(OffsetRange(0, 0), "t1"))
    stale = fake.client.hold_next_write()

    def stale_write_creates_its_file(state, batch_id):
        if state is State.TEMP_WRITTEN and not stale.may_create.is_set():  # written again and closed, not renamed
            stale.may_create.set()
            assert stale.created.wait(5)

    commit_table(fake, str(tmp_path / "checkpoints"), 0, 0, table, 1, stale_write_creates_its_file)
    final = "/data/partition-0-batch-0.parquet"
    committed_file = fake.client.paths[final]
    assert committed_file.closed and committed_file.data == batches.to_parquet(table), "a stale, open file"
    stale.may_write.set()
    assert stale.finished.wait(5)
    assert fake.client.paths[final] is committed_file and committed_file.closed
    wait_for(lambda: set(fake.client.paths) == {final}, 5, "the stale temp file deleted")
