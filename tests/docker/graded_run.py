"""`make docker-test`: the specification's graded path, run for real on this machine.

Phases (each timed, printed and written to var/docker-test/timings.txt):
  engine         Debian's docker.io installed and started for this run (tests/docker/engine.py);
                 the host restored and checked afterwards, whatever happens in between
  compose        Compose v2 built from its Go module (cached in var/docker-cache/), installed as the
                 `docker compose` plugin of this run's own DOCKER_CONFIG
  stand-ins      local images under the names the Dockerfiles use for what cannot be fetched here
                 (tests/docker/standins/), and Apache's Hadoop tarball, served on the docker0 address
  image builds   the specification's five `docker build`s, verbatim, with its tags
  compose up     `docker compose up -d` with a random PROJECT and AUTOGRADER_DELAY_OVERRIDE_VAL=0.01
  checks         the rest of the sequence (protoc as a non-root user, the programs with docker exec)
                 and what a grader and our guarantees check; then `down` and `up` start afresh

The sequence runs in a copy of the checkout owned by an unprivileged user (`nobody`), as a user's
clone would be. Everything it produces (logs of every container, the programs' output, the engine's
log, the host's state before and after) is kept in var/docker-test/. A failing check is named and
the run goes on to the next one; a failing build or start ends the run. Exit code 1 on any failure.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import gzip
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[2] / "src"))  # for weather.common.waiting
from dockerpath import pom_properties  # noqa: E402
from engine import Engine  # noqa: E402
from weather.common import waiting  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "docker-test"
CACHE = ROOT / "var" / "docker-cache"
STANDINS = Path(__file__).resolve().parent / "standins"
COMPOSE_VERSION = "v2.29.7"
# The local stack's Hadoop (Dockerfile.hdfs's HADOOP_VERSION equals it: test_docker_sources.py).
HADOOP_VERSION = pom_properties(ROOT / "stack" / "maven" / "hadoop" / "pom.xml")["hadoop.version"]
BASE = "weather-standin/bookworm"
# Image names the project's Dockerfiles start FROM, and the stand-in built for each.
STANDIN_IMAGES = {"ubuntu:24.04": "ubuntu", "maven:3.9.11-eclipse-temurin-17": "maven", "mysql:8.4.9": "mysql"}
# The specification's five builds, verbatim.
BUILDS = [("Dockerfile.hdfs", "p7-hdfs"), ("Dockerfile.kafka", "p7-kafka"), ("Dockerfile.namenode", "p7-nn"),
          ("Dockerfile.datanode", "p7-dn"), ("Dockerfile.mysql", "p7-mysql")]
USER = ("nobody", 65534, 65534)
EXTRA_CA = Path("/usr/local/share/ca-certificates")
STATION_KEYS = {"station_id", "date", "degrees", "partition"}
BATCH = re.compile(r"partition-(\d)-batch-(\d+)\.parquet")


class StepFailed(AssertionError):
    pass


class Run:
    """Progress, phase timings and the named steps of one run."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.timings: list[tuple[str, float]] = []
        self.failures: list[str] = []
        self.log_file = open(ARTIFACTS / "run.log", "a")

    def say(self, message: str) -> None:
        line = f"[{time.monotonic() - self.start:7.1f} s] {message}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    @contextlib.contextmanager
    def phase(self, name: str):
        began = time.monotonic()
        self.say(f"== phase {name}")
        try:
            yield
        finally:
            took = time.monotonic() - began
            self.timings.append((name, took))
            self.say(f"== phase {name}: {took:.1f} s")
            (ARTIFACTS / "timings.txt").write_text(
                "".join(f"{n:<14} {t:8.1f} s\n" for n, t in self.timings)
                + f"{'total':<14} {time.monotonic() - self.start:8.1f} s\n")

    @contextlib.contextmanager
    def check(self, name: str):
        """A named check: a failure is recorded and the run goes on."""
        self.say(f"-- check: {name}")
        try:
            yield
        except (AssertionError, subprocess.CalledProcessError, subprocess.TimeoutExpired,
                json.JSONDecodeError, KeyError, ValueError) as error:
            self.failures.append(f"{name}: {error}")
            self.say(f"FAILED {name}: {error}")
        else:
            self.say(f"ok {name}")


def sh(*argv: str, log: Path | None = None, check: bool = True, timeout: float = 3600, **kwargs) -> str:
    """Run a command; its output goes to `log` (appended) if given and is returned."""
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)
    output = result.stdout + result.stderr
    if log:
        with open(log, "a") as file:
            file.write(f"$ {' '.join(argv)}\n{output}\n[exit {result.returncode}]\n")
    if check and result.returncode != 0:
        raise StepFailed(f"`{' '.join(argv)}` exited {result.returncode}: {output.strip()[-1500:]}")
    return result.stdout


# -- compose ----------------------------------------------------------------------------------------

def install_compose(run: Run) -> Path:
    """Compose v2 from its Go module (4.5 min on 2 cores), cached; a DOCKER_CONFIG of our own."""
    gobin = CACHE / f"compose-{COMPOSE_VERSION}" / "gobin"
    binary = gobin / "cmd"
    if binary.exists():
        run.say(f"compose: cached {binary}")
    else:
        run.say(f"compose: go install github.com/docker/compose/v2/cmd@{COMPOSE_VERSION} (minutes)")
        sh("go", "install", f"github.com/docker/compose/v2/cmd@{COMPOSE_VERSION}", log=ARTIFACTS / "compose-build.log",
           env={**os.environ, "GOBIN": str(gobin)})
    config = ARTIFACTS / "docker-config"
    (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
    shutil.copy(binary, config / "cli-plugins" / "docker-compose")
    os.environ["DOCKER_CONFIG"] = str(config)
    run.say("compose: " + sh("docker", "compose", "version").strip())
    return config


# -- stand-ins ---------------------------------------------------------------------------------------

def debian_mirror() -> str:
    for source in sorted(Path("/etc/apt/sources.list.d").glob("*")) + [Path("/etc/apt/sources.list")]:
        if source.exists():
            match = re.search(r"(?:URIs:|deb)\s+(http://\S+/debian)\b", source.read_text())
            if match:
                return match.group(1)
    return "http://deb.debian.org/debian"


def build_base_standin(run: Run) -> None:
    """Debian 12 minbase from debootstrap (its tarball cached), imported as the stand-ins' base."""
    tarball = CACHE / "bookworm-minbase.tar"
    if not tarball.exists():
        sh("apt-get", "install", "-y", "-qq", "debootstrap", env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
           log=ARTIFACTS / "apt.log")
        rootfs = CACHE / "bookworm-rootfs"
        shutil.rmtree(rootfs, ignore_errors=True)
        run.say(f"stand-ins: debootstrap --variant=minbase bookworm ({debian_mirror()})")
        sh("debootstrap", "--variant=minbase", "bookworm", str(rootfs), debian_mirror(), log=ARTIFACTS / "debootstrap.log")
        sh("tar", "-C", str(rootfs), "-cf", str(tarball) + ".part", ".")
        os.replace(str(tarball) + ".part", tarball)
        shutil.rmtree(rootfs)
    sh("docker", "import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
       "--change", 'CMD ["bash"]', str(tarball), BASE)


def copy_extra_certificates() -> None:
    """The host's extra trusted CAs, fresh into the stand-ins' contexts (git-ignored, never committed)."""
    for name in ("ubuntu", "maven"):
        folder = STANDINS / name / "extra-ca"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for crt in EXTRA_CA.rglob("*.crt"):
            shutil.copy(crt, folder / crt.name)
        (folder / "README").write_text("Copied from the host at run time by tests/docker/graded_run.py; git-ignored.\n")


def build_hadoop_tarball() -> tuple[Path, str]:
    """hadoop-X.tar.gz with the distribution's layout: the local stack's jars and a bin/hdfs launcher."""
    jars = sorted((ROOT / "var" / "jars" / "hadoop").glob("*.jar"))
    if not jars:
        raise StepFailed("var/jars/hadoop is empty: `make setup` resolves stack/maven/hadoop/pom.xml")
    dist = CACHE / "apache-dist" / "hadoop" / "common" / f"hadoop-{HADOOP_VERSION}"
    dist.mkdir(parents=True, exist_ok=True)
    tarball = dist / f"hadoop-{HADOOP_VERSION}.tar.gz"
    top = f"hadoop-{HADOOP_VERSION}"

    def add(tar: tarfile.TarFile, path: Path, name: str, mode: int) -> None:
        info = tar.gettarinfo(str(path), name)
        info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime = mode, 0, 0, "root", "root", 0
        with open(path, "rb") as file:
            tar.addfile(info, file)

    with gzip.GzipFile(str(tarball) + ".part", "wb", mtime=0) as packed, \
            tarfile.open(fileobj=packed, mode="w") as tar:
        for folder in ("", "/bin", "/etc", "/etc/hadoop", "/share", "/share/hadoop", "/share/hadoop/common",
                       "/share/hadoop/common/lib"):
            info = tarfile.TarInfo(top + folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        add(tar, STANDINS / "hadoop" / "hdfs", f"{top}/bin/hdfs", 0o755)
        add(tar, ROOT / "stack" / "conf" / "log4j.properties", f"{top}/etc/hadoop/log4j.properties", 0o644)
        for jar in jars:
            add(tar, jar, f"{top}/share/hadoop/common/lib/{jar.name}", 0o644)
    os.replace(str(tarball) + ".part", tarball)
    data = tarball.read_bytes()
    (dist / f"{tarball.name}.sha512").write_text(f"SHA512 ({tarball.name}) = {hashlib.sha512(data).hexdigest()}\n")
    return CACHE / "apache-dist", hashlib.sha256(data).hexdigest()


def serve(folder: Path, address: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A static HTTP server on the docker0 address, reachable from builds on the default bridge."""
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
            with open(ARTIFACTS / "http-server.log", "a") as log:
                log.write(f"{self.address_string()} {format % args}\n")

    handler = functools.partial(Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer((address, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://{address}:{server.server_address[1]}"


def docker0_address() -> str:
    match = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", sh("ip", "-4", "addr", "show", "docker0"))
    if not match:
        raise StepFailed("docker0 has no IPv4 address")
    return match.group(1)


# -- the user's checkout -------------------------------------------------------------------------------

def user_checkout() -> Path:
    """A copy of the checkout's files (tracked and new, not ignored) owned by the unprivileged user."""
    checkout = ARTIFACTS / "checkout"
    files = sh("git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, checkout / name)
    sh("chown", "-R", f"{USER[1]}:{USER[2]}", str(checkout))
    return checkout


def user_environment() -> dict[str, str]:
    """The unprivileged user's own environment: a home and a venv with the packages protoc needs."""
    home = ARTIFACTS / "user-home"
    return {"PATH": f"{home / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def prepare_user(run: Run) -> None:
    """As a student would: a venv of Debian's python3 with src/requirements.txt's grpcio-tools."""
    home = ARTIFACTS / "user-home"
    home.mkdir()
    sh("chown", f"{USER[1]}:{USER[2]}", str(home))
    pins = [line.split("#")[0].strip() for line in (ROOT / "src" / "requirements.txt").read_text().splitlines()
            if line.startswith(("grpcio-tools==", "protobuf=="))]
    run.say(f"user {USER[0]}: venv with {' '.join(pins)}")
    as_user("/usr/bin/python3", "-m", "venv", str(home / "venv"), cwd=home)
    as_user("pip", "install", "--quiet", *pins, cwd=home)


def as_user(*argv: str, cwd: Path) -> str:
    """Run as the unprivileged user (setpriv), in its own environment."""
    return sh("setpriv", f"--reuid={USER[1]}", f"--regid={USER[2]}", "--clear-groups", *argv, cwd=cwd,
              env=user_environment())


# -- the sequence ------------------------------------------------------------------------------------

class Stack:
    """The compose project of one run: `docker exec` into it, programs in the background, logs."""

    def __init__(self, checkout: Path, project: str) -> None:
        self.checkout, self.project = checkout, project
        self.kafka = f"{project}-kafka"
        self.background: dict[str, subprocess.Popen] = {}

    def compose(self, *args: str, timeout: float = 900) -> str:
        return sh("docker", "compose", *args, cwd=self.checkout, log=ARTIFACTS / "compose.log", timeout=timeout)

    def exec(self, *args: str, check: bool = True, timeout: float = 300, stdin: str | None = None) -> str:
        return sh("docker", "exec", *(["-i"] if stdin is not None else []), self.kafka, *args, check=check,
                  timeout=timeout, input=stdin)

    def start_tty(self, name: str, command: str) -> subprocess.Popen:
        """`docker exec -it ...` as a person at a terminal runs it: under `script`, output kept."""
        out = open(ARTIFACTS / f"{name}.out", "ab")
        process = subprocess.Popen(["script", "-q", "-f", "-e", "-c", command, "/dev/null"], stdin=subprocess.PIPE,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.checkout)
        self.background[name] = process
        return process

    def kill_client(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.background.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=30)

    def pgrep(self, pattern: str) -> list[str]:
        return self.exec("pgrep", "-af", pattern, check=False).splitlines()

    def checkpoint(self, partition: int) -> dict | None:
        text = self.exec("cat", f"/partition-{partition}.json", check=False)
        return json.loads(text) if text.strip() else None

    def in_container(self, what: str) -> dict:
        script = (Path(__file__).resolve().parent / "incontainer.py").read_text()
        return json.loads(self.exec("python3", "-", what, stdin=script, timeout=180).strip().splitlines()[-1])

    def save_logs(self, label: str) -> None:
        folder = ARTIFACTS / "logs" / label
        folder.mkdir(parents=True, exist_ok=True)
        names = sh("docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={self.project}",
                   "--format", "{{.Names}}", check=False).split()
        for name in names:
            result = subprocess.run(["docker", "logs", "--timestamps", name], capture_output=True, text=True)
            (folder / f"{name}.log").write_text(result.stdout + result.stderr)
        result = subprocess.run(["docker", "compose", "ps", "-a"], capture_output=True, text=True, cwd=self.checkout)
        (folder / "compose-ps.txt").write_text(result.stdout + result.stderr)


def debug_lines(text: str) -> list[str]:
    """Complete lines of a capture (the last one may be cut by the kill), terminal CRs removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "").split("\n")
    return [line for line in lines[:-1] if line.strip()]


def assert_dict_lines(lines: list[str], where: str) -> None:
    assert lines, f"{where}: no line at all"
    for number, line in enumerate(lines, 1):
        try:
            value = ast.literal_eval(line)
        except (ValueError, SyntaxError):
            raise AssertionError(f"{where} line {number} is not a Python literal: {line[:200]!r}") from None
        assert isinstance(value, dict) and set(value) == STATION_KEYS, f"{where} line {number}: {line[:200]!r}"


def wait_for(description: str, predicate, timeout: float, interval: float = 2.0):
    try:
        return waiting.wait_until(predicate, timeout, description, every=interval)
    except waiting.TimedOut:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {description}") from None


def sequence(run: Run, stack: Stack) -> None:
    """The specification's commands after `up`, verbatim, and the checks on what they did."""
    k = stack.kafka
    with run.check("protoc on the host as a non-root user"):
        as_user("python3", "-m", "grpc_tools.protoc", "-I=src/", "--python_out=src/", "report.proto", cwd=stack.checkout)
        assert (stack.checkout / "src" / "report_pb2.py").stat().st_uid == USER[1]

    sh("docker", "exec", "-d", "-w", "/src", k, "python3", "weather_generator.py")
    sh("docker", "exec", "-d", "-w", "/src", k, "python3", "producer.py")

    with run.check("debug.py: every stdout line is a dict of the four keys (stdout alone)"):
        with open(ARTIFACTS / "debug-stdout.out", "w") as out, open(ARTIFACTS / "debug-stderr.out", "w") as err:
            client = subprocess.Popen(["docker", "exec", "-w", "/src", k, "python3", "debug.py"], stdout=out, stderr=err)
            time.sleep(25)
            client.kill()
            client.wait()
        stack.exec("pkill", "-f", "debug.py", check=False)
        assert_dict_lines(debug_lines((ARTIFACTS / "debug-stdout.out").read_text()), "debug.py stdout")
    with run.check("debug.py: nothing on stderr (issue 11)"):
        stderr = (ARTIFACTS / "debug-stderr.out").read_text()
        assert not stderr.strip(), f"debug.py wrote to stderr: {stderr[:300]!r}"
    with run.check("debug.py under docker exec -it: stdout and stderr merged on the terminal are dicts (issue 11)"):
        client = stack.start_tty("debug-tty", f"docker exec -it -w /src {k} python3 debug.py")
        time.sleep(15)
        stack.kill_client("debug-tty")
        stack.exec("pkill", "-f", "debug.py", check=False)
        assert_dict_lines(debug_lines((ARTIFACTS / "debug-tty.out").read_text(errors="replace")), "debug.py -it")

    # The specification's consumers 0 and 2, then all four, each at its own terminal.
    for partition in (0, 2, 1, 3):
        stack.start_tty(f"consumer-{partition}", f"docker exec -it -w /src {k} python3 consumer.py {partition}")

    # The table layer beside the specification's sequence (issue 18): started as the other programs are.
    sh("docker", "exec", "-d", "-w", "/src", k, "python3", "compactor.py")

    with run.check("every partition commits (checkpoint with a positive offset)"):
        wait_for("four checkpoints", lambda: all((stack.checkpoint(p) or {}).get("offset", 0) > 0 for p in range(4)), 180)

    with run.check("topic temperatures has 4 partitions"):
        described = stack.exec("kafka-topics.sh", "--bootstrap-server", "localhost:9092", "--describe", "--topic",
                               "temperatures")
        assert "PartitionCount: 4" in described, described

    with run.check("the Kafka image has the consumer's compiled decoder (issue 13) and the producer's builder (issue 19)"):
        stack.exec("python3", "-c", "import weather_fastdecode, weather_fastencode")

    with run.check("every key is StationA..J, in Kafka's default partition for it"):
        keys = stack.in_container("keys")
        (ARTIFACTS / "keys.json").write_text(json.dumps(keys, indent=1))
        assert keys["partitions"] == [0, 1, 2, 3] and keys["messages"] > 0, keys
        assert not keys["bad_keys"] and not keys["wrong_count"], keys

    with run.check("checkpoints /partition-N.json: exactly batch_id and offset, offset positive (issue 11)"):
        for partition in range(4):
            checkpoint = stack.checkpoint(partition)
            assert checkpoint is not None, f"no /partition-{partition}.json"
            assert set(checkpoint) == {"batch_id", "offset"}, f"partition {partition}: {checkpoint}"
            assert checkpoint["offset"] > 0, checkpoint

    with run.check("a consumer whose docker exec client is killed, started again: one writer (issue 11)"):
        before = stack.checkpoint(0)
        stack.kill_client("consumer-0")
        time.sleep(2)
        left = stack.pgrep("consumer.py 0")
        run.say(f"after killing the client, still running in the container: {left}")
        stack.start_tty("consumer-0-again", f"docker exec -it -w /src {k} python3 consumer.py 0")
        wait_for("partition 0 committing again", lambda: (stack.checkpoint(0) or {}).get("offset", 0) > before["offset"], 90)
        time.sleep(10)
        running = stack.pgrep("consumer.py 0")
        assert len(running) == 1, f"consumers of partition 0 running: {running}"

    with run.check('pkill -f "consumer.py 0" inside the container stops it'):
        stack.exec("pkill", "-f", "consumer.py 0", check=False)
        wait_for("no consumer.py 0", lambda: not stack.pgrep("consumer.py 0"), 30, 1)
        stack.background.pop("consumer-0-again").wait(timeout=30)
        stack.start_tty("consumer-0-third", f"docker exec -it -w /src {k} python3 consumer.py 0")

    with run.check("one DataNode killed under load: committed batches readable, consumers committing"):
        offsets = {p: (stack.checkpoint(p) or {}).get("offset", 0) for p in range(4)}
        sh("docker", "kill", f"{stack.project}-dn-2")
        try:
            time.sleep(45)  # past the NameNode's 30 s heartbeat recheck: the DataNode is dead to it
            batches = stack.in_container("batches")
            (ARTIFACTS / "batches-one-datanode-down.json").write_text(json.dumps(batches, indent=1))
            for partition, info in batches["partitions"].items():
                assert not info.get("unreadable"), f"partition {partition}: {info['unreadable'][:3]}"
            wait_for("every partition committing with a DataNode down",
                     lambda: all((stack.checkpoint(p) or {}).get("offset", 0) > offsets[p] for p in range(4)), 120)
            # fsck asks the NameNode's web server; the shared hdfs-site.xml names the local stack's.
            fsck = stack.exec("hdfs", "fsck", "-D", "dfs.namenode.http-address=boss:9870", "/data", check=False)
            (ARTIFACTS / "fsck-one-datanode-down.txt").write_text(fsck)
            assert "is HEALTHY" in fsck, fsck[-800:]
        finally:
            sh("docker", "start", f"{stack.project}-dn-2")

    with run.check("verifier while everything runs: 0 missing, 0 duplicated (weather.verify --live, issue 11)"):
        out = stack.exec("sh", "-c", "cd /src && python3 -m weather.verify --live 2>&1", timeout=300)
        (ARTIFACTS / "verify-live.out").write_text(out)
        run.say(out.strip().splitlines()[-1] if out.strip() else "(no output)")

    stack.exec("pkill", "-f", "weather_generator.py", check=False)
    stack.exec("pkill", "-f", "producer.py", check=False)
    with run.check("verifier once drained: 0 missing, 0 duplicated (weather.verify --wait 120; the restart above needs issue 11)"):
        out = stack.exec("sh", "-c", "cd /src && python3 -m weather.verify --wait 120 2>&1", timeout=400)
        (ARTIFACTS / "verify-drained.out").write_text(out)
        run.say(out.strip().splitlines()[-1] if out.strip() else "(no output)")

    with run.check("compactor.py started twice with docker exec -d: one runs, and its table holds only committed "
                   "rows, once; table + raw tail = the committed batches (issue 18)"):
        sh("docker", "exec", "-d", "-w", "/src", k, "python3", "compactor.py")
        wait_for("one compactor", lambda: len(stack.pgrep("compactor.py")) == 1, 60, 1)
        stack.exec("sh", "-c", "cd /src && python3 compactor.py --once 2>&1", timeout=300)  # caught up now
        table = stack.in_container("table")
        (ARTIFACTS / "table.json").write_text(json.dumps(table, indent=1))
        run.say(f"table version {table['version']}: {table['table_rows']} rows in {table['files']} files, "
                f"{table['raw_rows']} committed raw rows")
        assert table["table_rows"] > 0 and table["table_in_raw"] and table["snapshot_equals_raw"], table
        assert table["table_equals_raw"], table  # drained (no new rows since the generator stopped)
    stack.exec("pkill", "-f", "compactor.py", check=False)

    stack.exec("pkill", "-f", "consumer.py", check=False)
    wait_for("the consumers to stop", lambda: not stack.pgrep("consumer.py"), 60, 1)

    with run.check("hdfs dfs -ls hdfs://boss:9000/data/ and /data/: only partition-N-batch-M.parquet, from 0, no gap "
                   "(dead letters outside /data: issue 11)"):
        for path in ("hdfs://boss:9000/data/", "/data/"):
            listing = stack.exec("hdfs", "dfs", "-ls", path)
            (ARTIFACTS / f"hdfs-ls-{'full' if path.startswith('hdfs') else 'plain'}.txt").write_text(listing)
            entries = [line.split()[-1] for line in listing.splitlines() if line[:1] in "-d"]
            names = [entry.rsplit("/", 1)[-1] for entry in entries]
            strangers = [name for name in names if not BATCH.fullmatch(name)]
            assert names and not strangers, f"{path}: not batch files: {strangers[:10]}"
            for partition in range(4):
                numbers = sorted(int(BATCH.fullmatch(n).group(2)) for n in names if n.startswith(f"partition-{partition}-"))
                assert numbers == list(range(len(numbers))), f"{path}: partition {partition} batches {numbers[:20]}..."

    with run.check("every committed file has the three columns and is readable"):
        batches = stack.in_container("batches")
        (ARTIFACTS / "batches-drained.json").write_text(json.dumps(batches, indent=1))
        for partition, info in batches["partitions"].items():
            assert info.get("checkpoint"), f"partition {partition}: no checkpoint"
            assert not info["unreadable"] and not info["bad_columns"], info

    with run.check("the consumer's files have 3 replicas (three DataNodes)"):
        stats = stack.exec("hdfs", "dfs", "-stat", "%r %n", "hdfs://boss:9000/data/*")
        (ARTIFACTS / "hdfs-replication.txt").write_text(stats)
        files = [line for line in stats.splitlines() if BATCH.fullmatch(line.split(" ", 1)[-1])]
        wrong = [line for line in files if not line.startswith("3 ")]
        assert files and not wrong, f"files not at 3 replicas: {wrong[:5]}"

    with run.check("nothing in the user's src/ written by the containers (root-owned files, __pycache__)"):
        foreign = [str(p.relative_to(stack.checkout)) for p in (stack.checkout / "src").rglob("*")
                   if p.stat().st_uid != USER[1] or p.name == "__pycache__"]
        assert not foreign, f"written into src/ by a container: {foreign[:10]}"


def afresh(run: Run, stack: Stack) -> None:
    with run.check("docker compose down, then up: starts afresh"):
        stack.save_logs("before-down")
        stack.compose("down")
        stack.compose("up", "-d")
        assert not stack.exec("sh", "-c", "ls /partition-*.json 2>/dev/null", check=False).strip(), "checkpoints survived"
        listing = stack.exec("sh", "-c", "hdfs dfs -ls /data/ 2>&1", check=False)
        assert "partition-" not in listing, f"HDFS files survived: {listing[:300]}"
        count = sh("docker", "exec", f"{stack.project}-mysql-1", "mysql", "-uroot", "-pabc", "-N", "-e",
                   "SELECT COUNT(*) FROM CS544.temperatures")
        assert count.strip() == "0", f"table has {count.strip()} rows"
        topics = stack.exec("kafka-topics.sh", "--bootstrap-server", "localhost:9092", "--list")
        assert "temperatures" not in topics.split(), "topic survived"


def main() -> int:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    run = Run()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt("SIGTERM")))
    signal.signal(signal.SIGHUP, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt("SIGHUP")))
    project = f"g{random.randint(10000, 99999)}"
    stack: Stack | None = None
    server = None
    failed_step = None
    try:
        with run.phase("engine"):
            engine = Engine(ARTIFACTS, run.say)
            engine.__enter__()
        try:
            with run.phase("compose"):
                failed_step = "compose v2"
                install_compose(run)
            with run.phase("stand-ins"):
                failed_step = "stand-in images"
                copy_extra_certificates()
                build_base_standin(run)
                for image, folder in STANDIN_IMAGES.items():
                    sh("docker", "build", "-t", image, str(STANDINS / folder), log=ARTIFACTS / "build-standins.log")
                failed_step = "stand-in Hadoop tarball"
                dist, sha256 = build_hadoop_tarball()
                server, url = serve(dist, docker0_address())
                run.say(f"stand-ins: {', '.join(STANDIN_IMAGES)}; Hadoop tarball at {url} (sha256 {sha256[:12]}...)")
            checkout = user_checkout()
            with run.phase("user"):
                failed_step = f"the non-root user's venv ({USER[0]})"
                prepare_user(run)
            with run.phase("image builds"):
                for dockerfile, tag in BUILDS:
                    failed_step = f"docker build . -f {dockerfile} -t {tag}"
                    extra = ["--build-arg", f"APACHE_DIST={url}", "--build-arg", f"HADOOP_SHA256={sha256}"] \
                        if dockerfile == "Dockerfile.hdfs" else []
                    began = time.monotonic()
                    sh("docker", "build", ".", "-f", dockerfile, "-t", tag, *extra, cwd=checkout,
                       log=ARTIFACTS / f"build-{tag}.log")
                    run.say(f"built {tag} in {time.monotonic() - began:.0f} s")
            os.environ.update(PROJECT=project, AUTOGRADER_DELAY_OVERRIDE_VAL="0.01")
            stack = Stack(checkout, project)
            with run.phase("compose up"):
                failed_step = f"docker compose up -d (PROJECT={project})"
                stack.compose("up", "-d")
            failed_step = None
            with run.phase("checks"):
                sequence(run, stack)
                afresh(run, stack)
        finally:
            if server:
                server.shutdown()
            if stack:
                for name in list(stack.background):
                    stack.kill_client(name)
                with contextlib.suppress(Exception):
                    stack.save_logs("final")
                with contextlib.suppress(Exception):
                    stack.compose("down", timeout=300)
            with run.phase("engine stop"):
                engine.__exit__(None, None, None)
    except (StepFailed, KeyboardInterrupt, RuntimeError, subprocess.SubprocessError, OSError) as error:
        run.failures.append(f"{failed_step or 'run'}: {error}")
        run.say(f"FAILED at step: {failed_step or 'run'}: {error}")
    run.say("timings:\n" + (ARTIFACTS / "timings.txt").read_text())
    if run.failures:
        run.say(f"{len(run.failures)} failed:\n  " + "\n  ".join(f[:600] for f in run.failures))
        run.say(f"artifacts: {ARTIFACTS}")
        return 1
    run.say(f"all checks passed; artifacts: {ARTIFACTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
