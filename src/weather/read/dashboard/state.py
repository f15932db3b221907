"""The dashboard's state: one JSON-ready dict with everything the page shows (served at /api/state)."""
from __future__ import annotations

import datetime
import threading
import time
from collections import deque

from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from weather.common.config import Settings
from weather.common.storage import Storage
from .cache import CommittedCache
from .probes import HdfsProbe, KafkaProbe, MysqlProbe, TopicMissing
from .summary import summarize

RATE_WINDOW = 60.0  # seconds of committed-row history behind "rows/s"
WAITING = "waiting for the first committed batch"


def _problem(error: BaseException) -> str:
    text = str(error)
    name = type(error).__name__
    return (text if text.startswith(name) else f"{name}: {text}").splitlines()[0]  # kafka's errors name themselves


class Dashboard:
    def __init__(self, settings: Settings, storage: Storage) -> None:
        self.settings = settings
        self.cache = CommittedCache(storage, settings.checkpoint_dir, settings.table_url, range(settings.partitions))
        self.kafka = KafkaProbe(settings)
        self.mysql = MysqlProbe(settings)
        self.hdfs = HdfsProbe(settings)
        self.history: deque[tuple[float, int]] = deque()  # (monotonic time, committed rows) samples
        self._summary_version = -1
        self._summary: tuple[list[dict], dict] = ([], {})
        self._lock = threading.Lock()  # one refresh at a time: the cache and the probes are not shared-safe

    def state(self) -> dict:
        with self._lock:
            return self._state()

    def _state(self) -> dict:
        errors = []

        def down(server: str, address: str, error: BaseException) -> None:
            errors.append({"server": server, "address": address, "message": f"not reachable ({_problem(error)})"})

        try:
            self.hdfs.check()
            hdfs_up = True
        except OSError as error:
            hdfs_up = False
            down("HDFS", self.hdfs.address, error)
        self.cache.refresh(storage_reachable=hdfs_up)
        committed = {p: data.saved.offset for p, data in self.cache.partitions.items() if data.saved}
        ends, first_unread = {}, {}
        try:
            ends, first_unread = self.kafka.offsets(committed)
        except TopicMissing as error:
            errors.append({"server": "Kafka", "address": self.kafka.address, "message": str(error)})
        except KafkaError as error:
            down("Kafka", self.kafka.address, error)
        try:
            mysql_rows = self.mysql.rows()
        except SQLAlchemyError as error:
            mysql_rows = None
            down("MySQL", self.mysql.address, getattr(error, "orig", None) or error)
        stations, chart = self._summaries()
        committed_rows = sum(data.rows for data in self.cache.partitions.values())
        return {
            "updated": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "config": {"topic": self.settings.topic, "data_url": self.settings.data_url,
                       "checkpoint_dir": self.settings.checkpoint_dir, "table_url": self.settings.table_url,
                       "kafka": self.kafka.address,
                       "mysql": self.mysql.address},
            "errors": errors,
            "totals": {"mysql_rows": mysql_rows, "committed_rows": committed_rows,
                       "rows_per_second": self._rate(committed_rows)},
            "partitions": [self._partition(p, ends, first_unread) for p in self.cache.partitions],
            "stations": stations,
            "chart": chart,
        }

    def _partition(self, partition: int, ends: dict[int, int], first_unread: dict[int, float]) -> dict:
        data = self.cache.partitions[partition]
        saved = data.saved
        end = ends.get(partition)
        offset = saved.offset if saved else 0
        row = {"partition": partition, "status": "committed" if saved else "waiting",
               "message": data.error or ("" if saved else WAITING),
               "batch_id": saved.batch_id if saved else None, "offset": saved.offset if saved else None,
               "log_end_offset": end, "lag_messages": None if end is None else end - offset,
               "lag_seconds": None, "rows": data.rows,
               "rows_per_file": round(data.rows / (data.read_through + 1), 2) if data.read_through >= 0 else None,
               "last_file_rows": data.last_batch_rows,
               "seconds_since_commit": round(time.time() - data.committed_at, 1) if data.committed_at else None}
        if end is not None:
            unread_since = first_unread.get(partition)
            row["lag_seconds"] = round(max(0.0, time.time() - unread_since), 1) if unread_since else 0.0
            if end < offset:
                row["message"] = "the checkpoint is past the log end: was the topic recreated?"
        return row

    def _rate(self, committed_rows: int) -> float | None:
        """Committed rows per second over the last RATE_WINDOW seconds, from the refreshes' samples."""
        now = time.monotonic()
        if self.history and committed_rows < self.history[-1][1]:
            self.history.clear()  # rows were dropped (a checkpoint went back): the old samples mean nothing
        self.history.append((now, committed_rows))
        while now - self.history[0][0] > RATE_WINDOW:
            self.history.popleft()
        first_time, first_rows = self.history[0]
        return round((committed_rows - first_rows) / (now - first_time), 2) if now > first_time else None

    def _summaries(self) -> tuple[list[dict], dict]:
        """Per-station figures and the chart's series, recomputed only when committed rows changed."""
        if self._summary_version != self.cache.version:
            self._summary = summarize(self.cache.summaries())
            self._summary_version = self.cache.version
        return self._summary

