"""The local stack's servers are real and usable: Kafka, HDFS and MariaDB through the pipeline's own clients.

The last tests stop each server and start it again, so they run after the others in this file.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import hdfs_native
import pytest
import sqlalchemy
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, UnknownTopicOrPartitionError

from stack.hdfs import NAMENODE_HTTP_PORT, fsck, live_datanode_ports  # the stack's own view
from stack.supervise import CONF, HOST
from stack.topology import Topology, environment
from weather.common.storage import open_storage  # the pipeline's HDFS client, as the consumers use it
from world import wait_for, wait_until

ROOT = Path(__file__).resolve().parents[2]

ENV = environment()
BOOTSTRAP = ENV["KAFKA_BOOTSTRAP_SERVERS"]
HDFS_URL = ENV["DATA_URL"].rsplit("/", 1)[0]


def stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env=env)


@pytest.fixture(scope="module", autouse=True)
def servers_up():
    result = stack("up")
    assert result.returncode == 0, result.stderr


def kafka_roundtrip(topic: str) -> list[bytes]:
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    for i in range(5):
        producer.send(topic, key=b"k", value=f"v{i}".encode()).get(timeout=30)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek(partition, 0)
    values: list[bytes] = []

    def five_read() -> bool:
        if len(values) >= 5:
            return True
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(record.value for record in records)
        return False
    wait_until(five_read, 30, interval=0)
    consumer.close()
    return values


def test_kafka_topic_create_produce_consume_delete():
    topic = f"stack-test-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    assert kafka_roundtrip(topic) == [f"v{i}".encode() for i in range(5)]
    admin.delete_topics([topic])
    wait_for(lambda: topic not in admin.list_topics(), 30, f"topic {topic} deleted", interval=0.5)
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([topic])
    admin.close()


def test_kafka_never_creates_a_topic_on_send():
    topic = f"stack-absent-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, max_block_ms=3000)
    with pytest.raises(KafkaError):
        producer.send(topic, b"x").get(timeout=10)
    producer.close()
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    assert topic not in admin.list_topics()
    admin.close()


def test_hdfs_write_rename_over_and_list():
    client = hdfs_native.Client(HDFS_URL)
    folder = f"/stack-test/{uuid.uuid4().hex[:8]}"
    client.mkdirs(folder, create_parent=True)
    for name, payload in (("final", b"old"), ("final.tmp", b"new contents")):
        with client.create(f"{folder}/{name}") as out:
            out.write(payload)
    client.rename(f"{folder}/final.tmp", f"{folder}/final", True)
    assert [status.path.rsplit("/", 1)[1] for status in client.list_status(folder)] == ["final"]
    with client.read(f"{folder}/final") as reader:
        assert reader.read() == b"new contents"
    client.delete(folder, True)


def test_mariadb_insert_and_select():
    engine = sqlalchemy.create_engine(ENV["DB_URL"])
    marker = f"Stack{uuid.uuid4().hex[:8]}"
    with engine.connect() as conn:
        columns = [row[0] for row in conn.execute(sqlalchemy.text("SHOW COLUMNS FROM temperatures"))]
        assert columns == ["id", "station_id", "date", "degrees"]
        conn.execute(sqlalchemy.text("INSERT INTO temperatures (station_id, date, degrees) "
                                     "VALUES (:s, '2000-01-01', 1.5)"), {"s": marker})
        conn.commit()
        rows = conn.execute(sqlalchemy.text("SELECT date, degrees FROM temperatures WHERE station_id = :s"),
                            {"s": marker}).all()
        assert [(str(d), v) for d, v in rows] == [("2000-01-01", 1.5)]
        conn.execute(sqlalchemy.text("DELETE FROM temperatures WHERE station_id = :s"), {"s": marker})
        conn.commit()
    engine.dispose()


def test_status_and_env_describe_the_running_stack():
    status = stack("status")
    assert status.returncode == 0, status.stdout
    names = list(Topology.current().servers)
    assert names[:5] == ["mariadb", "namenode", "datanode-1", "datanode-2", "datanode-3"]
    for name in names:
        assert any(line.split()[:2] == [name, "ready"] for line in status.stdout.splitlines()), status.stdout
    exports = stack("env").stdout.splitlines()
    assert {line.split("=", 1)[0] for line in exports} >= {
        "export KAFKA_BOOTSTRAP_SERVERS", "export DB_URL", "export DATA_URL", "export CHECKPOINT_DIR",
        "export TOPIC_REPLICATION_FACTOR", "export HADOOP_CONF_DIR"}


# -- three DataNodes, three replicas ---------------------------------------------------------------------

def replicas(path: str) -> list[int]:
    """Live replicas of each block of the file at path, as the NameNode's fsck counts them."""
    return [int(word.split("=")[1]) for line in fsck(path).splitlines() if " len=" in line
            for word in line.split() if word.startswith("Live_repl=")]


def test_three_datanodes_live_and_the_pipelines_files_get_three_replicas(monkeypatch):
    assert live_datanode_ports() == {9866, 9876, 9886}
    monkeypatch.setenv("HADOOP_CONF_DIR", ENV["HADOOP_CONF_DIR"])
    storage = open_storage(f"{HDFS_URL}/stack-test/{uuid.uuid4().hex[:8]}")
    storage.ensure_folder()
    storage.write("batch.parquet", b"x" * 2048)
    path = f"{storage.folder}/batch.parquet"
    assert storage.client.get_file_info(path).replication == 3
    assert wait_until(lambda: replicas(path) == [3], 10), fsck(path)
    storage.client.delete(storage.folder, True)


def test_up_twice_is_harmless_and_quick():
    began = time.monotonic()
    result = stack("up")
    assert result.returncode == 0, result.stderr
    assert "ready in" in result.stdout
    assert time.monotonic() - began < 30


def test_a_server_that_cannot_start_is_named_with_what_to_do(tmp_path):
    result = stack("start", "kafka", env={**os.environ, "STACK_VAR": str(tmp_path)})
    assert result.returncode == 1
    assert result.stderr.startswith("stack: the kafka jars are missing")
    assert "make setup" in result.stderr


def test_unknown_server_is_a_usage_error():
    result = stack("stop", "zookeeper")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


# -- each server stopped: the client sees a clear error; started again: it works -----------------------

def test_kafka_stopped_then_started():
    assert stack("stop", "kafka").returncode == 0
    with pytest.raises(KafkaError):
        KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=2000, bootstrap_timeout_ms=2000)
    assert stack("start", "kafka").returncode == 0
    topic = f"stack-restart-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    assert len(kafka_roundtrip(topic)) == 5
    admin.delete_topics([topic])
    admin.close()


def test_hdfs_datanode_and_namenode_stopped_then_started():
    client = hdfs_native.Client(HDFS_URL)
    assert stack("kill", "datanode-2").returncode == 0
    assert stack("stop", "namenode").returncode == 0
    with pytest.raises(Exception, match="(?i)connect|refused"):
        list(client.list_status("/"))
    assert stack("start", "namenode").returncode == 0
    assert stack("start", "datanode-2").returncode == 0
    folder = f"/stack-test/{uuid.uuid4().hex[:8]}"
    client = hdfs_native.Client(HDFS_URL)
    with client.create(f"{folder}.bin") as out:
        out.write(b"after restart")
    with client.read(f"{folder}.bin") as reader:
        assert reader.read() == b"after restart"
    client.delete(f"{folder}.bin", False)


def test_mariadb_stopped_then_started():
    assert stack("stop", "mariadb").returncode == 0
    engine = sqlalchemy.create_engine(ENV["DB_URL"])
    with pytest.raises(sqlalchemy.exc.DBAPIError, match="Can't connect"):
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
    assert stack("start", "mariadb").returncode == 0
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("SELECT COUNT(*) FROM information_schema.tables "
                                            "WHERE table_schema = 'CS544' AND table_name = 'temperatures'"
                                            )).scalar() == 1
    engine.dispose()


class OtherWriters:
    """Writers besides the test's own, as on the shared stack or under the pipeline's four consumers:
    small files written one after another from four threads, each into its own folder, until stopped."""

    def __init__(self, folder: str, threads: int = 4) -> None:
        self.storages = [open_storage(f"{HDFS_URL}{folder}/others-{n}") for n in range(threads)]
        self.written: list[list[str]] = [[] for _ in range(threads)]  # paths, in the order written
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._write, args=(n,), daemon=True) for n in range(threads)]
        for thread in self._threads:
            thread.start()

    def _write(self, n: int) -> None:
        storage, written = self.storages[n], self.written[n]
        storage.ensure_folder()
        while not self._stopping.is_set():
            name = f"{len(written)}.parquet"
            try:
                storage.write(name, os.urandom(2048))
                written.append(f"{storage.folder}/{name}")
            except (OSError, RuntimeError):
                self._stopping.wait(0.5)  # as a consumer does: the same batch again a moment later

    def paths(self) -> list[str]:
        return [path for written in self.written for path in list(written)]

    def each_wrote(self, files: int) -> bool:
        return all(len(written) >= files for written in self.written)

    def stop(self) -> None:
        """Stop after the writes in flight."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)


def live_replicas(folder: str) -> dict[str, list[int]]:
    """Live replicas of each block of each closed file under folder, as the NameNode's fsck counts them."""
    files: dict[str, list[int]] = {}
    blocks: list[int] = []
    for line in fsck(folder).splitlines():
        if line.startswith("/") and " bytes, " in line:
            blocks = files.setdefault(line.split()[0], [])
        elif " len=" in line:
            blocks += [int(word.split("=")[1]) for word in line.split() if word.startswith("Live_repl=")]
    return files


def short_of_three(paths: list[str], folder: str) -> list[str]:
    """Those of paths (all under folder) whose blocks have fewer than three live replicas, with their counts."""
    found = live_replicas(folder)
    return [f"{path}: {found.get(path, 'not listed')}" for path in paths if found.get(path) != [3]]


def namenode_queues() -> str:
    url = f"http://{HOST}:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystem"
    with urllib.request.urlopen(url, timeout=10) as response:
        state = json.load(response)["beans"][0]
    return ", ".join(f"{key} {state[key]}" for key in
                     ("LowRedundancyBlocks", "PendingReconstructionBlocks", "PendingDeletionBlocks"))


@pytest.mark.slow
@pytest.mark.parametrize("datanode", ["datanode-1", "datanode-2", "datanode-3"])
def test_one_datanode_killed_while_a_file_is_written_and_others_read(datanode, monkeypatch):
    """A DataNode SIGKILLed in the middle of a write, while others write too: that write completes on
    the other two, every committed file stays readable while it is down, new writes work (the
    storage's fallback to two replicas), and after its restart every file (the others' as well) is
    back to three replicas."""
    monkeypatch.setenv("HADOOP_CONF_DIR", str(CONF))  # as `make env` sets it for the pipeline
    storage = open_storage(f"{HDFS_URL}/stack-test/{datanode}-{uuid.uuid4().hex[:8]}")
    storage.ensure_folder()
    others = OtherWriters(storage.folder)
    committed = {f"before-{i}.parquet": uuid.uuid4().bytes * 64 for i in range(5)}
    for name, data in committed.items():
        storage.write(name, data)
    big = os.urandom(3 * 2**20)
    wait_for(lambda: others.each_wrote(20), 60, "20 files from each of the other writers")
    try:
        storage.write("during.parquet", big, midway=lambda: stack("kill", datanode))
        committed["during.parquet"] = big
        for name, data in committed.items():
            assert storage.read(name) == data, name
        began, failures = time.monotonic(), []

        def write_after() -> bool:
            try:
                storage.write("after.parquet", b"after")
                return True
            except (OSError, RuntimeError) as error:
                failures.append(error)
                return False

        # hdfs-native 0.14.7 does not exclude a dead DataNode from a new pipeline: until the NameNode
        # counts it stale (3 s here) storage.write falls back to two replicas.
        assert wait_until(write_after, 150, interval=1), f"no write succeeded with {datanode} down: {failures}"
        print(f"{datanode} killed: writes failed {len(failures)} times for {time.monotonic() - began:.1f} s")
        for name, data in committed.items():
            assert storage.read(name) == data, name
    finally:
        assert stack("start", datanode).returncode == 0
    back = time.monotonic()
    try:
        # Every block written while it was down needs a copy on it, and so does the one written across
        # its death: its first copy went to the dying DataNode itself, and the restarted one refuses a
        # copy until it has deleted its own stale part of that block. stack/conf/hdfs-site.xml sets how
        # soon the NameNode tries again and how many copies it sends at once (seconds; minutes by default).
        # The others go on writing, and their new files need all three DataNodes as well.
        expected = [f"{storage.folder}/{name}" for name in [*committed, "after.parquet"]] + others.paths()
        wait_until(lambda: not short_of_three(expected, storage.folder), 90, interval=1)
        short = short_of_three(expected, storage.folder)
        assert not short, f"{len(short)} of {len(expected)} files short of three replicas 90 s after " \
                          f"{datanode} was back (NameNode: {namenode_queues()}):\n" + "\n".join(short[:20])
        print(f"{datanode} back: {len(expected)} files with three replicas after {time.monotonic() - back:.1f} s")
    finally:
        others.stop()
    later = sorted(set(others.paths()) - set(expected))
    wait_until(lambda: not short_of_three(later, storage.folder), 30, interval=1)
    assert not short_of_three(later, storage.folder), f"files written after {datanode}'s restart: " \
                                                      f"{short_of_three(later, storage.folder)[:20]}"
    storage.client.delete(storage.folder, True)
