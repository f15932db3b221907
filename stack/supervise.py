"""Process supervision for the local servers: start, wait until ready, stop, pid files, logs, ports.

Everything the servers own lives under var/: jars, state, logs (var/log/<server>.log), pid files
(var/run/<server>.pid). A `Server` says how to prepare its state once, its command line and when it
is really ready; this module runs it as an ordinary process in its own session and stops it. A pid
file records the process's identity (weather/common/process.py: pid, start time, boot), so a pid
reused by another process once the server is gone is never taken for it, nor signalled.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from weather.common.process import PROC, ProcessId
from weather.common.waiting import TimedOut, wait_until

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "stack" / "conf"
VAR = Path(os.environ.get("STACK_VAR", ROOT / "var"))
JARS = VAR / "jars"
LOGS = VAR / "log"
RUN = VAR / "run"

HOST = "127.0.0.1"  # every server listens on this address only

PORT_FREE_WAIT = 30  # seconds a server's port may take to be released by the one stopped before it


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

    def process(self) -> ProcessId | None:
        """The server's process, only if the one this stack started still runs."""
        return read_pid_file(self.pid_file, self.command)

    def pid(self) -> int | None:
        process = self.process()
        return process.pid if process else None

    def running(self) -> bool:
        return self.process() is not None

    def start(self) -> None:
        if self.running():
            return
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        self.prepare()
        try:  # a server stopped just before may still be exiting
            wait_until(lambda: not port_open(self.port), PORT_FREE_WAIT, f"port {self.port} free")
        except TimedOut:
            raise StackError(f"{self.name}: port {HOST}:{self.port} is already taken by another process; "
                             f"stop it (e.g. `ss -ltnp | grep {self.port}`) and run `make up` again") from None
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name} ===\n".encode())
            log.flush()
            proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=ROOT, start_new_session=True)
        write_pid_file(self.pid_file, ProcessId.of(proc.pid))  # found: a child is in /proc until it is reaped

    def wait_ready(self, timeout: float = 90.0) -> None:
        def ready() -> bool:
            if not self.running():
                raise StackError(f"{self.name} exited while starting; its log is {self.log_file}:\n"
                                 f"{log_tail(self.name)}")
            try:
                if self.is_ready():
                    self.after_ready()
                    return True
            except StackError:
                raise
            except Exception:  # not answering yet
                pass
            return False

        try:
            wait_until(ready, timeout, f"{self.name} ready", every=0.5)
        except TimedOut:
            raise StackError(f"{self.name} was not ready after {timeout:.0f} s; its log is {self.log_file}:\n"
                             f"{log_tail(self.name)}") from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process = self.process()
        if process is None:
            self.pid_file.unlink(missing_ok=True)
            return
        # The server alone, not its process group: a group id is a pid too, and the servers start no children.
        process.signal(sig)

        def exited() -> bool:
            return not process.alive()
        try:
            wait_until(exited, self.stop_timeout if sig != signal.SIGKILL else 10, f"{self.name} exited")
        except TimedOut:
            process.signal(signal.SIGKILL)
            wait_until(exited, None, f"{self.name} exited", every=0.1)
        self.pid_file.unlink(missing_ok=True)

    def rss_bytes(self) -> int | None:
        pid = self.pid()
        return _rss_bytes(pid) if pid else None

    def kill(self) -> None:
        """SIGKILL, for fault tests: no clean shutdown."""
        self.stop(signal.SIGKILL)


def write_pid_file(path: Path, process: ProcessId) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps({"pid": process.pid, "start": process.start, "boot": process.boot}) + "\n")
    os.replace(temp, path)


def read_pid_file(path: Path, command: Callable[[], list[str]]) -> ProcessId | None:
    """The process recorded in path if that very process still runs, else None."""
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        if text.isdigit():  # an older stack's pid file: the bare pid
            return _running_command(int(text), command)
        data = json.loads(text)
        if data.get("start") is None:  # written when the start time could not be read
            return _running_command(int(data["pid"]), command)
        recorded = ProcessId(int(data["pid"]), int(data["start"]), data.get("boot", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return recorded if recorded.alive() else None


def _running_command(pid: int, command: Callable[[], list[str]]) -> ProcessId | None:
    """The process with a bare pid, believed only if it runs the server's own command line."""
    process = ProcessId.of(pid)
    try:
        cmdline = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        return None
    # Still alive afterwards: the command line read was this process's, not a later one's with its pid.
    same = [arg.decode(errors="replace") for arg in cmdline] == command()
    return process if same and process is not None and process.alive() else None


def _rss_bytes(pid: int) -> int | None:
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def java(heap: str, classpath: str, *args: str) -> list[str]:
    """A JVM's command line for the stack's servers and tools (small fixed heap, quick start)."""
    return ["java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true", "-cp", classpath, *args]


def require_jars(folder: str) -> None:
    if not any((JARS / folder).glob("*.jar")):
        raise StackError(f"the {folder} jars are missing in {JARS / folder}; run `make setup` first")
