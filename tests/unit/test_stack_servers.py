"""The local stack's bookkeeping without its servers: pid files that outlive their process, and the topologies."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from stack import hdfs, kafka, mariadb, supervise
from stack.hdfs import DataNode
from stack.kafka import Kafka
from stack.supervise import Server, read_pid_file, write_pid_file
from stack.topology import ALL_SERVERS, Topology, environment
from weather.common.process import ProcessId
from world import wait_for


class Sleeper(Server):
    """A stand-in server: `sleep`, started and stopped through the stack's own process management."""

    def __init__(self) -> None:
        super().__init__("sleeper", 1, stop_timeout=5)

    def command(self) -> list[str]:
        return ["sleep", "300"]


@pytest.fixture
def var(tmp_path, monkeypatch):
    monkeypatch.setattr(supervise, "RUN", tmp_path / "run")
    monkeypatch.setattr(supervise, "LOGS", tmp_path / "log")
    monkeypatch.setattr(supervise, "port_open", lambda port, host=supervise.HOST: False)
    return tmp_path


@pytest.fixture
def stranger():
    """A process the stack did not start, which happens to hold a pid a pid file names."""
    process = subprocess.Popen(["sleep", "300"])
    yield process
    process.kill()
    process.wait()


def test_a_server_started_is_recognised_and_killed(var):
    sleeper = Sleeper()
    sleeper.start()
    pid = sleeper.pid()
    assert pid is not None and read_pid_file(sleeper.pid_file, sleeper.command) == ProcessId.of(pid)
    sleeper.kill()
    assert sleeper.pid() is None and not sleeper.pid_file.exists()


def test_a_recycled_pid_is_never_signalled(var, stranger):
    sleeper = Sleeper()
    sleeper.pid_file.parent.mkdir(parents=True)
    # The pid file names the stranger's pid, but the process it recorded started at another moment.
    recorded = ProcessId.of(stranger.pid)
    write_pid_file(sleeper.pid_file, ProcessId(stranger.pid, recorded.start - 1, recorded.boot))
    assert sleeper.pid() is None and not sleeper.running()
    sleeper.kill()
    sleeper.stop()
    assert stranger.poll() is None, "the stack signalled a process it did not start"
    assert not sleeper.pid_file.exists()


def test_a_pid_from_another_boot_is_not_the_server(var, stranger):
    sleeper = Sleeper()
    sleeper.pid_file.parent.mkdir(parents=True)
    write_pid_file(sleeper.pid_file, ProcessId(stranger.pid, ProcessId.of(stranger.pid).start, "another-boot"))
    assert sleeper.pid() is None
    sleeper.kill()
    assert stranger.poll() is None


def test_a_bare_pid_file_counts_only_for_the_servers_own_command_line(var, stranger):
    sleeper = Sleeper()
    sleeper.pid_file.parent.mkdir(parents=True)
    sleeper.pid_file.write_text(f"{stranger.pid}\n")  # as an older stack wrote it
    assert sleeper.pid() == stranger.pid  # `sleep 300` is the sleeper's own command line
    sleeper.command = lambda: ["mariadbd", "--no-defaults"]
    assert sleeper.pid() is None
    sleeper.kill()
    assert stranger.poll() is None


class Starting(Server):
    """A stand-in server running a shell script, refusing its first `refusals` readiness checks as a
    server not listening yet does."""

    def __init__(self, script: str, refusals: int = 0) -> None:
        super().__init__("starting", 1, stop_timeout=0.5)
        self.script, self.refusals, self.set_up = script, refusals, False

    def command(self) -> list[str]:
        return ["sh", "-c", self.script]

    def is_ready(self) -> bool:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionRefusedError("not listening yet")
        return True

    def after_ready(self) -> None:
        self.set_up = True


def test_wait_ready_asks_again_until_the_server_answers_then_sets_it_up(var):
    server = Starting("exec sleep 300", refusals=2)
    server.start()
    try:
        server.wait_ready(timeout=10)
        assert server.set_up and server.refusals == 0
    finally:
        server.kill()


def test_a_server_exiting_while_starting_is_said_with_its_log(var):
    server = Starting("echo bad setting; exit 3", refusals=100)
    server.start()
    with pytest.raises(supervise.StackError, match=r"(?s)^starting exited while starting; its log is .*bad setting"):
        server.wait_ready(timeout=10)


def test_a_server_not_ready_in_time_is_said_with_its_log(var):
    server = Starting("echo still starting; exec sleep 300", refusals=100)
    server.start()
    try:
        with pytest.raises(supervise.StackError, match=r"(?s)^starting was not ready after 1 s; .*still starting"):
            server.wait_ready(timeout=1)
    finally:
        server.kill()


def test_a_server_ignoring_sigterm_is_killed_after_its_stop_timeout(var):
    server = Starting("trap '' TERM; exec sleep 300")  # an ignored signal stays ignored across exec
    server.start()
    cmdline = Path(f"/proc/{server.pid()}/cmdline")
    wait_for(lambda: cmdline.read_bytes().startswith(b"sleep"), 10, "the script's exec")
    began = time.monotonic()
    server.stop()
    assert not server.running() and not server.pid_file.exists()
    assert 0.5 <= time.monotonic() - began < 5


def test_default_topology_is_one_broker_and_three_datanodes(var, monkeypatch):
    monkeypatch.delenv("STACK_BROKERS", raising=False)
    topology = Topology.current()
    assert list(topology.servers) == ["mariadb", "namenode", "datanode-1", "datanode-2", "datanode-3", "kafka"]
    env = environment(topology)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092" and env["TOPIC_REPLICATION_FACTOR"] == "1"


def test_cluster_topology_is_remembered_and_printed(var, monkeypatch):
    monkeypatch.setenv("STACK_BROKERS", "3")
    Topology.requested().remember()
    monkeypatch.delenv("STACK_BROKERS")
    topology = Topology.current()
    assert [name for name in topology.servers if name.startswith("kafka")] == ["kafka-1", "kafka-2", "kafka-3"]
    env = environment(topology)
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert env["TOPIC_REPLICATION_FACTOR"] == "3"
    Topology.forget()
    assert Topology.current() == Topology()


def test_every_server_has_its_own_ports_and_folders():
    ports = []
    for server in ALL_SERVERS.values():
        if isinstance(server, DataNode):
            ports += [server.transfer_port, server.http_port, server.ipc_port]
        elif isinstance(server, Kafka) and server.name != "kafka":
            ports += [server.port, server.controller_port]
    ports += [hdfs.NAMENODE_PORT, hdfs.NAMENODE_HTTP_PORT, mariadb.MARIADB_PORT]
    assert len(ports) == len(set(ports))
    folders = [s.data_dir for s in ALL_SERVERS.values() if isinstance(s, DataNode)]
    folders += [s.home for s in ALL_SERVERS.values() if isinstance(s, Kafka)]
    assert len(folders) == len(set(folders))


def test_cluster_nodes_settings(var, monkeypatch):
    node = Topology(brokers=3).servers["kafka-2"]
    settings = kafka._read_properties_text(node.settings())
    assert settings["node.id"] == "2"
    assert settings["controller.quorum.voters"] == "1@127.0.0.1:9093,2@127.0.0.1:9095,3@127.0.0.1:9097"
    assert "controller.quorum.bootstrap.servers" not in settings
    assert settings["listeners"] == "PLAINTEXT://127.0.0.1:9094,CONTROLLER://127.0.0.1:9095"
    for key, value in {"default.replication.factor": "3", "min.insync.replicas": "2",
                       "offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3",
                       "transaction.state.log.min.isr": "2", "share.coordinator.state.topic.replication.factor": "3",
                       "share.coordinator.state.topic.min.isr": "2"}.items():
        assert settings[key] == value, key
    single = kafka._read_properties_text(Topology().servers["kafka"].settings())
    assert single["default.replication.factor"] == "1" and single["controller.quorum.bootstrap.servers"]


def test_bad_broker_count_is_refused(monkeypatch):
    monkeypatch.setenv("STACK_BROKERS", "2")
    with pytest.raises(supervise.StackError, match="1 broker .* or 3"):
        Topology.requested()


def test_a_cluster_id_never_starts_with_a_dash(monkeypatch):
    """kafka-storage reads `-t -xyz...` as a missing id and an unknown option: one id in 64 would fail."""
    import uuid

    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(kafka.uuid, "uuid4", lambda: next(draws))
    cluster_id = kafka._cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22 and cluster_id == kafka.base64.urlsafe_b64encode(b"\x01" * 16).decode().rstrip("=")
