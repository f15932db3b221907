"""HDFS: a NameNode and DataNodes `datanode-N`, and what the NameNode says of them (JMX, fsck)."""
from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request

from .supervise import CONF, HOST, JARS, LOGS, ROOT, VAR, Server, StackError, java, require_jars

NAMENODE_PORT = 9000
NAMENODE_HTTP_PORT = 9870
DATANODE_PORTS = (9866, 9864, 9867)  # data transfer, HTTP, IPC of datanode-1; datanode-N adds 10(N-1)

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
        return [*java(self.heap, f"{CONF}:{JARS / 'hadoop' / '*'}",
                       f"-Dlog4j.configuration=file:{CONF / 'log4j.properties'}",
                       # Every HDFS folder default is under hadoop.tmp.dir: point it into var/.
                       f"-Dhadoop.tmp.dir={VAR / 'hdfs'}", f"-Dhadoop.log.dir={LOGS}",
                       self.main_class),
                # generic options, read by the daemon's own argument parser
                *(f"-D{key}={value}" for key, value in LOCAL_HDFS_LIVENESS.items())]

    def prepare(self) -> None:
        require_jars("hadoop")


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



def namesystem() -> dict:
    """The NameNode's FSNamesystem figures (JMX): FilesTotal (files and folders), BlocksTotal, capacity."""
    url = f"http://{HOST}:{NAMENODE_HTTP_PORT}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystem"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["beans"][0]
