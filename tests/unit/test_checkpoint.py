"""Checkpoints: atomic save, exactly the specification's JSON, clear errors when corrupt."""
import json

import pytest

from weather.common import checkpoint
from weather.common.checkpoint import Checkpoint, CorruptCheckpoint
from weather.common.config import ConfigError


def test_a_saved_checkpoint_loads_back_and_is_the_specifications_json(tmp_path):
    checkpoint.save(str(tmp_path), 3, Checkpoint(batch_id=20, offset=255))
    assert checkpoint.load(str(tmp_path), 3) == Checkpoint(20, 255)
    assert json.loads((tmp_path / "partition-3.json").read_text()) == {"batch_id": 20, "offset": 255}
    assert sorted(path.name for path in tmp_path.iterdir()) == ["partition-3.json"]  # no temp file left


def test_saving_again_replaces_the_checkpoint(tmp_path):
    checkpoint.save(str(tmp_path), 0, Checkpoint(0, 5))
    checkpoint.save(str(tmp_path), 0, Checkpoint(1, 9))
    assert checkpoint.load(str(tmp_path), 0) == Checkpoint(1, 9)


def test_no_checkpoint_is_none(tmp_path):
    assert checkpoint.load(str(tmp_path), 0) is None


@pytest.mark.parametrize("text", ['{"batch_id": 20, "off', "", "[]", '{"batch_id": 1}',
                                  '{"batch_id": "1", "offset": 2}', '{"batch_id": -1, "offset": 2}',
                                  '{"batch_id": 1, "offset": true}'])
def test_a_corrupt_checkpoint_raises_corrupt_checkpoint_naming_the_file(tmp_path, text):
    (tmp_path / "partition-1.json").write_text(text)
    with pytest.raises(CorruptCheckpoint, match="partition-1.json is corrupt"):
        checkpoint.load(str(tmp_path), 1)


def test_the_checkpoint_holds_exactly_the_two_keys_and_extra_keys_are_ignored_when_loading(tmp_path):
    checkpoint.save(str(tmp_path), 0, Checkpoint(2, 9))
    assert json.loads((tmp_path / "partition-0.json").read_text()) == {"batch_id": 2, "offset": 9}
    (tmp_path / "partition-1.json").write_text('{"batch_id": 1, "offset": 4, "topic_id": "from older code"}')
    assert checkpoint.load(str(tmp_path), 1) == Checkpoint(1, 4)


def test_temp_files_left_inside_save_in_any_naming_are_removed_and_only_the_partitions(tmp_path):
    stale = ["partition-2.json.tmp", "partition-2.json.tmp.1a2b3c4d.tmp", "partition-2.json.5e6f7a8b.tmp"]
    for name in [*stale, "partition-2.json", "partition-21.json.tmp", "partition-3.json.1a2b3c4d.tmp"]:
        (tmp_path / name).write_text('{"batch_id": 3')
    assert sorted(checkpoint.temp_files(str(tmp_path), 2)) == [tmp_path / name for name in sorted(stale)]
    assert sorted(checkpoint.remove_temp(str(tmp_path), 2)) == [tmp_path / name for name in sorted(stale)]
    assert checkpoint.remove_temp(str(tmp_path), 2) == []
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "partition-2.json", "partition-21.json.tmp", "partition-3.json.1a2b3c4d.tmp"]


def test_a_file_url_is_that_local_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "checkpoints"
    checkpoint.save(folder.as_uri(), 1, Checkpoint(batch_id=4, offset=20))
    assert json.loads((folder / "partition-1.json").read_text()) == {"batch_id": 4, "offset": 20}
    assert checkpoint.load(folder.as_uri(), 1) == checkpoint.load(str(folder), 1) == Checkpoint(4, 20)
    assert checkpoint.checkpoint_path(folder.as_uri(), 1) == folder / "partition-1.json"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["checkpoints"]  # no ./file:/... folder


def test_a_url_of_another_kind_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^CHECKPOINT_DIR='s3://bucket/cp': use hdfs://host:port/path or file:///"):
        checkpoint.load("s3://bucket/cp", 0)


@pytest.mark.parametrize("raw", [b"\xff\xd8\x00 torn", b"\x00" * 32])
def test_a_checkpoint_of_binary_garbage_is_corrupt_too(tmp_path, raw):
    (tmp_path / "partition-1.json").write_bytes(raw)
    with pytest.raises(CorruptCheckpoint, match="partition-1.json is corrupt"):
        checkpoint.load(str(tmp_path), 1)


def test_committed_at_is_when_the_checkpoint_was_replaced(tmp_path):
    assert checkpoint.committed_at(str(tmp_path), 0) is None
    checkpoint.save(str(tmp_path), 0, Checkpoint(0, 5))
    assert checkpoint.committed_at(str(tmp_path), 0) == (tmp_path / "partition-0.json").stat().st_mtime
