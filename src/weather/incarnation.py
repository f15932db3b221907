"""Which incarnation of the topic a checkpoint belongs to.

The specification's producer deletes the topic and creates it again each time it starts: the new
topic's offsets restart at 0 and name other messages. A checkpoint of the old topic must not be
trusted: its offset would skip the new topic's first messages (or lie beyond its end), and the old
batches would mix with new ones in the committed view. Kafka gives every topic a unique id
(KIP-516): it is recorded in the checkpoint and in each batch file, and compared with the topic's
current id at start and before every commit.
"""
from __future__ import annotations

from kafka import KafkaAdminClient

from .checkpoint import Checkpoint


class TopicGone(RuntimeError):
    """The topic does not exist right now (deleted, perhaps about to be created again)."""


def current_topic_id(admin: KafkaAdminClient, topic: str) -> str:
    """The topic's id, asked of the broker now (a client's cached metadata can be minutes old)."""
    described = admin.describe_topics([topic])[0]
    if described["error_code"] or not described["topic_id"]:
        raise TopicGone(f"topic {topic} does not exist (error code {described['error_code']})")
    return str(described["topic_id"])


def stale_reason(saved: Checkpoint, topic_id: str, log_end: int) -> str | None:
    """Why `saved` belongs to an older incarnation of the topic; None when it is the current one's.

    A checkpoint without an id (written by hand or by older code) is judged by its offset: one
    beyond the partition's log end cannot be of this topic.
    """
    if saved.topic_id is not None and saved.topic_id != topic_id:
        return f"the checkpoint is for topic id {saved.topic_id}, the topic's id is now {topic_id} (it was recreated)"
    if saved.topic_id is None and saved.offset > log_end:
        return f"the checkpoint's offset {saved.offset} is beyond the partition's log end {log_end} (the topic was recreated)"
    return None
