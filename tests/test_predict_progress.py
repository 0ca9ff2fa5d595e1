import numpy as np
import pytest

from dacapo_flow.predict.progress import Progress, checksum, read_shard_json, run_blocks
from helpers_predict import read_json


def test_checksum_sees_dtype_shape_and_bytes():
    a = np.arange(8, dtype=np.uint8).reshape(2, 4)
    assert checksum(a) == checksum(a.copy())
    assert checksum(a) != checksum(a.astype(np.uint16))
    assert checksum(a) != checksum(a.reshape(4, 2))
    assert checksum(a, a) != checksum(a)
    assert checksum(np.asfortranarray(a)) == checksum(a)


def test_manifest_resumes_only_under_the_same_config(tmp_path):
    path = tmp_path / "p.progress.json"
    progress = Progress(path, "predict", "h1", flush_s=0)
    progress.record(3, {"checksum": "x"})
    assert Progress(path, "predict", "h1").done == {3: {"checksum": "x"}}
    assert Progress(path, "predict", "h2").done == {}
    assert Progress(path, "segment", "h1").done == {}
    path.write_text("{not json")
    assert Progress(path, "predict", "h1").done == {}


def test_shard_json_lists_blocks_checksums_and_hash(tmp_path):
    progress = Progress(tmp_path / "m.json", "predict", "h")
    assert not run_blocks([0, 2, 4], progress, lambda b: {"checksum": str(b)}, max_blocks=2)
    with pytest.raises(RuntimeError, match=r"blocks \[4\]"):
        progress.write_shard_json(tmp_path / "s.json", 0, 2, [0, 2, 4])
    done = []
    assert run_blocks([0, 2, 4], progress, lambda b: done.append(b) or {"checksum": str(b)})
    assert done == [4]
    progress.write_shard_json(tmp_path / "s.json", 0, 2, [0, 2, 4])
    shard = read_shard_json(tmp_path / "s.json", "predict")
    assert shard["blocks"] == {0: {"checksum": "0"}, 2: {"checksum": "2"}, 4: {"checksum": "4"}}
    assert shard["config_hash"] == "h" and shard["shard"] == 0 and shard["shards"] == 2
    assert read_json(tmp_path / "s.json")["kind"] == "predict"
    with pytest.raises(ValueError, match="not a segment shard"):
        read_shard_json(tmp_path / "s.json", "segment")


def test_manifest_writes_are_throttled(tmp_path):
    progress = Progress(tmp_path / "m.json", "predict", "h", flush_s=3600)
    progress.record(1, {"checksum": "a"})
    assert not (tmp_path / "m.json").exists()
    progress.flush()
    assert Progress(tmp_path / "m.json", "predict", "h").done == {1: {"checksum": "a"}}
