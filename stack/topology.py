"""Which servers the stack runs (the topology), and how the pipeline reaches them (`environment`).

`up` remembers the topology in var/run/topology.json so every later command agrees on it. The names
of the servers are decided here, and the Kafka cluster's ports; each server's own module holds its ports.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .hdfs import NAMENODE_HTTP_PORT, NAMENODE_PORT, DataNode, NameNode
from .kafka import KAFKA_PORT, Kafka
from .mariadb import DATABASE, MARIADB_PASSWORD, MARIADB_PORT, MariaDB
from . import supervise
from .supervise import CONF, HOST, LOGS, VAR, Server, StackError


def _topology_file() -> Path:
    return supervise.RUN / "topology.json"  # read at each call: tests point RUN elsewhere


@dataclass(frozen=True)
class Topology:
    """Which servers the stack runs: MariaDB, a NameNode, `datanodes` DataNodes and `brokers` Kafka nodes.

    brokers=1 is the specification's single broker `kafka` on 127.0.0.1:9092 (replication 1);
    brokers=3 is a cluster `kafka-1`..`kafka-3` (replication 3, min ISR 2, a 3-voter KRaft quorum).
    """
    brokers: int = 1
    datanodes: int = 3

    def __post_init__(self) -> None:
        if self.brokers not in (1, 3):
            raise StackError(f"STACK_BROKERS={self.brokers}: the stack runs 1 broker (the default) or 3")
        if not 1 <= self.datanodes <= 3:
            raise StackError(f"STACK_DATANODES={self.datanodes}: the stack runs 1 to 3 DataNodes (default 3)")

    @classmethod
    def requested(cls) -> "Topology":
        """What `up` should run: STACK_BROKERS / STACK_DATANODES where set, else what runs now, else the default."""
        current = cls.current()
        try:
            return cls(int(os.environ.get("STACK_BROKERS", current.brokers)),
                       int(os.environ.get("STACK_DATANODES", current.datanodes)))
        except ValueError:
            raise StackError("STACK_BROKERS and STACK_DATANODES must be whole numbers") from None

    @classmethod
    def current(cls) -> "Topology":
        """The topology `up` last started (remembered until `down`), else the default."""
        try:
            data = json.loads(_topology_file().read_text())
            return cls(int(data["brokers"]), int(data["datanodes"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return cls()

    def remember(self) -> None:
        _topology_file().parent.mkdir(parents=True, exist_ok=True)
        _topology_file().write_text(json.dumps({"brokers": self.brokers, "datanodes": self.datanodes}) + "\n")

    @classmethod
    def forget(cls) -> None:
        _topology_file().unlink(missing_ok=True)

    @property
    def kafka(self) -> list[Kafka]:
        if self.brokers == 1:
            return [Kafka("kafka", 1, KAFKA_PORT, KAFKA_PORT + 1)]
        ports = {node: KAFKA_PORT + 2 * (node - 1) for node in range(1, self.brokers + 1)}
        voters = {node: port + 1 for node, port in ports.items()}
        return [Kafka(f"kafka-{node}", node, port, port + 1, voters) for node, port in ports.items()]

    @property
    def servers(self) -> dict[str, Server]:
        """Every server, in start order (MariaDB, HDFS, then Kafka); `down` stops them in reverse."""
        chosen = [MariaDB(), NameNode(), *(DataNode(n) for n in range(1, self.datanodes + 1)), *self.kafka]
        return {server.name: server for server in chosen}

    @property
    def replication_factor(self) -> int:
        return 3 if self.brokers == 3 else 1

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(broker.bootstrap for broker in self.kafka)


# Every server any topology can run, by name (for `down`, and for `python -m stack` to name them).
ALL_SERVERS: dict[str, Server] = {**Topology(brokers=1).servers, **Topology(brokers=3).servers}


def environment(topology: Topology | None = None) -> dict[str, str]:
    """The pipeline's configuration (see src/weather/common/config.py) pointing at this stack."""
    topology = topology or Topology.current()
    return {
        "KAFKA_BOOTSTRAP_SERVERS": topology.bootstrap_servers,
        "TOPIC_REPLICATION_FACTOR": str(topology.replication_factor),
        "DB_URL": (f"mysql+mysqlconnector://root:{MARIADB_PASSWORD}@{HOST}:{MARIADB_PORT}/{DATABASE}"
                   "?charset=utf8mb4&collation=utf8mb4_unicode_ci"),
        "DATA_URL": f"hdfs://{HOST}:{NAMENODE_PORT}/data",
        # The HDFS client (hdfs-native) reads the client settings of the shared hdfs-site.xml from here,
        # as it does in the Docker image: the write pipeline's DataNode replacement policy.
        "HADOOP_CONF_DIR": str(CONF),
        "CHECKPOINT_DIR": str(VAR / "checkpoints"),
        "PROJECT": os.environ.get("PROJECT", "p7"),
    }


def endpoints(topology: Topology | None = None) -> list[str]:
    topology = topology or Topology.current()
    kafka = ("1 broker" if topology.brokers == 1 else f"{topology.brokers} brokers, replication 3, min ISR 2")
    datanodes = ", ".join(f"{node.name} :{node.transfer_port}" for node in topology.servers.values()
                          if isinstance(node, DataNode))
    return [f"Kafka      {topology.bootstrap_servers}  ({kafka})",
            f"HDFS       hdfs://{HOST}:{NAMENODE_PORT}   web UI http://{HOST}:{NAMENODE_HTTP_PORT}",
            f"           {datanodes}",
            f"MariaDB    {HOST}:{MARIADB_PORT}  (root / {MARIADB_PASSWORD}, database {DATABASE})",
            f"Logs       {LOGS}/<server>.log"]
