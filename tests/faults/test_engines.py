"""Standard engines read the table layer: Spark (Delta's own reader, in a process of its own) and DuckDB (over
deltalake's Arrow dataset) get exactly the rows of our snapshot's table part, no more (files an optimize
replaced, still in the table's folder; the raw tail the table does not hold yet) and no fewer."""
from __future__ import annotations

import pyarrow as pa
import pytest

from consumer_world import settings
from table_world import compact_once, insert_and_commit, multiset, snapshot_views, spark_rows, start_pipeline, \
    table_part
from weather.common.table import TableVersion

pytestmark = pytest.mark.slow  # a Spark session takes 10-40 s to start


def test_spark_and_duckdb_read_exactly_the_snapshots_table_part(pipeline, tmp_path):
    programs = start_pipeline(pipeline)
    table_url = settings(pipeline).table_url
    merge_two_files = {"TABLE_OPTIMIZE_FILES": "2"}
    compact_once(pipeline, **merge_two_files)
    insert_and_commit(pipeline, 20, 10)
    compact_once(pipeline, **merge_two_files)  # a second small file per partition: optimize merges the two
    version = TableVersion.latest(table_url)
    assert "OPTIMIZE" in [entry["operation"] for entry in version.delta.history()]
    insert_and_commit(pipeline, 30, 5)  # a raw tail the table does not hold

    views = snapshot_views(pipeline)
    ours = multiset(pa.concat_tables([view.table_rows for view in views.values()]))
    assert sum(ours.values()) == 300 and sum(batch.table.num_rows for view in views.values() for batch in view.raw) == 50
    assert multiset(table_part(pipeline)) == ours
    assert multiset(spark_rows(table_url, tmp_path / "spark.parquet")) == ours
    for program in programs:
        assert program.stop() == 0
