"""docker-compose.yml against the reference environment (shared/spec/reference-environment.md)."""
from __future__ import annotations

import re

import pytest

from dockerpath import ROOT, memory_bytes, parse_dockerfile

GiB = 1024**3


def services(compose: dict) -> dict:
    return compose["services"]


def test_project_name_comes_from_PROJECT(compose) -> None:
    assert compose["name"] == "${PROJECT}"


def test_exactly_the_four_services(compose) -> None:
    assert set(services(compose)) == {"kafka", "mysql", "nn", "dn"}


@pytest.mark.parametrize("service", ["kafka", "mysql", "nn", "dn"])
def test_image_is_project_prefixed(compose, service) -> None:
    assert services(compose)[service]["image"] == f"${{PROJECT}}-{service}"
    # Missing under another prefix, it is the image built by hand with the specification's tag.
    build = services(compose)[service]["build"]
    assert build["context"] == "docker/alias" and build["args"] == {"IMAGE": f"p7-{service}"}
    assert "FROM ${IMAGE}" in (ROOT / "docker" / "alias" / "Dockerfile").read_text()


def test_kafka_container_mount_and_environment(compose) -> None:
    kafka = services(compose)["kafka"]
    assert kafka["container_name"] == "${PROJECT}-kafka"
    assert "./src:/src" in kafka["volumes"]
    assert kafka["environment"]["PROJECT"] == "${PROJECT}"


def test_generator_delay_is_only_passed_through(compose) -> None:
    # No value: compose copies it from the host when set there, and leaves it unset otherwise.
    assert services(compose)["kafka"]["environment"].get("AUTOGRADER_DELAY_OVERRIDE_VAL", "absent") in (None, "absent")


def test_mysql_host_password_database_and_container_name(compose) -> None:
    mysql = services(compose)["mysql"]
    assert mysql["hostname"] == "mysql"
    assert mysql["environment"] == {"MYSQL_ROOT_PASSWORD": "abc", "MYSQL_DATABASE": "CS544"}
    # Compose names it <project>-mysql-1, the name the producer uses: no container_name here.
    assert "container_name" not in mysql


def test_namenode_is_boss_and_resolvable_as_boss(compose) -> None:
    nn = services(compose)["nn"]
    assert nn["hostname"] == "boss"
    assert "boss" in nn["networks"]["default"]["aliases"]


def test_three_datanodes_of_boss(compose) -> None:
    dn = services(compose)["dn"]
    assert dn["deploy"]["replicas"] == 3
    assert "container_name" not in dn and "hostname" not in dn, "replicas need their own names"
    assert "nn" in dn["depends_on"]


@pytest.mark.parametrize("service,limit", [("kafka", 3 * GiB), ("mysql", GiB), ("nn", GiB), ("dn", GiB)])
def test_memory_limits(compose, service, limit) -> None:
    assert memory_bytes(services(compose)[service]["deploy"]["resources"]["limits"]["memory"]) == limit


def test_nothing_is_published_to_the_host(compose) -> None:
    for name, service in services(compose).items():
        assert "ports" not in service, f"{name} publishes ports"
        assert service.get("network_mode") is None, f"{name} leaves the compose network"


def test_PROJECT_is_the_only_variable_needed() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    uncommented = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    variables = set(re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", uncommented))
    assert variables == {"PROJECT"}, variables  # $$MYSQL_ROOT_PASSWORD is the container's, escaped


@pytest.mark.parametrize("service", ["kafka", "mysql", "nn", "dn"])
def test_health_checks_make_wait_meaningful(compose, service) -> None:
    check = services(compose)[service]["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL")
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check


def test_kafka_health_check_is_installed_in_its_image(compose) -> None:
    assert services(compose)["kafka"]["healthcheck"]["test"] == ["CMD", "kafka-ready"]
    copies = [i.args for i in parse_dockerfile(ROOT / "Dockerfile.kafka") if i.keyword == "COPY"]
    assert any(c.endswith("/usr/local/bin/kafka-ready") for c in copies)


def test_namenode_health_check_waits_for_safe_mode_off_and_a_datanode(compose) -> None:
    assert services(compose)["nn"]["healthcheck"]["test"] == ["CMD", "namenode-ready"]
    copies = [i.args for i in parse_dockerfile(ROOT / "Dockerfile.hdfs") if i.keyword == "COPY"]
    assert any(c.endswith("/usr/local/bin/namenode-ready") for c in copies)
    script = (ROOT / "docker" / "hdfs" / "namenode-ready.sh").read_text()
    assert "-safemode get" in script and "Safe mode is OFF" in script
    assert "Live datanodes" in script


def test_mysql_health_check_needs_the_table_over_tcp(compose) -> None:
    # The image's first-start initialisation runs a server without TCP: over TCP, healthy means
    # the real server is up and init.sql has run.
    test = services(compose)["mysql"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    assert "--protocol=TCP" in test[1] and "CS544.temperatures" in test[1]
    assert "abc" not in test[1], "the password comes from the container's environment"


def test_kafka_starts_after_mysql_and_hdfs_are_healthy(compose) -> None:
    depends = services(compose)["kafka"]["depends_on"]
    assert depends["mysql"]["condition"] == "service_healthy"
    assert depends["nn"]["condition"] == "service_healthy"
