"""A Docker engine for one test run, and the host put back as it was found afterwards.

Debian's docker.io engine changes the host when it starts (see ../shared/spec/docker-engine-facts.md):
IPv4 forwarding on, FORWARD policy DROP, its iptables chains and rules in nat and filter, the
docker0 bridge (and a bridge per compose network), the /run/docker/netns/default mount. Stopping it
leaves all of that behind, so `Engine` records the host's state before the start and, on the way
out, stops the daemon, removes what was added, restores what was changed and checks that the state
is the recorded one again.

    with Engine(artifacts) as engine:      # apt-get docker.io, dockerd in the background
        ...                                # docker / docker compose against it
    # stopped and restored, whatever happened inside (the `with` is the trap)

On its own, for working by hand:  python tests/docker/engine.py up|down. Every start records the
daemon's pids and the host's state in var/docker-engine/, so `down` also cleans up after a run that
was killed outright (SIGKILL leaves no chance to restore).
"""
from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "src") not in sys.path:  # run by hand as a script: src/ is not on the path
    sys.path.append(str(ROOT / "src"))
from weather.common import waiting  # noqa: E402

STATE = ROOT / "var" / "docker-engine"   # the running engine's pids and the host's state before it
TABLES = ("nat", "filter")
# Mounts the daemon makes and may leave behind; nothing outside these is ever unmounted.
ENGINE_MOUNT_ROOTS = ("/run/docker/", "/var/run/docker/", "/var/lib/docker/", "/run/containerd/")


def _run(*argv: str, check: bool = True) -> str:
    return subprocess.run(argv, check=check, capture_output=True, text=True).stdout


@dataclass
class HostState:
    """What the engine changes on the host, as comparable text."""
    ip_forward: str
    iptables: dict[str, list[str]]          # table -> `iptables -t T -S` lines (policies, chains, rules)
    links: list[str]                        # network interface names
    mounts: list[str] = field(default_factory=list)  # mount points under the engine's folders

    @classmethod
    def now(cls) -> "HostState":
        links = sorted(line.split(":", 2)[1].strip().split("@")[0]
                       for line in _run("ip", "-o", "link", "show").splitlines() if ":" in line)
        mounts = sorted({line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()
                         if line.split()[1].startswith(ENGINE_MOUNT_ROOTS)})
        return cls(ip_forward=Path("/proc/sys/net/ipv4/ip_forward").read_text().strip(),
                   iptables={table: _run("iptables", "-t", table, "-S").splitlines() for table in TABLES},
                   links=links, mounts=mounts)

    def differences(self, other: "HostState") -> list[str]:
        found = []
        if self.ip_forward != other.ip_forward:
            found.append(f"ip_forward {self.ip_forward} -> {other.ip_forward}")
        for table in TABLES:
            added = [r for r in other.iptables[table] if r not in self.iptables[table]]
            gone = [r for r in self.iptables[table] if r not in other.iptables[table]]
            found += [f"iptables -t {table}: added {r}" for r in added]
            found += [f"iptables -t {table}: missing {r}" for r in gone]
        found += [f"link added: {n}" for n in sorted(set(other.links) - set(self.links))]
        found += [f"link missing: {n}" for n in sorted(set(self.links) - set(other.links))]
        found += [f"mount added: {m}" for m in sorted(set(other.mounts) - set(self.mounts))]
        return found


def restore(before: HostState, log=print) -> None:
    """Put back what the engine changed since `before`; raise if the host still differs."""
    now = HostState.now()
    for table in TABLES:
        rules = now.iptables[table]
        # Rules first (newest first), so the chains they jump to can then be deleted.
        for rule in reversed([r for r in rules if r.startswith("-A ") and r not in before.iptables[table]]):
            argv = shlex.split(rule)
            subprocess.run(["iptables", "-t", table, "-D", *argv[1:]], check=False)
        for chain in [r.split()[1] for r in rules if r.startswith("-N ") and r not in before.iptables[table]]:
            subprocess.run(["iptables", "-t", table, "-F", chain], check=False)
            subprocess.run(["iptables", "-t", table, "-X", chain], check=False)
        for policy in [r for r in before.iptables[table] if r.startswith("-P ")]:
            _, chain, target = policy.split()
            subprocess.run(["iptables", "-t", table, "-P", chain, target], check=False)
    Path("/proc/sys/net/ipv4/ip_forward").write_text(before.ip_forward + "\n")
    for link in sorted(set(now.links) - set(before.links)):
        subprocess.run(["ip", "link", "delete", link], check=False, capture_output=True)
    for mount in sorted(set(now.mounts) - set(before.mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False)
    left = before.differences(HostState.now())
    if left:
        raise RuntimeError("host not restored after the Docker engine:\n  " + "\n  ".join(left))
    log("engine: host restored (ip_forward, FORWARD policy, iptables nat/filter, links, mounts)")


def install(logfile: Path, log=print) -> None:
    """Debian's docker.io (engine 20.10, containerd, runc, iptables); apt never starts it here."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log(f"engine: apt-get update && apt-get install docker.io (output in {logfile.name})")
    with open(logfile, "ab") as out:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=out, stderr=subprocess.STDOUT)
        subprocess.run(["apt-get", "install", "-y", "-qq", "docker.io"], check=True, env=env, stdout=out,
                       stderr=subprocess.STDOUT)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_exited(pid: int, timeout: float | None) -> None:
    """Until the process has exited; waiting.TimedOut after timeout seconds (None: no limit)."""
    waiting.wait_until(lambda: not _alive(pid), timeout, f"process {pid} to exit")


class Engine:
    """dockerd for the duration of a `with` block; the host restored on the way out."""

    def __init__(self, artifacts: Path, log=print) -> None:
        self.artifacts = artifacts
        self.log = log
        self.before: HostState | None = None
        self.daemon: subprocess.Popen | None = None
        self.helpers: list[int] = []   # containerd and the like, started by the daemon

    def start(self) -> None:
        if subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True).returncode == 0:
            raise RuntimeError("a dockerd already runs on this machine: this run owns its engine; if a killed run "
                               "left it, `python tests/docker/engine.py down` stops it and restores the host")
        install(self.artifacts / "apt.log", self.log)
        self.before = HostState.now()
        STATE.mkdir(parents=True, exist_ok=True)
        for folder in {self.artifacts, STATE}:
            (folder / "host-before.json").write_text(json.dumps(asdict(self.before), indent=1))
        logfile = open(self.artifacts / "dockerd.log", "ab")
        self.daemon = subprocess.Popen(["dockerd", "--storage-driver=overlay2", "--iptables=true"],
                                       stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        not_started = f"dockerd did not start: see {self.artifacts / 'dockerd.log'}"

        def answers() -> bool:
            if subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
                return True
            if self.daemon.poll() is not None:
                raise RuntimeError(not_started)
            return False
        try:
            waiting.wait_until(answers, 60, "dockerd to answer", every=0.5)
        except waiting.TimedOut:
            raise RuntimeError(not_started) from None
        self.helpers = _children(self.daemon.pid)
        (STATE / "engine.json").write_text(json.dumps({"pid": self.daemon.pid, "helpers": self.helpers}))
        self.log(f"engine: dockerd {self.daemon.pid} answers (helpers {self.helpers})")

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        for pid in self.helpers:  # the daemon takes its containerd along; make sure
            try:
                _wait_exited(pid, 10)
            except waiting.TimedOut:
                os.kill(pid, signal.SIGKILL)
        self.log("engine: dockerd stopped")

    def __enter__(self) -> "Engine":
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            if self.before is not None:
                restore(self.before, self.log)
                (self.artifacts / "host-after.json").write_text(json.dumps(asdict(HostState.now()), indent=1))
                (STATE / "engine.json").unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """`up`: start an engine and leave it running; `down`: stop it (or a killed run's) and restore."""
    if argv == ["up"]:
        STATE.mkdir(parents=True, exist_ok=True)
        Engine(STATE).start()
        return 0
    if argv == ["down"]:
        saved = json.loads((STATE / "engine.json").read_text()) if (STATE / "engine.json").exists() else {}
        pids = [pid for pid in [saved.get("pid"), *saved.get("helpers", [])] if pid and _alive(pid)]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        for pid in pids:
            _wait_exited(pid, None)
        restore(HostState(**json.loads((STATE / "host-before.json").read_text())))
        (STATE / "engine.json").unlink(missing_ok=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
