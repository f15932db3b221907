"""make docker-test's driver against the files it runs: the specification's builds, verbatim, and a
stand-in for exactly each image the Dockerfiles start FROM that is not built here."""
from __future__ import annotations

import re

from dockerpath import DOCKERFILES, ROOT, parse_dockerfile
from test_docker_readme import SPEC_SEQUENCE

import graded_run


def test_the_builds_are_the_specifications() -> None:
    builds = [" ".join(line.split()) for line in SPEC_SEQUENCE if line.startswith("docker build")]
    assert [f"docker build . -f {dockerfile} -t {tag}" for dockerfile, tag in graded_run.BUILDS] == builds


def test_a_stand_in_for_every_base_image_not_built_here() -> None:
    built = {tag for _, tag in graded_run.BUILDS}
    bases = set()
    for name in DOCKERFILES:
        instructions = parse_dockerfile(ROOT / name)
        stages = {i.args.split()[-1] for i in instructions if i.keyword == "FROM" and " AS " in i.args.upper()}
        bases |= {i.args.split()[0] for i in instructions if i.keyword == "FROM"} - stages - built
    assert bases == set(graded_run.STANDIN_IMAGES)


def test_each_stand_in_says_what_it_stands_in_for_and_cannot_show() -> None:
    for image, folder in graded_run.STANDIN_IMAGES.items():
        text = (graded_run.STANDINS / folder / "Dockerfile").read_text()
        assert f"Stand-in for Docker Hub's {image}" in text and "cannot show" in text, folder
    launcher = (graded_run.STANDINS / "hadoop" / "hdfs").read_text()
    assert "Stand-in for bin/hdfs" in launcher and "libhdfs.so" in launcher


def test_no_certificate_is_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text()
    assert "tests/docker/standins/*/extra-ca/" in ignored
    for path in graded_run.STANDINS.rglob("*"):
        if path.is_file() and "extra-ca" not in path.parts:
            assert not re.search(r"-----BEGIN CERTIFICATE-----", path.read_text(errors="replace")), path


def test_the_engines_host_state_names_what_it_left_behind() -> None:
    from engine import HostState

    before = HostState(ip_forward="0", iptables={"nat": ["-P PREROUTING ACCEPT"], "filter": ["-P FORWARD ACCEPT"]},
                       links=["eth0", "lo"])
    after = HostState(ip_forward="1", iptables={"nat": ["-P PREROUTING ACCEPT", "-N DOCKER"],
                                                "filter": ["-P FORWARD DROP"]},
                      links=["docker0", "eth0", "lo"], mounts=["/run/docker/netns/default"])
    assert before.differences(before) == []
    assert before.differences(after) == [
        "ip_forward 0 -> 1", "iptables -t nat: added -N DOCKER", "iptables -t filter: added -P FORWARD DROP",
        "iptables -t filter: missing -P FORWARD ACCEPT", "link added: docker0", "mount added: /run/docker/netns/default"]
