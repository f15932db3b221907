"""The images use what the local stack uses: versions, configuration files, Python packages, table.

One source of truth for each: the poms' versions, stack/conf/*, src/requirements.txt and the table
definition in stack/mariadb.py. The Dockerfiles name them; nothing is forked into docker/.
"""
from __future__ import annotations

import fnmatch
import re
import zipfile

import pytest

from dockerpath import ROOT, args_of, copies, parse_dockerfile, pom_properties, stages

CONF = ROOT / "stack" / "conf"
HADOOP_POM = ROOT / "stack" / "maven" / "hadoop" / "pom.xml"
KAFKA_POM = ROOT / "stack" / "maven" / "kafka" / "pom.xml"


def instructions(name: str):
    return parse_dockerfile(ROOT / name)


# -- versions -------------------------------------------------------------------------------------

def test_hadoop_version_is_the_local_stacks() -> None:
    assert args_of(instructions("Dockerfile.hdfs"))["HADOOP_VERSION"] == pom_properties(HADOOP_POM)["hadoop.version"]


def test_hadoop_tarball_checksums_are_verified() -> None:
    hdfs = instructions("Dockerfile.hdfs")
    assert re.fullmatch(r"[0-9a-f]{64}", args_of(hdfs)["HADOOP_SHA256"])
    download = next(i.args for i in hdfs if i.keyword == "RUN" and "curl" in i.args and "tar -x" in i.args)
    assert "sha256sum --check" in download and "sha512sum --check" in download and ".sha512" in download
    assert download.index("--check") < download.index("tar -x"), "verify before unpacking"


def test_kafka_comes_from_the_local_stacks_pom() -> None:
    first = stages(instructions("Dockerfile.kafka"))[0]
    sources = [src for srcs, _ in copies(first) for src in srcs]
    assert sources == ["stack/maven/kafka/pom.xml"]
    mvn = next(i.args for i in first if i.keyword == "RUN" and i.args.startswith("mvn"))
    assert "dependency:copy-dependencies" in mvn and "--strict-checksums" in mvn
    # The pom decides every version: no override on the command line.
    assert not re.search(r"-D(kafka|log4j2)\.version", mvn)
    assert args_of(first)["KAFKA_VERSION"] == pom_properties(KAFKA_POM)["kafka.version"]
    assert "kafka_2.13-${KAFKA_VERSION}.jar" in mvn  # the build fails if the pom names another


def test_java_17_on_ubuntu_24_04_everywhere() -> None:
    hdfs = instructions("Dockerfile.hdfs")
    assert [i.args.split()[0] for i in hdfs if i.keyword == "FROM"] == ["ubuntu:24.04", "ubuntu:24.04"]
    assert any("openjdk-17-jre-headless" in i.args for i in hdfs if i.keyword == "RUN")
    kafka_build = next(i.args for i in instructions("Dockerfile.kafka") if i.keyword == "FROM")
    assert re.match(r"maven:\d+\.\d+\.\d+-eclipse-temurin-17\b", kafka_build)


@pytest.mark.parametrize("name", ["Dockerfile.kafka", "Dockerfile.namenode", "Dockerfile.datanode"])
def test_built_on_p7_hdfs(name: str) -> None:
    assert stages(instructions(name))[-1][0].args == "p7-hdfs"


def test_mysql_is_a_pinned_8_4() -> None:
    assert re.fullmatch(r"mysql:8\.4\.\d+", next(i.args for i in instructions("Dockerfile.mysql") if i.keyword == "FROM"))


# -- configuration files --------------------------------------------------------------------------

def test_hdfs_settings_are_stack_conf_copied_into_hadoop_conf_dir() -> None:
    sources = {src: dest for srcs, dest in copies(instructions("Dockerfile.hdfs")) for src in srcs}
    for name in ("core-site.xml", "hdfs-site.xml", "log4j.properties"):
        assert sources[f"stack/conf/{name}"] == "${HADOOP_CONF_DIR}/"


def test_kafka_settings_are_stack_conf_copied_into_kafka_config() -> None:
    sources = {src: dest for srcs, dest in copies(instructions("Dockerfile.kafka")) for src in srcs}
    for name in ("server.properties", "log4j2.yaml"):
        assert sources[f"stack/conf/{name}"] == "${KAFKA_HOME}/config/"
    entrypoint = (ROOT / "docker" / "kafka" / "entrypoint.sh").read_text()
    assert "${KAFKA_HOME}/config/server.properties" in entrypoint
    assert "${KAFKA_HOME}/config/log4j2.yaml" in entrypoint


def test_every_stack_conf_file_is_shared_and_none_is_forked() -> None:
    copied = {src for name in ("Dockerfile.hdfs", "Dockerfile.kafka")
              for srcs, _ in copies(instructions(name)) for src in srcs if src.startswith("stack/conf/")}
    assert copied == {f"stack/conf/{p.name}" for p in CONF.iterdir()}
    forks = [p for p in (ROOT / "docker").rglob("*") if p.suffix in (".xml", ".properties", ".yaml", ".yml")]
    assert not forks, f"server settings belong in stack/conf/, not in copies: {forks}"


def test_python_packages_are_src_requirements() -> None:
    kafka = instructions("Dockerfile.kafka")
    dest = dict((srcs[0], dest) for srcs, dest in copies(kafka))["src/requirements.txt"]
    assert any("pip install" in i.args and f"-r {dest}" in i.args for i in kafka if i.keyword == "RUN")


def test_settings_the_specification_relies_on() -> None:
    props = dict(line.split("=", 1) for line in (CONF / "server.properties").read_text().splitlines()
                 if "=" in line and not line.startswith("#"))
    assert props["auto.create.topics.enable"] == "false"
    assert props["process.roles"] == "broker,controller"
    assert "controller.quorum.bootstrap.servers" in props  # what `format --standalone` needs
    assert "PLAINTEXT://127.0.0.1:9092" in props["listeners"]  # localhost:9092 inside the container
    hdfs_site = (CONF / "hdfs-site.xml").read_text()
    assert re.search(r"dfs.namenode.stale.datanode.interval</name><value>10000<", hdfs_site)
    assert re.search(r"dfs.namenode.heartbeat.recheck-interval</name><value>30000<", hdfs_site)


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def in_context(path: str) -> bool:
        included = True
        for pattern in patterns:  # the last matching pattern decides, as in Docker
            negated = pattern.startswith("!")
            body = pattern[1:] if negated else pattern
            body = body.rstrip("/")
            if fnmatch.fnmatch(path, body) or path.startswith(body + "/"):
                included = negated
        return included

    for name in ("Dockerfile.hdfs", "Dockerfile.kafka", "Dockerfile.namenode", "Dockerfile.datanode",
                 "Dockerfile.mysql"):
        for srcs, _ in copies(instructions(name)):
            for src in srcs:
                assert (ROOT / src).is_file(), f"{name} copies {src}, which does not exist"
                assert in_context(src), f"{name} copies {src}, which .dockerignore leaves out"
    for private in ("var/jars/kafka/kafka-clients-4.3.1.jar", ".venv/bin/python", ".git/HEAD", "src/producer.py"):
        assert not in_context(private), f".dockerignore lets {private} into the build context"


# -- the table ------------------------------------------------------------------------------------

def test_mysql_creates_the_same_table_as_the_local_stack() -> None:
    from stack.mariadb import DATABASE, TABLE_DDL

    def words(sql: str) -> str:
        return re.sub(r"\s+", " ", sql).strip().rstrip(";").lower()

    sql = "\n".join(line for line in (ROOT / "docker" / "mysql" / "init.sql").read_text().splitlines()
                    if not line.strip().startswith("--"))
    body = [words(statement) for statement in sql.split(";") if statement.strip()]
    assert words(TABLE_DDL) in body
    assert f"create database if not exists {DATABASE.lower()}" in body
    sources = [src for srcs, _ in copies(instructions("Dockerfile.mysql")) for src in srcs]
    assert sources == ["docker/mysql/init.sql"]


# -- the Kafka tools the image offers -------------------------------------------------------------

def test_kafka_tool_names_are_linked_and_their_classes_exist() -> None:
    script = (ROOT / "docker" / "kafka" / "kafka-tool.sh").read_text()
    mapping = dict(re.findall(r"^\s*([\w-]+)\.sh\)\s+class=([\w.]+)", script, re.M))
    linked = next(i.args for i in instructions("Dockerfile.kafka") if i.keyword == "RUN" and "ln -s" in i.args)
    names = re.search(r"for tool in (.*?); do", linked).group(1).split()
    assert sorted(names) == sorted(mapping)
    assert "kafka-topics" in mapping and "kafka-storage" in mapping
    jars = sorted((ROOT / "var" / "jars" / "kafka").glob("*.jar"))
    if not jars:
        pytest.skip("var/jars/kafka is empty: run `make setup` (the same pom the image resolves)")
    classes = set()
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            classes.update(n[:-6].replace("/", ".") for n in archive.namelist() if n.endswith(".class"))
    missing = {tool: cls for tool, cls in mapping.items() if cls not in classes}
    assert not missing, f"no such main class in the pom's jars: {missing}"
    assert "kafka.Kafka" in classes


# -- the pipeline's defaults fit the containers ---------------------------------------------------

def test_pipeline_defaults_fit_the_compose_environment(compose) -> None:
    from weather.common.config import Settings

    defaults = Settings.from_env(env={"PROJECT": "xyz"})
    assert defaults.bootstrap_servers == "localhost:9092"           # the broker in the same container
    assert defaults.data_url.startswith("hdfs://boss:9000")         # nn's host name
    assert "@xyz-mysql-1:3306/CS544" in defaults.db_url             # compose's name for mysql
    assert "@mysql:3306/" in Settings.from_env(db_host="mysql", env={}).db_url  # the generator's
    assert defaults.checkpoint_dir == "/"                           # the kafka image runs as root
    assert not any(i.keyword == "USER" for i in instructions("Dockerfile.kafka"))
    assert "HDFS_NAMENODE:-boss:9000" in (ROOT / "docker" / "hdfs" / "hdfs-daemon.sh").read_text()
