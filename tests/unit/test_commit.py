"""The commit protocol: its named steps in order, and what readers see after each."""
import pytest

from weather import batches, checkpoint, commit, committed
from weather.batches import OffsetRange
from weather.commit import Step
from weather.config import ConfigError
from weather.storage import open_storage


def test_each_step_is_reached_in_order_and_the_batch_is_visible_only_after_the_checkpoint(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    table = batches.build_table(["2000-01-01"], [3.5], ["StationA"], OffsetRange(0, 0))
    seen = []

    def record(step, batch_id):
        visible = committed.read_committed_partition(storage, checkpoints, 0).num_rows
        seen.append((step, batch_id, sorted(storage.names()), visible))

    commit.commit_batch(storage, checkpoints, 0, 0, table, next_offset=1, reached=record)
    assert seen == [
        (Step.POLLED, 0, [], 0),
        (Step.TEMP_WRITTEN, 0, ["partition-0-batch-0.parquet.tmp"], 0),
        (Step.RENAMED, 0, ["partition-0-batch-0.parquet"], 0),
        (Step.CHECKPOINTED, 0, ["partition-0-batch-0.parquet"], 1),
    ]
    assert checkpoint.load(checkpoints, 0) == checkpoint.Checkpoint(batch_id=0, offset=1)


def test_committed_ignores_batches_after_the_checkpoint_and_names_a_missing_one(tmp_path):
    storage = open_storage(f"file://{tmp_path}/data")
    storage.ensure_folder()
    checkpoints = str(tmp_path / "checkpoints")
    for batch_id in range(3):
        table = batches.build_table(["2000-01-01"], [float(batch_id)], ["StationA"], OffsetRange(batch_id, batch_id))
        commit.commit_batch(storage, checkpoints, 1, batch_id, table, next_offset=batch_id + 1)
    checkpoint.save(checkpoints, 1, checkpoint.Checkpoint(batch_id=1, offset=2))
    assert committed.committed_batch_ids(checkpoints, 1) == range(2)
    assert committed.read_committed(storage, checkpoints, [0, 1])["degrees"].to_pylist() == [0.0, 1.0]
    storage.delete(batches.batch_name(1, 0))
    with pytest.raises(committed.MissingBatch, match="partition-1-batch-0.parquet is committed by"):
        committed.read_committed(storage, checkpoints, [1])


@pytest.mark.parametrize("spec", ["renamed:x", "halfway", "polled:1:2"])
def test_a_bad_crash_point_is_a_configuration_error(spec):
    with pytest.raises(ConfigError, match="CONSUMER_CRASH_AT"):
        commit.crash_hook(spec)


def test_no_crash_point_means_no_hook():
    assert commit.crash_hook(None) is commit.no_hook and commit.crash_hook("") is commit.no_hook
