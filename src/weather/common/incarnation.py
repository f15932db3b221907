"""Which incarnation of the topic a checkpoint belongs to.

The specification's producer deletes the topic and creates it again each time it starts: the new
topic's offsets restart at 0 and name other messages. A checkpoint of the old topic must not be
trusted: its offset would skip the new topic's first messages (or lie beyond its end), and the old
batches would mix with new ones in the committed view. Kafka gives every topic a unique id
(KIP-516): it is recorded in each batch file, and compared with the topic's current id at start
(against the last committed batch, weather/consume/recovery.py) and after every poll.
"""
from __future__ import annotations

from kafka import KafkaAdminClient



class TopicGone(RuntimeError):
    """The topic does not exist right now (deleted, perhaps about to be created again)."""


def current_topic_id(admin: KafkaAdminClient, topic: str) -> str:
    """The topic's id, asked of the broker now (a client's cached metadata can be minutes old)."""
    described = admin.describe_topics([topic])[0]
    if described["error_code"] or not described["topic_id"]:
        raise TopicGone(f"topic {topic} does not exist (error code {described['error_code']})")
    return str(described["topic_id"])
