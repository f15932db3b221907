"""scripts/demo.py's fresh start, on an isolated pipeline (its own topic, database and HDFS folder)."""
from __future__ import annotations

from scripts import demo
from weather.common import batches, checkpoint
from weather.common.batches import BatchInfo, OffsetRange
from weather.common.checkpoint import Checkpoint
from weather.common.config import Settings
from weather.common.storage import open_storage
from world import STATIONS


def test_the_demo_starts_afresh_with_its_checkpoints_on_hdfs(pipeline):
    hdfs_checkpoints = pipeline.data_url.rsplit("/", 1)[0] + "/checkpoints"
    settings = Settings.from_env(env={**pipeline.env, "CHECKPOINT_DIR": hdfs_checkpoints})
    pipeline.insert([(STATIONS[0], "2000-01-01", 1.0)])
    storage = open_storage(settings.data_url)
    storage.ensure_folder()
    table = batches.build_table(["2000-01-01"], [1.0], [STATIONS[0]], BatchInfo(OffsetRange(0, 0)))
    storage.write(batches.batch_name(2, 0), batches.to_parquet(table))
    checkpoint.save(hdfs_checkpoints, 2, Checkpoint(batch_id=0, offset=1))

    demo.start_afresh(settings, pipeline.engine)
    assert checkpoint.load(hdfs_checkpoints, 2) is None
    assert storage.names() == [] and pipeline.table_rows() == []
