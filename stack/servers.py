"""The local servers (Kafka, a NameNode, three DataNodes, MariaDB) as ordinary processes.

Everything they own lives under var/: jars, state, logs (var/log/<server>.log), pid files.
Each server knows how to prepare its state once, start, tell when it is really ready, and stop.
Which servers run is the topology (`Topology`): one Kafka broker by default, three with
STACK_BROKERS=3; `up` remembers it in var/run/topology.json so every later command agrees.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "stack" / "conf"
VAR = Path(os.environ.get("STACK_VAR", ROOT / "var"))
JARS = VAR / "jars"
LOGS = VAR / "log"
RUN = VAR / "run"

# Every name and port of the stack is decided here (and in Topology below).
HOST = "127.0.0.1"
KAFKA_PORT = 9092             # the single broker; in the cluster, broker N listens on 9092 + 2(N-1)
NAMENODE_PORT = 9000
NAMENODE_HTTP_PORT = 9870
DATANODE_PORTS = (9866, 9864, 9867)  # data transfer, HTTP, IPC of datanode-1; datanode-N adds 10(N-1)
MARIADB_PORT = 3306
MARIADB_PASSWORD = "abc"
DATABASE = "CS544"
TABLE_DDL = ("CREATE TABLE IF NOT EXISTS temperatures (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
             "station_id TEXT, date DATE, degrees DOUBLE)")


PORT_FREE_WAIT = 30  # seconds a server's port may take to be released by the one stopped before it


class StackError(RuntimeError):
    """A server could not be prepared, started or reached; the message says which and where its log is."""


def log_tail(name: str, lines: int = 25) -> str:
    path = LOGS / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


def _port_freed(port: int, seconds: float) -> bool:
    """True once nothing listens on the port; a server stopped just before may still be exiting."""
    deadline = time.monotonic() + seconds
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclass
class Server:
    name: str
    port: int
    stop_timeout: float = 30.0

    # -- subclass hooks -------------------------------------------------------------------
    def prepare(self) -> None:
        """Create the server's state on first use; harmless when it already exists."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def after_ready(self) -> None:
        """One-time work that needs the running server (users, schema)."""

    # -- process management ---------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        return RUN / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return LOGS / f"{self.name}.log"

    def pid(self) -> int | None:
        """The server's pid, only if that process is still the one this stack started (see ProcessId)."""
        return ProcessId.read(self.pid_file, self.command)

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.running():
            return
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        self.prepare()
        if not _port_freed(self.port, PORT_FREE_WAIT):
            raise StackError(f"{self.name}: port {HOST}:{self.port} is already taken by another process; "
                             f"stop it (e.g. `ss -ltnp | grep {self.port}`) and run `make up` again")
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        ProcessId.of(proc.pid).write(self.pid_file)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise StackError(f"{self.name} exited while starting; its log is {self.log_file}:\n"
                                 f"{log_tail(self.name)}")
            try:
                if self.is_ready():
                    self.after_ready()
                    return
            except StackError:
                raise
            except Exception:  # not answering yet
                pass
            time.sleep(0.5)
        raise StackError(f"{self.name} was not ready after {timeout:.0f} s; its log is {self.log_file}:\n"
                         f"{log_tail(self.name)}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        _signal_verified(pid, self.pid_file, self.command, sig)
        deadline = time.monotonic() + (self.stop_timeout if sig != signal.SIGKILL else 10)
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)
        if self.running():
            _signal_verified(pid, self.pid_file, self.command, signal.SIGKILL)
            while self.running():
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)

    def rss_bytes(self) -> int | None:
        pid = self.pid()
        return _rss_bytes(pid) if pid else None

    def kill(self) -> None:
        """SIGKILL, for fault tests: no clean shutdown."""
        self.stop(signal.SIGKILL)


def _proc_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (field 3 onwards), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class ProcessId:
    """A process as the stack recorded it: its pid plus when it started (clock ticks after boot) and the boot.

    A pid alone may be recycled once the server is gone, by any process; the start time and the boot
    tell the server's own process apart from a later one with the same pid, so nothing else is ever signalled.
    """
    pid: int
    start: int | None   # /proc/<pid>/stat field 22; None in pid files written before this check existed
    boot: str = ""

    @classmethod
    def of(cls, pid: int) -> "ProcessId":
        fields = _proc_stat(pid)
        return cls(pid, int(fields[19]) if fields else None, _boot_id())

    def write(self, path: Path) -> None:
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps({"pid": self.pid, "start": self.start, "boot": self.boot}) + "\n")
        os.replace(temp, path)

    @classmethod
    def load(cls, path: Path) -> "ProcessId | None":
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        try:
            if text.isdigit():  # an older stack's pid file: the bare pid
                return cls(int(text), None)
            data = json.loads(text)
            return cls(int(data["pid"]), data.get("start"), data.get("boot", ""))
        except (ValueError, KeyError, TypeError):
            return None

    def alive(self, command: Callable[[], list[str]]) -> bool:
        """True if this process still runs and is the one recorded (else its pid is now someone else's)."""
        fields = _proc_stat(self.pid)
        if fields is None or fields[0] == "Z":
            return False
        if self.start is not None:
            return int(fields[19]) == self.start and (not self.boot or self.boot == _boot_id())
        # A bare pid: believe it only if the process runs the server's own command line.
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes().split(b"\0")[:-1]
        except OSError:
            return False
        return [arg.decode(errors="replace") for arg in cmdline] == command()

    @classmethod
    def read(cls, path: Path, command: Callable[[], list[str]]) -> int | None:
        """The pid recorded in path if that very process still runs, else None."""
        recorded = cls.load(path)
        return recorded.pid if recorded is not None and recorded.alive(command) else None


def _signal_verified(pid: int, pid_file: Path, command: Callable[[], list[str]], sig: int) -> None:
    """Signal the server, having checked that pid is still the process recorded in pid_file; the check and
    the signal go through one pidfd, so the pid cannot be recycled between them."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if ProcessId.read(pid_file, command) != pid:
            return
        # The server alone, not its process group: a group id is a pid too, and the servers start no children.
        signal.pidfd_send_signal(handle, sig)
    except ProcessLookupError:
        pass
    finally:
        os.close(handle)


def _rss_bytes(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _java(heap: str, classpath: str, *args: str) -> list[str]:
    return ["java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true", "-cp", classpath, *args]


def _require_jars(folder: str) -> None:
    if not any((JARS / folder).glob("*.jar")):
        raise StackError(f"the {folder} jars are missing in {JARS / folder}; run `make setup` first")


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
    return "\n".join([*kept, "", "# This node (stack/servers.py):",
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
        _require_jars("kafka")
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
            _java("256m", str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
                  "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties),
                  *quorum, "--ignore-formatted"),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"{self.name}: formatting storage failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        heap = "512m" if self.voters is None else "384m"
        return _java(heap, str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
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


# The local stack's DataNode liveness settings, generic options of both daemons, on top of the shared
# hdfs-site.xml (whose reference values the Docker images keep: 3 s heartbeats, stale after 10 s,
# recheck every 30 s, so dead after ~90 s). hdfs-native never excludes a failed DataNode from a new
# block's pipeline, so until the NameNode avoids the lost one (stale) or drops it (dead) new files
# fail; measured with the reference values, commits paused 1-23 s after a DataNode kill (see
# docs/RELIABILITY.md). Here: heartbeats every 1 s, stale after 3 s, dead after 2 x 5 s + 10 x 1 s = 20 s.
LOCAL_HDFS_LIVENESS = {"dfs.heartbeat.interval": "1", "dfs.namenode.stale.datanode.interval": "3000",
                       "dfs.namenode.heartbeat.recheck-interval": "5000"}


class _HdfsDaemon(Server):
    main_class = ""
    heap = "384m"

    def command(self) -> list[str]:
        return [*_java(self.heap, f"{CONF}:{JARS / 'hadoop' / '*'}",
                       f"-Dlog4j.configuration=file:{CONF / 'log4j.properties'}",
                       # Every HDFS folder default is under hadoop.tmp.dir: point it into var/.
                       f"-Dhadoop.tmp.dir={VAR / 'hdfs'}", f"-Dhadoop.log.dir={LOGS}",
                       self.main_class),
                # generic options, read by the daemon's own argument parser
                *(f"-D{key}={value}" for key, value in LOCAL_HDFS_LIVENESS.items())]

    def prepare(self) -> None:
        _require_jars("hadoop")


class NameNode(_HdfsDaemon):
    main_class = "org.apache.hadoop.hdfs.server.namenode.NameNode"

    def __init__(self) -> None:
        super().__init__("namenode", NAMENODE_PORT)

    def prepare(self) -> None:
        super().prepare()
        if (VAR / "hdfs" / "dfs" / "name" / "current" / "VERSION").exists():
            return
        result = subprocess.run([*self.command(), "-format", "-force", "-nonInteractive"],
                                capture_output=True, text=True, cwd=ROOT)
        if result.returncode != 0:
            raise StackError(f"namenode: format failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")

    def state(self) -> dict:
        url = (f"http://{HOST}:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState")
        with urllib.request.urlopen(url, timeout=3) as response:
            return json.load(response)["beans"][0]

    def is_ready(self) -> bool:
        # The NameNode alone is "ready" when it answers; out of safe mode needs a DataNode (see DataNode).
        self.state()
        return True


class DataNode(_HdfsDaemon):
    """datanode-N: its own ports and data folder; ready once the NameNode counts it live and safe mode is off."""
    main_class = "org.apache.hadoop.hdfs.server.datanode.DataNode"
    heap = "256m"

    def __init__(self, number: int) -> None:
        self.transfer_port, self.http_port, self.ipc_port = (port + 10 * (number - 1) for port in DATANODE_PORTS)
        super().__init__(f"datanode-{number}", self.transfer_port)
        # datanode-1 keeps the folder of the stack's former single DataNode (hadoop.tmp.dir's default),
        # so an existing var/ keeps its blocks.
        self.data_dir = VAR / "hdfs" / "dfs" / ("data" if number == 1 else f"data-{number}")

    def command(self) -> list[str]:
        return [*super().command(),
                f"-Ddfs.datanode.address={HOST}:{self.transfer_port}",
                f"-Ddfs.datanode.http.address={HOST}:{self.http_port}",
                f"-Ddfs.datanode.ipc.address={HOST}:{self.ipc_port}",
                f"-Ddfs.datanode.data.dir=file://{self.data_dir}"]

    def registered(self) -> bool:
        """This very process (asked on its own HTTP port) has registered with the NameNode and heartbeats.

        The NameNode alone cannot tell: it still counts a killed DataNode live until it goes stale."""
        url = f"http://{HOST}:{self.http_port}/jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo"
        with urllib.request.urlopen(url, timeout=3) as response:
            actors = json.loads(json.load(response)["beans"][0]["BPServiceActorInfo"])
        return bool(actors) and all(actor.get("ActorState") == "RUNNING" for actor in actors)

    def is_ready(self) -> bool:
        return self.registered() and self.transfer_port in live_datanode_ports() and not _in_safe_mode()


def _namenode_info() -> dict:
    url = f"http://{HOST}:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    with urllib.request.urlopen(url, timeout=3) as response:
        return json.load(response)["beans"][0]


def live_datanode_ports() -> set[int]:
    """The data transfer ports of the DataNodes that the NameNode counts as live."""
    live = json.loads(_namenode_info()["LiveNodes"])
    return {int(node["xferaddr"].rsplit(":", 1)[1]) for node in live.values()}


def fsck(path: str) -> str:
    """The NameNode's fsck report of path with its blocks and their locations (what `hdfs fsck` prints)."""
    query = urllib.parse.urlencode({"ugi": "root", "files": 1, "blocks": 1, "locations": 1, "path": path})
    with urllib.request.urlopen(f"http://{HOST}:{NAMENODE_HTTP_PORT}/fsck?{query}", timeout=30) as response:
        return response.read().decode()


def _in_safe_mode() -> bool:
    return bool(_namenode_info()["Safemode"])


class MariaDB(Server):
    def __init__(self) -> None:
        super().__init__("mariadb", MARIADB_PORT, stop_timeout=60.0)
        self.home = VAR / "mariadb"
        self.datadir = self.home / "data"
        self.socket = self.home / "mariadb.sock"

    @staticmethod
    def _binary(*names: str) -> str:
        for name in names:
            path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
            if path:
                return path
        raise StackError(f"mariadb: {names[0]} is not installed; run `make setup` (it installs mariadb-server)")

    def _as_root(self) -> list[str]:
        return ["--user=root"] if os.geteuid() == 0 else []

    def prepare(self) -> None:
        if (self.datadir / "mysql").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [self._binary("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--datadir={self.datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db", *self._as_root()],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"mariadb: install-db failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")

    def command(self) -> list[str]:
        return [self._binary("mariadbd", "mysqld"), "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.socket}", f"--port={MARIADB_PORT}", f"--bind-address={HOST}",
                f"--pid-file={self.home / 'mariadbd.pid'}", "--skip-log-bin", "--skip-name-resolve",
                "--innodb-buffer-pool-size=64M", "--max-connections=200",
                "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
                *self._as_root()]

    def sql(self, statement: str, password: str | None = MARIADB_PASSWORD,
            over_tcp: bool = False) -> subprocess.CompletedProcess:
        auth = [f"-p{password}"] if password else []
        where = [f"--host={HOST}", f"--port={MARIADB_PORT}"] if over_tcp else [f"--socket={self.socket}"]
        return subprocess.run([self._binary("mariadb", "mysql"), "--no-defaults", "-uroot", *auth, *where,
                               "-e", statement], capture_output=True, text=True)

    def is_ready(self) -> bool:
        return self.sql("SELECT 1").returncode == 0 or self.sql("SELECT 1", password=None).returncode == 0

    def after_ready(self) -> None:
        if self.sql("SELECT 1", over_tcp=True).returncode != 0:
            # First start: install-db made password-less root accounts (localhost, 127.0.0.1, ::1, this
            # host). Keep one for the socket and one for TCP, both with the specification's password.
            setup = (f"DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@'{socket.gethostname()}';"
                     f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{MARIADB_PASSWORD}';"
                     f"CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '{MARIADB_PASSWORD}';"
                     "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION; FLUSH PRIVILEGES;")
            password = MARIADB_PASSWORD if self.sql("SELECT 1").returncode == 0 else None
            result = self.sql(setup, password=password)
            if result.returncode != 0:
                raise StackError(f"mariadb: setting root's password failed: {result.stderr.strip()}")
        result = self.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE}; USE {DATABASE}; {TABLE_DDL};", over_tcp=True)
        if result.returncode != 0:
            raise StackError(f"mariadb: creating {DATABASE}.temperatures failed: {result.stderr.strip()}")


def _topology_file() -> Path:
    return RUN / "topology.json"


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
        RUN.mkdir(parents=True, exist_ok=True)
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
    """The pipeline's configuration (see src/weather/config.py) pointing at this stack."""
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
