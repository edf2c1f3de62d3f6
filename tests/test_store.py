import json
import logging
import os
import pickle

import pytest
import torch

from core.config import ModelConfig
from core.files import StoreError, read_json, write_atomic, write_json_atomic
from core.models import TargetNet
from core.store import RECORD, TENSORS, Store


def small_model() -> TargetNet:
    torch.manual_seed(0)
    return TargetNet(3, ModelConfig(width=2, bottleneck_dim=4))


def test_model_round_trip(tmp_path):
    store = Store(tmp_path)
    model = small_model()
    store.save_model("targets", "abc", model, {"note": "hello", "value": float("nan")})
    fresh = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4))
    record = store.load_model("targets", "abc", fresh)
    assert record["note"] == "hello" and record["value"] is None and record["key"] == "abc"
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, fresh.state_dict()[name]), name


def test_missing_entry_is_none(tmp_path):
    assert Store(tmp_path).load("targets", "nothing") is None


def test_atomic_write_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    write_json_atomic(path, {"version": 1})

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StoreError, match="No space left"):
        write_json_atomic(path, {"version": 2})
    assert json.loads(path.read_text()) == {"version": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left behind


@pytest.mark.parametrize("damage", ["truncate_tensors", "truncate_record", "drop_record", "garbage_tensors"])
def test_damaged_entries_are_reported_and_treated_as_absent(tmp_path, caplog, damage):
    store = Store(tmp_path)
    folder = store.save_model("targets", "k", small_model(), {})
    tensors, record = folder / TENSORS, folder / RECORD
    if damage == "truncate_tensors":
        tensors.write_bytes(tensors.read_bytes()[:100])
    elif damage == "truncate_record":
        record.write_text(record.read_text()[:40])
    elif damage == "drop_record":
        record.unlink()
    else:
        tensors.write_bytes(b"not a safetensors file")
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert store.load_model("targets", "k", small_model()) is None
    assert damage == "drop_record" or "recomputed" in caplog.text or "do not match" in caplog.text


def test_weights_of_the_wrong_shape_are_refused(tmp_path, caplog):
    store = Store(tmp_path)
    store.save_model("targets", "k", small_model(), {})
    other = TargetNet(3, ModelConfig(width=2, bottleneck_dim=5))
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert store.load_model("targets", "k", other) is None
    assert "do not fit" in caplog.text


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_pickle_posing_as_a_checkpoint_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "store")
    folder = store.save_model("targets", "k", small_model(), {})
    (folder / TENSORS).write_bytes(pickle.dumps(Exploit()))
    assert store.load_model("targets", "k", small_model()) is None
    assert not (tmp_path / "pwned").exists()


def test_unwritable_store_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store wants a folder")
    with pytest.raises(StoreError, match="cannot write"):
        write_atomic(blocker / "x" / "y.json", b"{}")


def test_read_json_of_a_truncated_file_is_none(tmp_path, caplog):
    path = tmp_path / "half.json"
    path.write_text('{"runs": [1, 2')
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert read_json(path) is None
    assert "half.json" in caplog.text


TRAIN_ONCE = """
import json, sys, torch
from pathlib import Path
from core.config import DataConfig, ModelConfig, TargetConfig, TrainConfig
from core.data import PreparedData
from core.engine import Engine
from core.store import Store
engine = Engine(Store(Path(sys.argv[1])), Path(sys.argv[2]), torch.device("cpu"))
config = TargetConfig(model=ModelConfig(width=4), train=TrainConfig(epochs=3, mid_lambda=0.01))
_, record, reused = engine.target(config, PreparedData.load(DataConfig(), engine.data_root))
print(json.dumps({"reused": reused, "created": record["created"]}))
"""


@pytest.mark.slow
def test_two_processes_never_train_the_same_model_twice(tmp_path, data_dir):
    import subprocess
    import sys

    command = [sys.executable, "-c", TRAIN_ONCE, str(tmp_path / "store"), str(data_dir)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [json.loads(p.communicate(timeout=300)[0]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert sorted(o["reused"] for o in outputs) == [False, True]
    assert outputs[0]["created"] == outputs[1]["created"]  # both got the one stored model
    assert len(list((tmp_path / "store" / "targets").glob("*/record.json"))) == 1


def test_a_read_only_store_can_still_be_read(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.save_model("targets", "k", small_model(), {"note": "kept"})

    real_open = os.open

    def read_only(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    # Permissions cannot stop root (CI runs as root), so the lock file's creation is refused directly.
    monkeypatch.setattr(os, "open", read_only)
    with store.lock("targets", "k"):
        assert store.load_model("targets", "k", small_model())["note"] == "kept"
    assert not (tmp_path / "targets" / ".k.lock").exists()
