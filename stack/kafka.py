"""Kafka in KRaft mode (broker and controller in one process): the single broker, or a node of the cluster.

Which nodes run, and the cluster's ports, is the topology's choice (stack/topology.py).
"""
from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from .supervise import CONF, HOST, JARS, ROOT, VAR, Server, StackError, java, require_jars

KAFKA_PORT = 9092  # the single broker; in the cluster, broker N listens on 9092 + 2(N-1)


def _cluster_id() -> str:
    """A new Kafka cluster id: 22 base64url characters of a random UUID.

    Never one that starts with "-", which kafka-storage would read as an option (as Kafka's own
    Uuid.randomUuid does, it draws again: one id in 64 would otherwise fail the format).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _properties(text: str, overrides: dict[str, str | None]) -> str:
    """Kafka properties: text with every key of overrides removed, then those with a value appended."""
    kept = [line for line in text.splitlines()
            if line.split("=", 1)[0].strip() not in overrides or line.lstrip().startswith("#")]
    return "\n".join([*kept, "", "# This node (stack/kafka.py):",
                      *(f"{key}={value}" for key, value in overrides.items() if value is not None)]) + "\n"


class Kafka(Server):
    """One KRaft node (broker and controller in one process).

    The single broker (`kafka`) runs the shared settings unchanged, as the Docker image does. In the
    cluster each node `kafka-N` adds stack/cluster.properties (replication 3, min ISR 2) and its
    own id, ports and folder, with a static quorum of all the cluster's controllers.
    """

    def __init__(self, name: str, node_id: int, port: int, controller_port: int,
                 voters: dict[int, int] | None = None) -> None:
        super().__init__(name, port)
        self.node_id = node_id
        self.controller_port = controller_port
        self.voters = voters  # node id -> controller port; None for the single broker
        self.home = VAR / name
        self.properties = self.home / "server.properties"

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def settings(self) -> str:
        shared = (CONF / "server.properties").read_text()
        if self.voters is None:
            # The shared settings plus where this stack keeps its log segments.
            return shared + f"\nlog.dirs={self.home / 'data'}\n"
        overrides = {
            **_read_properties(ROOT / "stack" / "cluster.properties"),
            "node.id": str(self.node_id),
            "controller.quorum.voters": ",".join(f"{node}@{HOST}:{port}" for node, port in self.voters.items()),
            "controller.quorum.bootstrap.servers": None,  # the static voters list instead
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "log.dirs": str(self.home / "data"),
        }
        return _properties(shared, overrides)

    def prepare(self) -> None:
        require_jars("kafka")
        self.home.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(self.settings())
        if (self.home / "data" / "meta.properties").exists():
            return
        if self.voters is None:  # a quorum of one, formatted alone
            cluster_id, quorum = _cluster_id(), ["--standalone"]
        else:  # every node of the cluster formatted with the same id and the static voters list
            id_file = VAR / "kafka-cluster.id"
            if not id_file.exists():
                id_file.write_text(_cluster_id())
            cluster_id, quorum = id_file.read_text().strip(), []
        result = subprocess.run(
            java("256m", str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
                  "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties),
                  *quorum, "--ignore-formatted"),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"{self.name}: formatting storage failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        heap = "512m" if self.voters is None else "384m"
        return java(heap, str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
                     "kafka.Kafka", str(self.properties))

    def is_ready(self) -> bool:
        """This node answers, as a broker registered with an active controller."""
        from kafka import KafkaAdminClient  # the venv's client; the stack is run from it

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000,
                                 client_id="stack-ready")
        try:
            cluster = admin.describe_cluster()
            return (cluster["controller_id"] not in (None, -1)
                    and self.node_id in {broker["broker_id"] for broker in cluster["brokers"]})
        finally:
            admin.close()


def _read_properties(path: Path) -> dict[str, str]:
    return _read_properties_text(path.read_text())


def _read_properties_text(text: str) -> dict[str, str]:
    """key=value lines (later ones win, as in Java's Properties); comments and blank lines skipped."""
    pairs = {}
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


