"""Settings of the pipeline, read once from the environment.

The defaults are the specification's values inside its Docker containers, so `docker exec -w /src
<PROJECT>-kafka python3 producer.py` needs no variable at all. The local stack overrides them
(`eval "$(make -s env)"`). Only the entry points call `Settings.from_env()`; everything below
them receives the settings as arguments.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
from dataclasses import dataclass
from urllib.parse import urlparse

from weather.common.errors import Unrecoverable


class ConfigError(Unrecoverable, ValueError):
    """A configuration variable has a value the pipeline cannot use."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer; set it to a whole number (default {default})") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below {minimum}; set it to at least {minimum}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to seconds, e.g. {default}") from None
    if value < 0:
        raise ConfigError(f"{name}={value} is negative; set it to 0 or more seconds")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a yes/no value; set it to 1 or 0")


def _beside(url: str, name: str) -> str:
    """The folder `name` next to the folder at url (at the root when url is the root)."""
    parsed = urlparse(url)
    parent = posixpath.dirname(parsed.path.rstrip("/")) or "/"
    return parsed._replace(path=posixpath.join(parent, name)).geturl()


def _local_lock_dir(checkpoint_dir: str) -> str:
    """The locks live on this machine: beside the checkpoints when those are local, else in the temp dir."""
    parsed = urlparse(checkpoint_dir)
    if parsed.scheme == "file":
        return parsed.path
    if parsed.scheme:
        return os.path.join(tempfile.gettempdir(), "weather-locks")
    return checkpoint_dir


@dataclass(frozen=True)
class Settings:
    project: str = "p7"
    bootstrap_servers: str = "localhost:9092"
    db_url: str = "mysql+mysqlconnector://root:abc@p7-mysql-1:3306/CS544"
    data_url: str = "hdfs://boss:9000/data"
    deadletter_url: str = "hdfs://boss:9000/deadletter"  # beside the data folder unless DEADLETTER_URL is set
    checkpoint_dir: str = "/"
    topic: str = "temperatures"
    partitions: int = 4
    replication_factor: int = 1
    generator_delay: float = 0.1  # seconds per inserted row (AUTOGRADER_DELAY_OVERRIDE_VAL)
    page_size: int = 20000  # rows the producer reads per query, and sends before waiting for their acknowledgements
    idle_poll: float = 0.02  # seconds the producer waits when the table has no new row (its share of freshness)
    resume: bool = False  # the producer keeps the topic and continues from what it holds (PRODUCER_RESUME)
    gap_grace: float = 5.0  # seconds the producer waits for a missing id before passing it
    startup_wait: float | None = None  # seconds a program waits for its servers and topic at start; None: forever
    # Where the single-writer locks live (weather/common/lock.py): a local folder, beside the checkpoints
    # unless set (in the temp dir when CHECKPOINT_DIR is an hdfs:// URL), so one consumer per
    # partition and one producer per topic run on this machine.
    lock_dir: str = "/"
    takeover_wait: float = 10.0  # seconds a new writer waits for the old one to stop after SIGTERM, before SIGKILL
    debug_group: str = "debug"
    # A consumer's batch policy (one Parquet file per batch): a batch gathers the records already
    # fetched, up to consumer_max_records rows or consumer_batch_max_wait seconds, so a backlog or a
    # fast stream makes few large files while a slow one is still committed as soon as it arrives.
    consumer_max_records: int = 20_000
    consumer_batch_max_wait: float = 0.1
    # The table layer (weather/common/table.py, src/compactor.py): where the compactor folds committed
    # batches, how often, into files of about which size, merging a partition's small files once it has
    # this many; raw batch files the table covers are deleted after raw_retention seconds (None: never).
    table_url: str = "hdfs://boss:9000/warehouse/temperatures"
    compact_every: float = 10.0
    table_file_bytes: int = 64 << 20
    optimize_files: int = 20
    compact_max_batches: int = 20_000
    raw_retention: float | None = None

    @classmethod
    def from_env(cls, db_host: str | None = None, env: dict[str, str] | None = None) -> "Settings":
        """Settings from the environment.

        db_host: the database host when DB_URL is unset; the specification has the producer reach
        MySQL as `<PROJECT>-mysql-1` (the default) and the generator as `mysql`.
        """
        env = dict(os.environ if env is None else env)
        project = env.get("PROJECT", cls.project)
        host = db_host or f"{project}-mysql-1"
        data_url = env.get("DATA_URL", cls.data_url).rstrip("/")
        return cls(
            project=project,
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            db_url=env.get("DB_URL", f"mysql+mysqlconnector://root:abc@{host}:3306/CS544"),
            data_url=data_url,
            deadletter_url=env.get("DEADLETTER_URL", "").rstrip("/") or _beside(data_url, "deadletter"),
            checkpoint_dir=env.get("CHECKPOINT_DIR", cls.checkpoint_dir),
            topic=env.get("TOPIC", cls.topic),
            partitions=_int(env, "TOPIC_PARTITIONS", cls.partitions, minimum=1),
            replication_factor=_int(env, "TOPIC_REPLICATION_FACTOR", cls.replication_factor, minimum=1),
            generator_delay=_float(env, "AUTOGRADER_DELAY_OVERRIDE_VAL", cls.generator_delay),
            page_size=_int(env, "PRODUCER_PAGE_SIZE", cls.page_size, minimum=1),
            idle_poll=_float(env, "PRODUCER_IDLE_POLL", cls.idle_poll),
            resume=_bool(env, "PRODUCER_RESUME", cls.resume),
            gap_grace=_float(env, "PRODUCER_GAP_GRACE_SECONDS", cls.gap_grace),
            startup_wait=_float(env, "STARTUP_WAIT_SECONDS", 60.0) if env.get("STARTUP_WAIT_SECONDS") else None,
            lock_dir=env.get("LOCK_DIR") or _local_lock_dir(env.get("CHECKPOINT_DIR", cls.lock_dir)),
            takeover_wait=_float(env, "TAKEOVER_WAIT_SECONDS", cls.takeover_wait),
            debug_group=env.get("DEBUG_GROUP_ID", cls.debug_group),
            consumer_max_records=_int(env, "CONSUMER_MAX_POLL_RECORDS", cls.consumer_max_records, minimum=1),
            consumer_batch_max_wait=_float(env, "CONSUMER_BATCH_MAX_WAIT", cls.consumer_batch_max_wait),
            table_url=env.get("TABLE_URL", "").rstrip("/") or _beside(data_url, "warehouse/temperatures"),
            compact_every=_float(env, "COMPACT_EVERY_SECONDS", cls.compact_every),
            table_file_bytes=_int(env, "TABLE_FILE_BYTES", cls.table_file_bytes, minimum=1 << 20),
            optimize_files=_int(env, "TABLE_OPTIMIZE_FILES", cls.optimize_files, minimum=2),
            compact_max_batches=_int(env, "COMPACT_MAX_BATCHES", cls.compact_max_batches, minimum=1),
            raw_retention=_float(env, "RAW_RETENTION_SECONDS", 0.0) if env.get("RAW_RETENTION_SECONDS") else None,
        )

    def kafka_options(self) -> dict:
        """Options for every kafka-python client: give up connecting after a few seconds, the caller retries."""
        return {"bootstrap_servers": self.bootstrap_servers, "bootstrap_timeout_ms": 5000}

    @property
    def kafka_advice(self) -> str:
        return f"is Kafka running at {self.bootstrap_servers}? (KAFKA_BOOTSTRAP_SERVERS)"

    @property
    def db_advice(self) -> str:
        return "is the database running, and DB_URL right?"

    @property
    def storage_advice(self) -> str:
        return f"is {self.data_url} reachable? (DATA_URL)"
