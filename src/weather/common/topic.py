"""Resetting, creating and checking the topic."""
from __future__ import annotations

import logging

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError, TopicAlreadyExistsError, UnknownTopicOrPartitionError

from weather.common.waiting import pause, wait_until

log = logging.getLogger(__name__)

DELETE_SETTLE_SECONDS = 3  # the specification's pause: deletion takes a moment to reach every broker
LEADER_WAIT_MS = 30_000


class TopicMissing(RuntimeError):
    """The topic does not exist (yet)."""


def delete_topic(admin: KafkaAdminClient, topic: str) -> bool:
    """Delete the topic; False when there was none."""
    try:
        admin.delete_topics([topic])
    except UnknownTopicOrPartitionError:
        return False
    return True


def create_topic(admin: KafkaAdminClient, topic: str, partitions: int, replication_factor: int) -> None:
    """Create the topic and wait until every partition has a leader (until then sends fail)."""
    def created() -> bool:
        try:
            admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": replication_factor}})
        except TopicAlreadyExistsError:
            return False  # a deletion still in progress: the name frees up shortly
        return True

    try:
        wait_until(created, LEADER_WAIT_MS / 1000, f"creating topic {topic}", every=0.5)
    except TimeoutError:
        raise TopicAlreadyExistsError(f"topic {topic} still exists {LEADER_WAIT_MS // 1000} s after its deletion") from None
    admin.wait_for_topics([topic], timeout_ms=LEADER_WAIT_MS)


def reset_topic(admin: KafkaAdminClient, topic: str, partitions: int, replication_factor: int) -> None:
    """The specification's start: delete any previous topic, pause only if one was deleted, create it anew."""
    if delete_topic(admin, topic):
        log.info("deleted topic %s; waiting %d s for the deletion to settle", topic, DELETE_SETTLE_SECONDS)
        pause(DELETE_SETTLE_SECONDS)
    else:
        log.info("topic %s did not exist", topic)
    create_topic(admin, topic, partitions, replication_factor)
    log.info("created topic %s: %d partitions, replication factor %d", topic, partitions, replication_factor)


def ensure_topic(admin: KafkaAdminClient, topic: str, partitions: int, replication_factor: int) -> None:
    """Resume mode's start: keep the topic and what it holds; create it only when it is missing."""
    if topic in admin.list_topics():
        admin.wait_for_topics([topic], timeout_ms=LEADER_WAIT_MS)
        log.info("kept topic %s and its messages", topic)
        return
    create_topic(admin, topic, partitions, replication_factor)
    log.info("created topic %s: %d partitions, replication factor %d", topic, partitions, replication_factor)


def partition_ids(consumer: KafkaConsumer, topic: str) -> set[int]:
    """The topic's partitions; TopicMissing when it has none (it does not exist)."""
    try:
        found = consumer.partitions_for_topic(topic)
    except KafkaError as error:
        raise TopicMissing(f"topic {topic}: {error}") from None
    if not found:
        raise TopicMissing(f"topic {topic} does not exist")
    return set(found)
