"""Insert one weather reading per station per day into `temperatures`, forever.

The reference generator's behaviour exactly: `random` seeded with 544 at import; from 2000-01-01,
day by day, one row per station in the order StationA..StationJ (StationI always 5.0, StationJ
the day index % 10, the others gauss(30, 15)); one INSERT per row, committed; 0.1 s per row, or
AUTOGRADER_DELAY_OVERRIDE_VAL seconds. Restarted, it begins again at 2000-01-01.
"""
import datetime
import itertools
import logging
import random

from sqlalchemy import text

from weather.common import database
from weather.common.config import Settings
from weather.common.program import ArgumentParser, run
from weather.common.waiting import pause, retry, running

random.seed(544)

STATIONS = [f"Station{letter}" for letter in "ABCDEFGHIJ"]
FIRST_DAY = datetime.date(2000, 1, 1)
INSERT = text("INSERT INTO temperatures (station_id, date, degrees) VALUES (:station_id, :date, :degrees)")
log = logging.getLogger("weather_generator")


def readings():
    """(station_id, date, degrees) for every station, day after day, forever."""
    for day in itertools.count():
        date = FIRST_DAY + datetime.timedelta(days=day)
        for station_id in STATIONS:
            if station_id == "StationI":
                degrees = 5.0
            elif station_id == "StationJ":
                degrees = day % 10
            else:
                degrees = random.gauss(30, 15)
            yield station_id, date, degrees


def main():
    ArgumentParser(prog="weather_generator.py", description="Insert weather readings forever; it takes no "
                   "arguments (AUTOGRADER_DELAY_OVERRIDE_VAL sets the delay, DB_URL the database).").parse_args()
    settings = Settings.from_env(db_host="mysql")
    engine = database.connect(settings.db_url)
    log.info("inserting one row every %.3f s into %s", settings.generator_delay, engine.url.render_as_string())
    for count, (station_id, date, degrees) in enumerate(readings(), start=1):
        if not running():
            break
        def insert():
            # A commit whose outcome is lost with the connection is retried, so the table may hold the
            # row twice: that is the table's truth, which the pipeline then carries exactly once.
            with database.fatal_if_unusable(), engine.connect() as connection:
                connection.execute(INSERT, {"station_id": station_id, "date": date, "degrees": degrees})
                connection.commit()

        retry(insert, "inserting a row", log, database.UNAVAILABLE,
              give_up_after=settings.startup_wait if count == 1 else None,
              advice=settings.db_advice)
        if count % 1000 == 0:
            log.info("%d rows inserted, up to %s", count, date)
        pause(settings.generator_delay)


if __name__ == "__main__":
    run(main, "python3 weather_generator.py (no arguments)")
