"""Stream the `temperatures` table into the Kafka topic, forever.

Starts the topic afresh (delete, pause 3 s if one was deleted, create with TOPIC_PARTITIONS
partitions), then pages through the table by increasing id. Each row becomes one message: key the
station id, value a serialized Report, header `row_id` the row's id. last_id advances only after
every send of a page is acknowledged by all in-sync replicas, so no row read is ever lost.
"""
import logging
import time

from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy.exc import OperationalError

from weather import report, source, topic
from weather.config import Settings
from weather.program import pause, retry, run, running

log = logging.getLogger("producer")
SEND_TIMEOUT = 60  # seconds to wait for a page's acknowledgements before sending it again
REPORT_EVERY = 10  # seconds between progress lines


def send_page(producer, topic_name, rows):
    futures = [producer.send(topic_name, key=row.station_id.encode(),
                             value=report.encode(row.station_id, row.date, row.degrees),
                             headers=[("row_id", str(row.id).encode())])
               for row in rows]
    producer.flush(timeout=SEND_TIMEOUT)
    for future in futures:
        future.get(timeout=SEND_TIMEOUT)  # raises the send's error, if any


def main():
    settings = Settings.from_env()
    admin = retry(lambda: KafkaAdminClient(**settings.kafka_options(), client_id="producer"),
                  "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    retry(lambda: topic.reset_topic(admin, settings.topic, settings.partitions, settings.replication_factor),
          f"resetting topic {settings.topic}", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    admin.close()
    producer = retry(lambda: KafkaProducer(**settings.kafka_options(), retries=10, acks="all"),
                     "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    engine = source.connect(settings.db_url)

    def next_page():
        with engine.connect() as connection:  # pooled; a connection broken by a restart is replaced
            return source.read_page(connection, last_id, settings.page_size)

    last_id = 0
    rows = retry(next_page, "reading the table", log, (OperationalError,), settings.startup_wait,
                 settings.db_advice)
    sent = 0
    next_report = time.monotonic()
    try:
        while running():
            if rows:
                retry(lambda: send_page(producer, settings.topic, rows),
                      f"sending rows {rows[0].id}..{rows[-1].id}", log, (KafkaError,))
                last_id = rows[-1].id
                sent += len(rows)
            if time.monotonic() >= next_report:
                log.info("%d rows sent, up to id %d", sent, last_id)
                next_report = time.monotonic() + REPORT_EVERY
            if len(rows) < settings.page_size:
                pause(settings.idle_poll)  # caught up with the table
            rows = retry(next_page, "reading the table", log, (OperationalError,))
    finally:
        producer.close(timeout=5)


if __name__ == "__main__":
    run(main, "python3 producer.py")
