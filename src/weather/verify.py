"""The exactly-once check, as a command: one line of counts, exit 1 on any difference.

    python -m weather.verify [--wait SECONDS | --live]      (from src/, or with PYTHONPATH=src)

What it checks: weather/read/verify.py.
"""
from __future__ import annotations

import logging
import sys

from deltalake.exceptions import DeltaError
from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from weather.common import incarnation
from weather.common.config import Settings
from weather.common.program import ArgumentParser, FatalError, run, seconds
from weather.read.verify import verify, wait_until_caught_up


def main() -> None:
    parser = ArgumentParser(prog="python -m weather.verify", description="The exactly-once check.")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--wait", type=seconds, metavar="SECONDS",
                      help="first wait up to SECONDS for every checkpoint to reach its partition's log end")
    mode.add_argument("--live", action="store_true", help="check a running pipeline (missing rows not counted)")
    args = parser.parse_args()
    wait = args.wait
    logging.getLogger("mysql.connector").setLevel(logging.WARNING)  # its plugin chatter would bury the verdict
    settings = Settings.from_env()
    try:
        if wait is not None and not wait_until_caught_up(settings, wait):
            print(f"verify: the consumers did not catch up within {wait:g} s; verifying what is committed",
                  file=sys.stderr)
        verdict = verify(settings, live=args.live)
    except (KafkaError, incarnation.TopicGone, SQLAlchemyError, OSError, RuntimeError, DeltaError) as error:
        raise FatalError(f"cannot verify ({type(error).__name__}: {error}); are Kafka, HDFS and the database "
                         f"running, and the variables right?") from None
    for error in verdict.coverage_errors:
        print(f"coverage: {error}", file=sys.stderr)
    print(verdict.line(), flush=True)
    if not verdict.ok:
        sys.exit(1)


if __name__ == "__main__":
    run(main, "python -m weather.verify [--wait SECONDS | --live]")
