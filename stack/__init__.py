"""The local stack: real Kafka, HDFS and MariaDB servers as local processes.

supervise.py runs a server as a process (pid files, readiness, stop); kafka.py, hdfs.py and mariadb.py
are the servers; topology.py says which of them run and prints the pipeline's settings for them.
The pipeline never imports this package.
"""
import sys
from pathlib import Path

# A server's pid file names its process as the single-writer lock names its holder, by the one
# implementation in src/weather/common/process.py. `python -m stack` runs from the repository root,
# where src/ is not on the import path: this puts it there, once, for every module of the stack.
_SRC = str(Path(__file__).resolve().parent.parent / "src")
if _SRC not in sys.path:
    sys.path.append(_SRC)
