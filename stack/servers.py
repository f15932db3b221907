"""The four local servers (Kafka, NameNode, DataNode, MariaDB) as ordinary processes.

Everything they own lives under var/: jars, state, logs (var/log/<server>.log), pid files.
Each server knows how to prepare its state once, start, tell when it is really ready, and stop.
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
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "stack" / "conf"
VAR = Path(os.environ.get("STACK_VAR", ROOT / "var"))
JARS = VAR / "jars"
LOGS = VAR / "log"
RUN = VAR / "run"

HOST = "127.0.0.1"
KAFKA_PORT = 9092
NAMENODE_PORT = 9000
NAMENODE_HTTP_PORT = 9870
MARIADB_PORT = 3306
MARIADB_PASSWORD = "abc"
DATABASE = "CS544"
TABLE_DDL = ("CREATE TABLE IF NOT EXISTS temperatures (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
             "station_id TEXT, date DATE, degrees DOUBLE)")


class StackError(RuntimeError):
    """A server could not be prepared, started or reached; the message says which and where its log is."""


def log_tail(name: str, lines: int = 25) -> str:
    path = LOGS / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return "\n".join(f"    {line}" for line in text)


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
        try:
            pid = int(self.pid_file.read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        if _is_zombie(pid):
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.running():
            return
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        self.prepare()
        if port_open(self.port):
            raise StackError(f"{self.name}: port {HOST}:{self.port} is already taken by another process; "
                             f"stop it (e.g. `ss -ltnp | grep {self.port}`) and run `make up` again")
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        self.pid_file.write_text(str(proc.pid))

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
        os.killpg(pid, sig)
        deadline = time.monotonic() + (self.stop_timeout if sig != signal.SIGKILL else 10)
        while time.monotonic() < deadline and self.running():
            time.sleep(0.2)
        if self.running():
            os.killpg(pid, signal.SIGKILL)
            while self.running():
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL, for fault tests: no clean shutdown."""
        self.stop(signal.SIGKILL)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def _java(heap: str, classpath: str, *args: str) -> list[str]:
    return ["java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true", "-cp", classpath, *args]


def _require_jars(folder: str) -> None:
    if not any((JARS / folder).glob("*.jar")):
        raise StackError(f"the {folder} jars are missing in {JARS / folder}; run `make setup` first")


class Kafka(Server):
    def __init__(self) -> None:
        super().__init__("kafka", KAFKA_PORT)
        self.home = VAR / "kafka"
        self.properties = self.home / "server.properties"

    def prepare(self) -> None:
        _require_jars("kafka")
        self.home.mkdir(parents=True, exist_ok=True)
        # The shared settings plus where this stack keeps its log segments.
        self.properties.write_text(
            (CONF / "server.properties").read_text() + f"\nlog.dirs={self.home / 'data'}\n")
        if (self.home / "data" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            _java("256m", str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
                  "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties),
                  "--standalone", "--ignore-formatted"),
            capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"kafka: formatting storage failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return _java("512m", str(JARS / "kafka" / "*"), f"-Dlog4j2.configurationFile={CONF / 'log4j2.yaml'}",
                     "kafka.Kafka", str(self.properties))

    def is_ready(self) -> bool:
        from kafka import KafkaAdminClient  # the venv's client; the stack is run from it

        admin = KafkaAdminClient(bootstrap_servers=f"{HOST}:{KAFKA_PORT}", request_timeout_ms=3000,
                                 client_id="stack-ready")
        try:
            return admin.describe_cluster()["controller_id"] is not None
        finally:
            admin.close()


class _HdfsDaemon(Server):
    main_class = ""
    heap = "384m"

    def command(self) -> list[str]:
        return _java(self.heap, f"{CONF}:{JARS / 'hadoop' / '*'}",
                     f"-Dlog4j.configuration=file:{CONF / 'log4j.properties'}",
                     # Every HDFS folder default is under hadoop.tmp.dir: point it into var/.
                     f"-Dhadoop.tmp.dir={VAR / 'hdfs'}", f"-Dhadoop.log.dir={LOGS}",
                     self.main_class)

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
    main_class = "org.apache.hadoop.hdfs.server.datanode.DataNode"
    heap = "256m"

    def __init__(self) -> None:
        super().__init__("datanode", 9866)

    def is_ready(self) -> bool:
        state = NameNode().state()
        return state["NumLiveDataNodes"] >= 1 and state["FSState"] == "Operational" and not _in_safe_mode()


def _in_safe_mode() -> bool:
    url = f"http://{HOST}:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    with urllib.request.urlopen(url, timeout=3) as response:
        return bool(json.load(response)["beans"][0]["Safemode"])


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


SERVERS: dict[str, Server] = {server.name: server for server in (MariaDB(), NameNode(), DataNode(), Kafka())}


def environment() -> dict[str, str]:
    """The pipeline's configuration (see src/weather/config.py) pointing at this stack."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{KAFKA_PORT}",
        "DB_URL": (f"mysql+mysqlconnector://root:{MARIADB_PASSWORD}@{HOST}:{MARIADB_PORT}/{DATABASE}"
                   "?charset=utf8mb4&collation=utf8mb4_unicode_ci"),
        "DATA_URL": f"hdfs://{HOST}:{NAMENODE_PORT}/data",
        "CHECKPOINT_DIR": str(VAR / "checkpoints"),
        "PROJECT": os.environ.get("PROJECT", "p7"),
    }


def endpoints() -> list[str]:
    return [f"Kafka      {HOST}:{KAFKA_PORT}",
            f"HDFS       hdfs://{HOST}:{NAMENODE_PORT}   web UI http://{HOST}:{NAMENODE_HTTP_PORT}",
            f"MariaDB    {HOST}:{MARIADB_PORT}  (root / {MARIADB_PASSWORD}, database {DATABASE})",
            f"Logs       {LOGS}/<server>.log"]
