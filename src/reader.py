"""Print the committed data: rows and mean degrees per station.

    python3 reader.py [--watch SECONDS]

Reads each partition's checkpoint first, then only its batches 0..batch_id: never a batch that is
still being written or was written but not committed. Batches the compactor already folded into the
table layer are read from the table, the rest from their files (weather/read/snapshot.py), so the
cost is the fresh tail's, not the pipeline's age. With --watch it prints again every SECONDS until
stopped.
"""
import logging

import pyarrow as pa
from deltalake.exceptions import DeltaError

from weather.read import committed, snapshot
from weather.common.config import Settings
from weather.common.checkpoint import CorruptCheckpoint
from weather.common.program import ArgumentParser, FatalError, run, seconds
from weather.common.waiting import pause, retry, running
from weather.common.storage import open_storage

USAGE = "python3 reader.py [--watch SECONDS]"
READ_ERRORS = (OSError, RuntimeError, DeltaError)  # a server down: waited for
log = logging.getLogger("reader")


def summary(table: pa.Table) -> str:
    per_station = table.group_by("station_id").aggregate([("degrees", "count"), ("degrees", "mean")])
    lines = [f"{'station':<10} {'rows':>8} {'mean degrees':>13}"]
    for station, rows, mean in sorted(zip(*(per_station[name].to_pylist()
                                           for name in ("station_id", "degrees_count", "degrees_mean")))):
        lines.append(f"{station:<10} {rows:>8} {mean:>13.4f}")
    lines.append(f"{'total':<10} {table.num_rows:>8}")
    return "\n".join(lines)


def main():
    parser = ArgumentParser(prog="reader.py", description="Rows and mean degrees per station of the committed data.")
    parser.add_argument("--watch", type=seconds, metavar="SECONDS", help="print again every SECONDS until stopped")
    interval = parser.parse_args().watch
    settings = Settings.from_env()
    storage = open_storage(settings.data_url)
    while running():
        try:
            table = retry(lambda: snapshot.read_rows(storage, settings.checkpoint_dir, settings.table_url,
                                                     range(settings.partitions)),
                          "reading the committed batches", log, READ_ERRORS, settings.startup_wait,
                          settings.storage_advice)
        except (CorruptCheckpoint, committed.MissingBatch, committed.StaleRead) as error:
            raise FatalError(str(error)) from None
        print(summary(table), flush=True)
        if interval is None:
            return
        pause(interval)
        print(flush=True)


if __name__ == "__main__":
    run(main, USAGE)
