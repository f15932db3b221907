"""The README's "With Docker" section: the specification's command sequence, and how to look inside."""
from __future__ import annotations

import re

from dockerpath import ROOT

SPEC_SEQUENCE = [
    "docker build . -f Dockerfile.hdfs     -t p7-hdfs",
    "docker build . -f Dockerfile.kafka    -t p7-kafka",
    "docker build . -f Dockerfile.namenode -t p7-nn",
    "docker build . -f Dockerfile.datanode -t p7-dn",
    "docker build . -f Dockerfile.mysql    -t p7-mysql",
    "export PROJECT=p7",
    "docker compose up -d",
    "python3 -m grpc_tools.protoc -I=src/ --python_out=src/ report.proto",
    "docker exec -d -w /src p7-kafka python3 weather_generator.py",
    "docker exec -d -w /src p7-kafka python3 producer.py",
    "docker exec -it -w /src p7-kafka python3 debug.py",
    "docker exec -it -w /src p7-kafka python3 consumer.py 0",
    "docker exec -it -w /src p7-kafka python3 consumer.py 2",
]


def section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## With Docker\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, 'README.md has no "## With Docker" section'
    return match.group(1)


def test_the_specifications_commands_in_order() -> None:
    lines = [line.split("#", 1)[0].strip() for line in section().splitlines()]
    positions = []
    for command in SPEC_SEQUENCE:
        assert command in lines, f"missing from README's With Docker: {command}"
        positions.append(lines.index(command))
    assert positions == sorted(positions), "the commands are not in the specification's order"


def test_how_to_look_inside() -> None:
    text = section()
    for command in ("docker exec -it p7-kafka hdfs dfs -ls hdfs://boss:9000/data/",
                    "kafka-topics.sh --bootstrap-server localhost:9092 --describe --topic temperatures",
                    "docker exec -it p7-mysql-1 mysql -u root -pabc CS544",
                    "/partition-0.json"):
        assert command in text, command


def test_the_kafka_tool_it_names_is_in_the_image() -> None:
    script = (ROOT / "docker" / "kafka" / "kafka-tool.sh").read_text()
    for tool in set(re.findall(r"(kafka-[\w-]+\.sh)", section())) - {"kafka-tool.sh"}:
        assert f"{tool})" in script, f"README names {tool}, which the image does not have"
