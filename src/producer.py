"""Stream the `temperatures` table into the Kafka topic, forever.

    python3 producer.py [--resume]

By default it starts the topic afresh (delete, pause 3 s if one was deleted, create with
TOPIC_PARTITIONS partitions). With --resume (or PRODUCER_RESUME=1) it keeps the topic, creating it
only if missing, and continues after the rows it already holds (weather/produce/resume.py). Then it pages
through the table by increasing id. Each row becomes one message: key the station id, value a
serialized Report, header `row_id` the row's id. A page is sent only up to an id that may still
commit (weather/produce/gaps.py), and last_id advances only once every send of the page is acknowledged
by all in-sync replicas, so no row read is ever lost; a failed send is followed by a re-read of
what arrived, so none is doubled (weather/produce/delivery.py).

One producer per topic runs on this machine: a second `producer.py` takes over (weather/common/lock.py),
so the first has stopped before the second deletes and recreates the topic. A server that is not
there yet is waited for.
"""
import gc
import logging
import time
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from weather.common import database, lock, topic
from weather.produce import resume, source
from weather.common.config import Settings
from weather.produce.delivery import Delivery
from weather.produce.gaps import GapGuard
from weather.common.program import ArgumentParser, run
from weather.common.waiting import pause, retry, running

USAGE = "python3 producer.py [--resume]"
REPORT_EVERY = 10  # seconds between progress lines
log = logging.getLogger("producer")


def arguments():
    parser = ArgumentParser(prog="producer.py", description="Stream the temperatures table into the Kafka topic.")
    parser.add_argument("--resume", action="store_true",
                        help="keep the topic and continue after the rows it holds (PRODUCER_RESUME=1)")
    return parser.parse_args()


def prepare_topic(settings, resume_mode):
    admin = retry(lambda: KafkaAdminClient(**settings.kafka_options(), client_id="producer"),
                  "connecting to Kafka", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    prepare = topic.ensure_topic if resume_mode else topic.reset_topic
    retry(lambda: prepare(admin, settings.topic, settings.partitions, settings.replication_factor),
          f"preparing topic {settings.topic}", log, (KafkaError,), settings.startup_wait, settings.kafka_advice)
    admin.close()


def main():
    args = arguments()
    settings = Settings.from_env()
    resume_mode = args.resume or settings.resume
    lock.acquire(Path(settings.lock_dir) / f"producer-{settings.topic}.lock", f"producing topic {settings.topic}",
                 settings.takeover_wait, log)
    prepare_topic(settings, resume_mode)
    delivery = Delivery(settings, log)
    tails = delivery.start()
    last_id = resume.resume_point(tails)
    if resume_mode:
        log.info("resuming: the partitions' last row ids are %s; reading the table after id %d", tails, last_id)
    pages = source.PageReader(database.connect(settings.db_url), settings.page_size)
    rows = retry(lambda: pages.read(last_id), "reading the table", log, database.UNAVAILABLE, settings.startup_wait,
                 settings.db_advice)
    guard = GapGuard(settings.gap_grace, log)
    gc.freeze()  # what start-up built lives on: the collector need not walk it again with every page's garbage
    sent = 0
    next_report = time.monotonic()
    try:
        while running():
            ready = guard.ready(last_id, rows)
            if ready:
                sent += delivery.send(ready)
                last_id = ready[-1][source.ID]
            if time.monotonic() >= next_report:
                log.info("%d rows sent, up to id %d", sent, last_id)
                next_report = time.monotonic() + REPORT_EVERY
            if len(ready) < settings.page_size:
                pause(settings.idle_poll)  # caught up with the table, or waiting for a missing id
            rows = retry(lambda: pages.read(last_id), "reading the table", log, database.UNAVAILABLE)
    finally:
        pages.close()
        delivery.close()  # the topic's lock is left to the kernel: released once this process is gone


if __name__ == "__main__":
    run(main, USAGE)
