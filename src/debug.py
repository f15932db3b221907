"""Print every new message of the topic as a dict, forever.

Group `debug`, partitions assigned by the broker, no seek: a new group starts at the end of each
partition, and a restarted one where it left off. One line per message, flushed, e.g.
{'station_id': 'StationC', 'date': '2008-12-17', 'degrees': 35.2621, 'partition': 2}
A message that is not a Report prints one marker line instead, never a traceback:
# partition 2 offset 17: not a Report (3 bytes): Error parsing message with type 'Report': ...
"""
import logging

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from weather import report
from weather.config import Settings
from weather.program import retry, run, running

log = logging.getLogger("debug")
POLL_MS = 500  # how long a stop request may wait


def main():
    settings = Settings.from_env()
    consumer = retry(lambda: KafkaConsumer(settings.topic, **settings.kafka_options(),
                                           group_id=settings.debug_group),
                     "connecting to Kafka", log, (KafkaError,), settings.startup_wait,
                     settings.kafka_advice)
    log.info("printing new messages of topic %s (group %s)", settings.topic, settings.debug_group)
    try:
        while running():
            for messages in consumer.poll(timeout_ms=POLL_MS).values():
                for message in messages:
                    try:
                        reading = report.decode(message.value)
                    except report.BadReport as error:
                        print(f"# partition {message.partition} offset {message.offset}: {error}", flush=True)
                        continue
                    print({"station_id": reading.station_id, "date": reading.date,
                           "degrees": round(reading.degrees, 4), "partition": message.partition}, flush=True)
    finally:
        consumer.close()


if __name__ == "__main__":
    run(main, "python3 debug.py")
