"""The three-broker topology (`STACK_BROKERS=3 make up`, `make cluster`): the pipeline's programs unchanged on it,
and acknowledged records surviving broker kills.

Slow: unless the cluster already runs, the module switches the stack's Kafka to three brokers and back
(HDFS and MariaDB keep running), which disturbs every other test on the same servers; `make faults` runs it.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from stack.servers import Topology, environment
from world import ROOT, Pipeline, wait_for

pytestmark = pytest.mark.slow


def stack(*args: str, brokers: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"STACK_BROKERS": str(brokers)} if brokers else {})}
    return subprocess.run([sys.executable, "-m", "stack", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def cluster_env():
    before = Topology.current().brokers
    result = stack("up", brokers=3)
    assert result.returncode == 0, result.stdout + result.stderr
    yield environment()
    result = stack("up", brokers=before)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def cluster_pipeline(cluster_env, tmp_path):
    world = Pipeline(cluster_env, tmp_path)
    yield world
    world.close()


def describe(admin: KafkaAdminClient, topic: str) -> list[dict]:
    return admin.describe_topics([topic])[0]["partitions"]


def test_the_pipeline_runs_unchanged_on_three_brokers(cluster_pipeline):
    """Generator, producer and four consumers with only `make env`'s variables: the topic gets three
    replicas, and the verifier finds every row committed exactly once."""
    world = cluster_pipeline
    assert world.env["TOPIC_REPLICATION_FACTOR"] == "3" and world.bootstrap.count(",") == 2
    programs = [world.start("weather_generator.py"), world.start("producer.py"),
                *(world.start("consumer.py", str(p)) for p in range(4))]
    wait_for(lambda: sum(world.end_offsets().values()) >= 500, 90, "500 rows in Kafka")
    admin = world.admin()
    partitions = describe(admin, world.topic)
    admin.close()
    assert len(partitions) == 4
    assert all(len(p["replica_nodes"]) == 3 and len(p["isr_nodes"]) == 3 for p in partitions), partitions
    assert programs[0].stop() == 0
    verdict = world.run("-m", "weather.verify", "--wait", "90", timeout=150)
    print(verdict.stdout, verdict.stderr)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr
    for program in programs[1:]:
        assert program.stop() == 0, program.stderr[-3000:]


def test_acks_all_survives_one_broker_down_and_blocks_with_two(cluster_env):
    """min.insync.replicas=2: with the partition's leader killed, acks=all sends go on (a new leader);
    with a second broker killed they are not acknowledged, and nothing acknowledged is ever lost."""
    bootstrap = cluster_env["KAFKA_BOOTSTRAP_SERVERS"]
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 3}})
    wait_for(lambda: describe(admin, topic) and describe(admin, topic)[0]["leader_id"] >= 0, 30, "a leader")
    leader = describe(admin, topic)[0]["leader_id"]
    admin.close()
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=3, request_timeout_ms=5000,
                             delivery_timeout_ms=15000, max_block_ms=15000)
    acknowledged: list[bytes] = []

    def send(value: bytes) -> bool:
        try:
            producer.send(topic, value).get(timeout=20)
        except KafkaError:
            return False
        acknowledged.append(value)
        return True

    killed = []
    try:
        assert all(send(f"three-{i}".encode()) for i in range(20))
        killed.append(f"kafka-{leader}")
        assert stack("kill", killed[0]).returncode == 0
        began = time.monotonic()
        assert wait_for(lambda: send(b"two-first"), 60, "a send acknowledged with one broker down")
        print(f"leader {killed[0]} killed: next acknowledged send after {time.monotonic() - began:.1f} s")
        assert all(send(f"two-{i}".encode()) for i in range(20))
        second = next(name for name in ("kafka-1", "kafka-2", "kafka-3") if name not in killed)
        killed.append(second)
        assert stack("kill", second).returncode == 0
        refused = [value for value in (b"one-0", b"one-1", b"one-2") if not send(value)]
        assert refused == [b"one-0", b"one-1", b"one-2"], "acks=all was acknowledged with one in-sync replica"
    finally:
        producer.close(timeout=5)
        for name in killed:
            assert stack("start", name).returncode == 0
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    found: list[bytes] = []
    deadline = time.monotonic() + 60
    end = consumer.end_offsets([partition])[partition]
    while consumer.position(partition) < end and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            found += [record.value for record in records]
    consumer.close()
    assert set(acknowledged) <= set(found), f"acknowledged but lost: {sorted(set(acknowledged) - set(found))}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.delete_topics([topic])
    admin.close()
