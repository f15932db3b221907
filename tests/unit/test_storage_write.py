"""HdfsStorage.write against a fake client: a stalled close is hedged by a copy renamed over the file, and a
file whose pipeline fails is written again with fewer replicas, then set back."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from weather.common import storage
from weather.common.storage import HdfsStorage


class FakeWriter:
    def __init__(self, client, path, replication):
        self.client, self.path, self.replication, self.data = client, path, replication, b""

    def write(self, data):
        if self.client.fail_replication == self.replication:
            raise RuntimeError("Failed to connect to DataNode 127.0.0.1:9876")
        self.data += data

    def close(self):
        delay = self.client.close_delays.pop(0) if self.client.close_delays else 0
        time.sleep(delay)
        with self.client.lock:
            if self.path not in self.client.open_files:
                raise FileNotFoundError(f"{self.path}: no lease")  # renamed over while open, as on HDFS
            self.client.open_files.discard(self.path)
            self.client.files[self.path] = (self.data, self.replication or 3)


class FakeClient:
    def __init__(self):
        self.files, self.open_files, self.lock = {}, set(), threading.Lock()
        self.close_delays: list[float] = []
        self.fail_replication = "none"
        self.replication_set = {}

    def create(self, path, options):
        with self.lock:
            self.open_files.add(path)
        return FakeWriter(self, path, options.replication)

    def rename(self, source, target, overwrite=False):
        with self.lock:
            self.open_files.discard(target)
            self.files[target] = self.files.pop(source)

    def delete(self, path, recursive=False):
        with self.lock:
            self.open_files.discard(path)
            return self.files.pop(path, None) is not None

    def set_replication(self, path, replication):
        self.replication_set[path] = replication
        return True

    def get_file_info(self, path):
        if path == "/data":
            return SimpleNamespace(replication=0)  # the folder: the NameNode answers
        return SimpleNamespace(replication=self.files[path][1])


@pytest.fixture
def fake():
    folder = HdfsStorage.__new__(HdfsStorage)
    folder.url, folder.folder, folder.client = "hdfs://fake/data", "/data", FakeClient()
    return folder


def test_a_fast_close_writes_the_file_once(fake):
    fake.write("a.tmp", b"x" * 100)
    assert fake.client.files == {"/data/a.tmp": (b"x" * 100, 3)}


def test_a_stalled_close_is_replaced_by_a_copy_and_nothing_else_is_left(fake):
    fake.client.close_delays = [0.5]  # the first close stalls as hdfs-native's does (500 ms)
    began = time.monotonic()
    fake.write("a.tmp", b"y" * 100)
    assert time.monotonic() - began < 0.3
    assert fake.client.files["/data/a.tmp"][0] == b"y" * 100
    time.sleep(0.6)  # the stalled close ends (it fails: the file was renamed over)
    assert set(fake.client.files) == {"/data/a.tmp"} and not fake.client.open_files


def test_a_failed_pipeline_is_written_with_fewer_replicas_then_set_back(fake):
    fake.client.fail_replication = None  # the default replication's pipeline fails
    fake.write("b.tmp", b"z" * 10)
    assert fake.client.files["/data/b.tmp"] == (b"z" * 10, storage.FALLBACK_REPLICATION)
    assert fake.client.replication_set == {"/data/b.tmp": 3}


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
            fake.write("c.tmp", b"z")
        assert 0.3 <= time.monotonic() - began < 2
    finally:
        FakeWriter.write = original


def test_a_write_whose_copies_all_hang_is_given_up_and_written_again(fake, monkeypatch):
    monkeypatch.setattr(storage, "WRITE_GIVE_UP", 0.3)
    fake.client.close_delays = [2.0, 2.0, 2.0]  # the first write and both its copies hang
    began = time.monotonic()
    fake.write("d.tmp", b"w" * 10)  # given up after 0.3 s, then written again (with fewer replicas)
    assert time.monotonic() - began < 1.5
    assert fake.client.files["/data/d.tmp"][0] == b"w" * 10
