"""Sending pages of rows to the topic so that each row lands exactly once, even when a send fails.

A page whose sends failed (after the client's own retries) may still have partly arrived: a
broker can write a batch and die before acknowledging it. Sending the page again would duplicate
that part, so after a failure the producer is replaced (no old send may still be in flight), each
partition's tail is read again (weather/produce/resume.py) and only the rows Kafka does not hold are sent.
The replaced client is stopped at once, its sends not yet acknowledged dropped rather than flushed
(weather/common/kafka_adapter.py): a send still unresolved past its page's deadline is not worth
waiting for, and a client left running would go on retrying it, to arrive late as a duplicate.

A page goes out as whole record batches when it can: the compiled builder (fastdecode/, built by
`make setup` and in the Kafka image) makes the records kafka-python's send() would make for the same
rows, batch for batch, and the adapter hands them to the client, which sends them as its own (sequence
numbers, acks=all, retries, delivery timeout): kafka-python's per-record send() is most of the
producer's time otherwise. Without the builder, or with a kafka-python whose internals the adapter does
not know, every row goes through send(), and the log says which path runs in one line at start-up.
"""
from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from weather.common import kafka_adapter, report
from weather.produce import resume
from weather.produce.source import ID
from weather.common import records
from weather.common.config import Settings
from weather.common.waiting import retry, wait_until

try:
    import weather_fastencode
except ImportError:  # not built: send() per row
    weather_fastencode = None

# Bounds on how long one send may stay unresolved, so a failed page is known as failed in seconds
# (the defaults keep a send pending for two minutes while the broker is down), and on the pause
# between reconnection attempts (up to 30 s by default), so a restarted broker is found at once.
DELIVERY_TIMEOUT_MS = 15_000
REQUEST_TIMEOUT_MS = 5_000
MAX_BLOCK_MS = 10_000
RECONNECT_BACKOFF_MAX_MS = 1_000
# A page is sent as one request per partition rather than a 16 KiB batch (the default) at a time. Whole
# record batches are cut at this size too: far below the broker's message.max.bytes (1 MiB by default)
# and the client's max_request_size, so neither refuses nor splits one (a record is at most a TEXT
# station id, 64 KiB, and its Report).
BATCH_BYTES = 256 << 10
SLOW_ACK_WARNING = 5  # seconds without acknowledgements before the log says so (the client retries quietly)
# Seconds a page's sends may stay unresolved before the page counts as failed: the client's own
# delivery timeout fails them first, unless the client itself is stuck.
GIVE_UP_AFTER = DELIVERY_TIMEOUT_MS / 1000 + 10
STOP_WAIT = 1  # seconds for a replaced client's sender thread to end


class Delivery:
    def __init__(self, settings: Settings, log: logging.Logger) -> None:
        self.settings = settings
        self.log = log
        self.producer: KafkaProducer | None = None
        self.tails: dict[int, int] = {}  # partition -> highest row id it is known to hold
        self.failed = False  # the last attempt failed: Kafka may hold part of it
        self.whole_batches = False  # pages go out as record batches built in C; else one send() per row

    def _connect(self) -> KafkaProducer:
        # The specification's settings (retries=10, acks='all') plus idempotence: a batch the client
        # retries after a lost acknowledgement is written once, and in order.
        return KafkaProducer(**self.settings.kafka_options(), client_id="producer", retries=10, acks="all",
                             enable_idempotence=True, delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
                             request_timeout_ms=REQUEST_TIMEOUT_MS, max_block_ms=MAX_BLOCK_MS,
                             reconnect_backoff_max_ms=RECONNECT_BACKOFF_MAX_MS, batch_size=BATCH_BYTES)

    def _read_tails(self) -> dict[int, int]:
        consumer = KafkaConsumer(**self.settings.kafka_options(), enable_auto_commit=False, group_id=None)
        try:
            return records.read_tails(consumer, self.settings.topic)
        finally:
            consumer.close()

    def start(self) -> dict[int, int]:
        """Connect and read each partition's tail (startup: gives up after STARTUP_WAIT_SECONDS)."""
        wait, advice = self.settings.startup_wait, self.settings.kafka_advice
        self.producer = retry(self._connect, "connecting to Kafka", self.log, (KafkaError,), wait, advice)
        self._choose_path()
        self.tails = retry(self._read_tails, f"reading the last row ids of topic {self.settings.topic}", self.log,
                           (KafkaError,), wait, advice)
        return dict(self.tails)

    def _choose_path(self) -> None:
        """Whole record batches or send() per row, for this Delivery's whole life (so never both on one
        partition), and one line saying which."""
        if why_not := kafka_adapter.problem():
            self.log.warning("sending rows one by one with kafka-python's send(), and a Kafka client replaced after a "
                             "failed send will be closed with close(), which may leave it running and sending late "
                             "duplicates: %s", why_not)
        elif weather_fastencode is None:
            self.log.info("sending rows one by one with kafka-python's send(): the compiled record-batch builder is "
                          "not installed; `make setup` builds it")
        elif why_not := kafka_adapter.batch_sending_problem(self.producer):
            self.log.warning("sending rows one by one with kafka-python's send(), not as whole record batches: %s",
                             why_not)
        else:
            self.whole_batches = True
            self.log.info("sending whole record batches built by the compiled builder (weather_fastencode)")

    def send(self, rows: list) -> int:
        """Send the rows Kafka does not hold yet, retrying until all are acknowledged; how many that was
        (rows delivered by an attempt that then failed count too: they were sent once)."""
        unsent = resume.unsent(rows, self.tails)
        retry(lambda: self._attempt(rows, unsent), f"sending rows {rows[0][ID]}..{rows[-1][ID]}", self.log,
              (KafkaError,))
        return len(unsent)

    def _attempt(self, rows: list, unsent: list) -> None:
        """Send `unsent`, or after a failed attempt what the tails read again say is still missing."""
        todo = self._recover(rows) if self.failed else unsent
        if not todo:
            return
        try:
            sent_up_to = self._send_all(todo)
        except KafkaError:
            self.failed = True
            raise
        for partition, row_id in sent_up_to.items():
            self.tails[partition] = max(self.tails[partition], row_id)

    def _recover(self, rows: list) -> list:
        """After a failed attempt: a new client, and the rows that the partitions' tails, read again, lack."""
        self.close()
        self.producer = self._connect()
        self.tails = self._read_tails()
        self.failed = False
        todo = resume.unsent(rows, self.tails)
        self.log.info("re-read the partitions' tails: %d of rows %d..%d had arrived; %s", len(rows) - len(todo),
                      rows[0][ID], rows[-1][ID], "sending the rest" if todo else
                      "nothing left to send (only acknowledgements were lost)")
        return todo

    def _send_all(self, rows: list) -> dict[int, int]:
        """Send and wait for every acknowledgement; each partition's highest row id sent. On failure, wait
        for every send made so far first, so none is still in flight when the tails are read again."""
        futures, failure, sent_up_to = [], None, {}
        try:
            if self.whole_batches:
                futures = self._send_batches(rows, sent_up_to)
            else:
                self._send_each(rows, futures, sent_up_to)
        except KafkaError as error:
            failure = error

        def flushed() -> bool:  # until every send made resolves, or fails
            try:
                self.producer.flush(timeout=SLOW_ACK_WARNING)
                return True
            except KafkaTimeoutError:
                self.log.warning("Kafka has not acknowledged rows %d..%d yet (%s); the client keeps retrying for "
                                 "up to %d s", rows[0][ID], rows[-1][ID], self.settings.kafka_advice,
                                 DELIVERY_TIMEOUT_MS // 1000)
                return False

        try:
            wait_until(flushed, GIVE_UP_AFTER, f"acknowledgements of rows {rows[0][ID]}..{rows[-1][ID]}", every=0)
        except TimeoutError as error:
            raise KafkaTimeoutError(str(error)) from None
        unresolved = next((future for future in futures if not future.succeeded()), None)
        if failure is None and unresolved is not None:
            failure = unresolved.exception or KafkaTimeoutError("a send was still unresolved after flush()")
        if failure is not None:
            raise failure
        return sent_up_to

    def _send_batches(self, rows: list, sent_up_to: dict[int, int]) -> list:
        """The rows as whole record batches, one future each; sent_up_to: each partition's last row id."""
        batches = weather_fastencode.record_batches(rows, len(self.tails), BATCH_BYTES)
        for partition, _, _, last_row_id in batches:
            sent_up_to[partition] = last_row_id
        return kafka_adapter.send_batches(self.producer, self.settings.topic, batches, int(time.time() * 1000))

    def _send_each(self, rows: list, futures: list, sent_up_to: dict[int, int]) -> None:
        """send() per row, one future each; sent_up_to: each partition's last row id sent so far."""
        send, topic, partitions = self.producer.send, self.settings.topic, len(self.tails)  # thousands of rows a page
        for row_id, station_id, date, degrees in rows:
            key = station_id.encode()
            partition = records.partition_for(key, partitions)
            futures.append(send(topic, key=key, value=report.encode(station_id, date, degrees),
                                headers=[(records.HEADER, b"%d" % row_id)], partition=partition))
            sent_up_to[partition] = row_id

    def close(self) -> None:
        """Stop the client without waiting for sends not yet acknowledged: a page's sends were all
        acknowledged when send() returned, and a failed page's are known to be given up."""
        if self.producer is not None:
            producer, self.producer = self.producer, None
            if not kafka_adapter.stop_producer(producer, STOP_WAIT):
                self.log.warning("the Kafka client did not stop within %d s; a send it still retries may arrive "
                                 "late, a duplicate the consumers drop", STOP_WAIT)
