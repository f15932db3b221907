"""Fold committed batches into the table layer, forever: few large files that stay fast to read.

    python3 compactor.py [--once]

Every COMPACT_EVERY_SECONDS it reads each partition's checkpoint and folds the committed batch files
not yet in the table (`TABLE_URL`, a Delta Lake table) into it, recording in the same commit what the
table now covers (weather/compact/compactor.py). The raw layer keeps its contract: the batch files and
checkpoints are only read, and deleted only with RAW_RETENTION_SECONDS set. One compactor per table
on a machine: a second one takes over (weather/common/lock.py). --once: one cycle, then exit.
"""
import os

# Folding is background work: the producer's and the consumers' share of the CPU is the freshness the
# pipeline promises, so the compactor runs at a lower priority. On Linux a nice value belongs to one
# thread and new threads inherit their creator's: set here, before any import can start a thread
# (Arrow's and Delta's pools), every thread of the process has it.
NICENESS = 10
os.nice(NICENESS)

import hashlib  # noqa: E402
import logging  # noqa: E402
from pathlib import Path  # noqa: E402

from deltalake.exceptions import DeltaError  # noqa: E402

from weather.common import lock  # noqa: E402
from weather.common.config import Settings  # noqa: E402
from weather.common.crash import crash_hook  # noqa: E402
from weather.common.program import ArgumentParser, run  # noqa: E402
from weather.common.storage import ERRORS as storage_errors, open_storage  # noqa: E402
from weather.common.waiting import pause, retry, running  # noqa: E402
from weather.compact.compactor import Compactor, ConcurrentCompactor, Step  # noqa: E402

USAGE = "python3 compactor.py [--once]"
log = logging.getLogger("compactor")
# A server down, or a table error worth another cycle; a lost commit race is ConcurrentCompactor.
RETRIED = (*storage_errors, DeltaError)


def main():
    parser = ArgumentParser(prog="compactor.py", description="Fold committed batches into the table layer.")
    parser.add_argument("--once", action="store_true", help="run one cycle, then exit")
    once = parser.parse_args().once
    settings = Settings.from_env()
    reached = crash_hook("COMPACTOR_CRASH_AT", Step)  # fault tests only
    table_key = hashlib.sha256(settings.table_url.encode()).hexdigest()[:12]
    lock.acquire(Path(settings.lock_dir) / f"compactor-{table_key}.lock", f"the table {settings.table_url}",
                 settings.takeover_wait, log)
    compactor = Compactor(open_storage(settings.data_url), settings.checkpoint_dir, settings.table_url,
                          settings.partitions, log, settings.table_file_bytes, settings.optimize_files,
                          settings.compact_max_batches, settings.raw_retention, reached)
    log.info("folding the committed batches of %s into %s every %g s%s", settings.data_url, settings.table_url,
             settings.compact_every, "" if settings.raw_retention is None else
             f"; raw batches in the table are deleted after {settings.raw_retention:g} s")
    try:
        while running():
            try:
                cycle = retry(compactor.run_once, f"compacting into {settings.table_url}", log, RETRIED,
                              settings.startup_wait if once else None, settings.storage_advice)
            except ConcurrentCompactor as error:
                log.warning("%s; planning again", error)
                continue
            if cycle.batches or cycle.optimized or cycle.retained_files:
                log.info("table version %s: %d batches (%d rows) folded%s%s%s", cycle.version, cycle.batches,
                         cycle.rows, f", partitions {list(cycle.replaced)} replaced" if cycle.replaced else "",
                         f", partitions {list(cycle.optimized)} optimized" if cycle.optimized else "",
                         f", {cycle.retained_files} raw files deleted" if cycle.retained_files else "")
            if once:
                return
            pause(settings.compact_every)
    finally:
        compactor.close()


if __name__ == "__main__":
    run(main, USAGE)
