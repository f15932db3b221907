"""Every committed batch is readable in full right after its checkpoint appears, under load (not slow: no
server is touched). The slow variants, with DataNodes killed and the NameNode restarted, are in
test_hdfs_faults.py."""
from __future__ import annotations

import pytest

from consumer_world import finish, start_pipeline
from world import wait_for

pytestmark = pytest.mark.faults


def test_every_batch_reads_in_full_the_moment_its_checkpoint_appears(pipeline):
    generator, producer, consumers, watcher = start_pipeline(pipeline, max_records="30")
    wait_for(lambda: watcher.found.checked > 20, 120, "20 batches read back right after their checkpoints")
    found, read_back = finish(pipeline, generator, producer, consumers, watcher)
    assert read_back.checked > 20, read_back.checked
    print(f"{found.line()}; {read_back.checked} batches read back in full right after their checkpoints")
