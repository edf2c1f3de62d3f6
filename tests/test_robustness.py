"""Issue 6: bad inputs, damaged and untrusted files and hostile links. Each is refused with a message that says
what to do, or handled without losing anything; nothing is half-read and no file runs code.

Interruptions and concurrent runs are in test_interruptions.py. Cases that predate this suite stay beside their
code: test_data (a truncated PGM and IDX file, missing ORL), test_store (damaged entries, a pickle whose
checksum does not match, a full disk), test_cli (bad option values), test_explore and test_dashboard (links,
a broken results file on the page).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import io
import json
import logging
import math
import os
import pickle
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_faces, run_cli, shown, write_idx
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import gallery
from core.attack_config import AttackConfig, GMIConfig, InversionConfig, MIFaceConfig, PriorConfig
from core.config import DataConfig, EvaluatorConfig, ModelConfig, TargetConfig, TrainConfig
from core.data import DataError, PreparedData, read_face
from core.engine import Engine
from core.errors import ConfigError, TrainingDiverged
from core.files import StoreError
from core.gallery import GalleryError, Sweep, available_sweeps
from core.limits import check_lambda
from core.models import TargetNet
from core.results import load_results, results_path
from core.store import RECORD, TENSORS, Store
from core.stored_config import config_hash, sweep_from_dict
from core.sweep_config import SweepConfig
from tests.typed_sweeps import sweep_file

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")


def folder_config(folder: Path, **settings: int) -> DataConfig:
    return DataConfig(dataset="folder", folder=str(folder), **settings)


# ---- data -----------------------------------------------------------------------------------------------

def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (50, 40), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def bad_file(name: str, data: bytes) -> Callable[[Path], DataConfig]:
    """Three good identities, and one bad file among person1's images."""

    def build(root: Path) -> DataConfig:
        make_faces(root / "faces")
        (root / "faces" / "person1" / name).write_bytes(data)
        return folder_config(root / "faces")

    return build


def empty_folder(root: Path) -> DataConfig:
    (root / "faces").mkdir()
    return folder_config(root / "faces")


def folders_without_images(root: Path) -> DataConfig:
    for name in ("ann", "bob"):
        (root / "faces" / name).mkdir(parents=True)
        (root / "faces" / name / "notes.txt").write_text("photos to come")
    return folder_config(root / "faces")


def one_identity(root: Path) -> DataConfig:
    return folder_config(make_faces(root / "faces", identities=1))


def identity_with_one_image(root: Path) -> DataConfig:
    make_faces(root / "faces")
    (root / "faces" / "zoe").mkdir()
    Image.new("L", (40, 50), 100).save(root / "faces" / "zoe" / "1.png")
    return folder_config(root / "faces")


def too_many_public_identities(root: Path) -> DataConfig:
    return folder_config(make_faces(root / "faces"), public_identities=2)


def mnist_files(images: bytes, labels: bytes, suffix: str = "") -> Callable[[Path], DataConfig]:
    def build(root: Path) -> DataConfig:
        (root / "mnist").mkdir()
        (root / "mnist" / f"train-images-idx3-ubyte{suffix}").write_bytes(images)
        (root / "mnist" / f"train-labels-idx1-ubyte{suffix}").write_bytes(labels)
        return DataConfig(dataset="mnist")

    return build


def mnist_count_mismatch(root: Path) -> DataConfig:
    (root / "mnist").mkdir()
    write_idx(root / "mnist" / "train-images-idx3-ubyte", np.zeros((3, 28, 28)))
    write_idx(root / "mnist" / "train-labels-idx1-ubyte", np.zeros(2))
    return DataConfig(dataset="mnist")


REMOVE = "Remove or replace the file"
REPLACE_MNIST = "Replace it with the original file"
BAD_DATA = [
    pytest.param(lambda root: folder_config(root / "nowhere"), ["nowhere", "MIDLAB_DATA", "one sub-folder"],
                 id="missing-folder"),
    pytest.param(lambda root: DataConfig(dataset="lfw"), ["lfw_gray/private_min20", "python -m core fetch lfw"],
                 id="missing-lfw"),
    pytest.param(lambda root: DataConfig(dataset="mnist"),
                 ["mnist/train-images-idx3-ubyte", "python -m core fetch mnist"],
                 id="missing-mnist"),
    pytest.param(empty_folder, ["0 identity folder", "at least 2", "one sub-folder"], id="empty-folder"),
    pytest.param(folders_without_images, ["0 identity folder", "at least 2"], id="identity-folders-without-images"),
    pytest.param(one_identity, ["1 identity folder", "at least 2"], id="one-identity"),
    pytest.param(identity_with_one_image, ["identity zoe has 1 image", "Add images of this person or remove"],
                 id="identity-with-fewer-images-than-the-split-needs"),
    pytest.param(too_many_public_identities, ["cannot hold out 2 of 3", "--public-identities"],
                 id="more-public-identities-than-people"),
    pytest.param(bad_file("9.jpg", jpeg_bytes()[:400]), [r"person1/9\.jpg", "truncated", REMOVE],
                 id="truncated-jpeg"),
    pytest.param(bad_file("9.pgm", b"P5 92 ninety 255\n" + b"\x00" * 64), [r"person1/9\.pgm", REMOVE],
                 id="corrupt-pgm-header"),
    pytest.param(bad_file("9.png", b""), [r"person1/9\.png", REMOVE], id="empty-image-file"),
    pytest.param(bad_file("notes.jpg", b"not a photo, just text"), [r"notes\.jpg", "cannot identify", REMOVE],
                 id="text-file-named-as-image"),
    pytest.param(bad_file("huge.pgm", b"P5 30000 30000 255\n" + b"\x00" * 64),
                 [r"huge\.pgm", "decompression bomb", REMOVE], id="header-promising-900-million-pixels"),
    pytest.param(mnist_files(b"not gzip at all", b"nor this", ".gz"), ["train-images", "gzip", REPLACE_MNIST],
                 id="mnist-not-gzipped"),
    pytest.param(mnist_files(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, b"\x00\x00\x08\x01" + b"\x00" * 8),
                 ["train-images", "not an unsigned-byte IDX file", REPLACE_MNIST], id="mnist-wrong-format"),
    pytest.param(mnist_count_mismatch, ["3 images but 2 labels", REPLACE_MNIST], id="mnist-images-without-labels"),
]


@pytest.mark.parametrize(("build", "expected"), BAD_DATA)
def test_bad_data_stops_with_a_message_naming_the_path_and_the_fix(tmp_path, build, expected):
    config = build(tmp_path)
    files = sorted(tmp_path.rglob("*"))
    with pytest.raises(DataError) as error:
        PreparedData.load(config, tmp_path)
    for fragment in expected:
        assert re.search(fragment, str(error.value)), (fragment, str(error.value))
    assert sorted(tmp_path.rglob("*")) == files  # the bad data is reported, never moved or deleted


def test_files_that_are_not_images_are_skipped_and_every_image_kept(tmp_path):
    faces = make_faces(tmp_path / "faces")
    for person in faces.iterdir():
        (person / "README.txt").write_text("who this is")
        (person / "Thumbs.db").write_bytes(b"\x00" * 32)
        (person / ".DS_Store").write_bytes(b"\x00" * 32)
        (person / "._0.png").write_bytes(b"\x00\x05\x16\x07 macOS metadata, not a PNG")
        (person / "thumbnails").mkdir()
        Image.new("L", (8, 8)).save(person / "thumbnails" / "0.png")
    (faces / "LICENSE").write_text("CC BY")
    make_faces(faces / ".trash", identities=1)
    data = PreparedData.load(folder_config(faces), tmp_path)
    assert data.images.names == ["person0", "person1", "person2"]
    assert np.bincount(data.images.labels).tolist() == [4, 4, 4]


def pgm16(path: Path, value: int) -> None:
    path.write_bytes(b"P5 40 50 65535\n" + np.full((50, 40), value, dtype=">u2").tobytes())


def palette(size: tuple[int, int], gray: int) -> Image.Image:
    image = Image.new("P", size, 0)
    image.putpalette([gray, gray, gray])
    return image


# Every image is a flat gray 100 (white for the 1-bit one) in another size, mode or format.
IMAGE_KINDS = [
    pytest.param("a.png", lambda p: Image.new("L", (30, 70), 100).save(p), 100, id="portrait-30x70"),
    pytest.param("a.png", lambda p: Image.new("L", (300, 40), 100).save(p), 100, id="landscape-300x40"),
    pytest.param("a.png", lambda p: Image.new("L", (1, 1), 100).save(p), 100, id="one-pixel"),
    pytest.param("a.jpg", lambda p: Image.new("RGB", (40, 50), (100,) * 3).save(p), 100, id="rgb-jpeg"),
    pytest.param("a.png", lambda p: Image.new("RGBA", (40, 50), (100, 100, 100, 255)).save(p), 100, id="rgba-png"),
    pytest.param("a.png", lambda p: Image.new("LA", (40, 50), (100, 255)).save(p), 100, id="gray-alpha-png"),
    pytest.param("a.png", lambda p: palette((40, 50), 100).save(p), 100, id="palette-png"),
    pytest.param("a.jpg", lambda p: Image.new("RGB", (40, 50), (100,) * 3).convert("CMYK").save(p), 100,
                 id="cmyk-jpeg"),
    pytest.param("a.tif", lambda p: Image.new("L", (40, 50), 100).save(p), 100, id="tiff"),
    pytest.param("a.bmp", lambda p: Image.new("1", (40, 50), 1).save(p), 255, id="one-bit-bmp"),
    pytest.param("a.png", lambda p: Image.fromarray(np.full((50, 40), 100 * 257, np.uint16)).save(p), 100,
                 id="16-bit-png"),
    pytest.param("a.pgm", lambda p: pgm16(p, 100 * 257), 100, id="16-bit-pgm"),
]


@pytest.mark.parametrize(("name", "write", "gray"), IMAGE_KINDS)
def test_images_of_any_size_and_mode_load_with_their_content(tmp_path, name, write, gray):
    write(tmp_path / name)
    face = read_face(tmp_path / name, 64)
    assert face.shape == (64, 64) and face.dtype == np.uint8
    assert np.abs(face.astype(int) - gray).max() <= 2, np.unique(face)


def test_a_folder_mixing_sizes_modes_and_formats_loads_whole(tmp_path):
    person = tmp_path / "faces" / "mixed"
    person.mkdir(parents=True)
    for index, kind in enumerate(IMAGE_KINDS):
        name, write, _ = kind.values
        write(person / f"{index}{Path(name).suffix}")
    make_faces(tmp_path / "faces", identities=1)
    data = PreparedData.load(folder_config(tmp_path / "faces"), tmp_path)
    assert data.images.names == ["mixed", "person0"]
    assert np.bincount(data.images.labels).tolist() == [len(IMAGE_KINDS), 4]


def test_an_identity_with_just_two_images_gives_one_to_each_side(tmp_path):
    faces = make_faces(tmp_path / "faces", per_identity=5)
    for index in range(2, 5):
        (faces / "person2" / f"{index}.png").unlink()
    data = PreparedData.load(folder_config(faces), tmp_path)
    labels = data.images.labels
    assert (labels[data.train_index] == 2).sum() == 1 and (labels[data.test_index] == 2).sum() == 1
    assert (labels[data.train_index] == 0).sum() == 4 and (labels[data.test_index] == 0).sum() == 1


def test_a_bad_image_stops_the_cli_before_anything_is_written(tmp_path, capsys):
    config = bad_file("9.jpg", jpeg_bytes()[:400])(tmp_path)
    code, _, err = run_cli(capsys, "sweep", "--dataset", "folder", "--folder", config.folder, "--data",
                           str(tmp_path), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--quiet")
    assert code == 1 and "9.jpg" in err and REMOVE in err and "Traceback" not in err
    assert not (tmp_path / "store").exists() and not (tmp_path / "out").exists()


# ---- settings -------------------------------------------------------------------------------------------

LAMBDA = r"lambda must be in \[0, 1000\]"
BAD_SETTINGS = [
    pytest.param(lambda: TrainConfig(mid_lambda=-0.01), LAMBDA, id="lambda-negative"),
    pytest.param(lambda: SweepConfig(lambdas=(0.0, math.nan)), LAMBDA, id="lambda-nan"),
    pytest.param(lambda: TrainConfig(mid_lambda=math.inf), LAMBDA, id="lambda-infinite"),
    pytest.param(lambda: SweepConfig(lambdas=(-math.inf,)), LAMBDA, id="lambda-minus-infinite"),
    pytest.param(lambda: TrainConfig(mid_lambda=1e6), LAMBDA, id="lambda-absurdly-large"),
    pytest.param(lambda: check_lambda("0.1"), LAMBDA, id="lambda-text-not-number"),
    pytest.param(lambda: TrainConfig(epochs=0), "epochs must be in 1..1000", id="epochs-zero"),
    pytest.param(lambda: TrainConfig(epochs=-3), "epochs must be in 1..1000", id="epochs-negative"),
    pytest.param(lambda: EvaluatorConfig(epochs=0), "evaluator sizes must be positive", id="judge-epochs-zero"),
    pytest.param(lambda: MIFaceConfig(steps=0), "MI-Face steps must be in 1..2000", id="attack-steps-zero"),
    pytest.param(lambda: TrainConfig(lr=math.nan), "learning rate must be positive", id="learning-rate-nan"),
    pytest.param(lambda: TrainConfig(lr=0.0), "learning rate must be positive", id="learning-rate-zero"),
    pytest.param(lambda: TrainConfig(batch_size=0), "batch_size must be at least 1", id="batch-size-zero"),
    pytest.param(lambda: AttackConfig(attack="no-such-attack"), "attack must be one of miface", id="attack-unknown"),
    pytest.param(lambda: DataConfig(dataset="no-such-dataset"), "dataset must be one of orl", id="dataset-unknown"),
    pytest.param(lambda: AttackConfig(view="everything"), "view must be one of sample, mean, mu",
                 id="attacker-view-unknown"),
    pytest.param(lambda: ModelConfig(predict_mode="../mu"), "predict_mode must be one of", id="predict-mode-unknown"),
    pytest.param(lambda: AttackConfig(public="celeba_public"), "public must be one of lfw_public",
                 id="public-set-unknown"),
    pytest.param(lambda: ModelConfig(bottleneck_dim=0), "bottleneck size k must be in 1..4096", id="bottleneck-zero"),
    pytest.param(lambda: ModelConfig(bottleneck_dim=-4), "bottleneck size k must be in 1..4096",
                 id="bottleneck-negative"),
    pytest.param(lambda: DataConfig(public_identities=-1), "public_identities must be in 0..100000",
                 id="identities-negative"),
    pytest.param(lambda: DataConfig(max_per_identity=1), "at least 2: each identity needs a train and a test",
                 id="cap-of-one-image-per-identity"),
    pytest.param(lambda: DataConfig(image_size=4), "image_size must be in 16..256", id="image-size-tiny"),
    pytest.param(lambda: DataConfig(image_size=100_000), "image_size must be in 16..256", id="image-size-absurd"),
    pytest.param(lambda: DataConfig(train_fraction=1.0), r"train_fraction must be in \(0, 1\)",
                 id="train-fraction-everything"),
    pytest.param(lambda: DataConfig(dataset="folder"), "needs a folder path", id="folder-dataset-without-folder"),
    pytest.param(lambda: GMIConfig(restarts=0), "at least one restart", id="gmi-no-restarts"),
    pytest.param(lambda: GMIConfig(realism_weight=math.nan), "realism_weight must be non-negative",
                 id="gmi-realism-nan"),
    pytest.param(lambda: GMIConfig(latent_bound=-1.0), r"latent_bound \(0: unbounded\) must be in \[0, 100\]",
                 id="gmi-negative-latent-bound"),
    pytest.param(lambda: InversionConfig(top_k=-1), r"top_k \(0: all\) must be in 0..100000",
                 id="inversion-top-k-negative"),
    pytest.param(lambda: PriorConfig(image_size=48), "image_size must be 32, 64 or 128", id="prior-size-odd"),
    pytest.param(lambda: AttackConfig(attack="gmi", public="heldout_identities"), "learns from LFW's public faces",
                 id="gmi-without-lfw-public"),
    pytest.param(lambda: sweep_from_dict({"lambdas": [0.0], "colour": "red"}), "do not fit this version",
                 id="results-settings-from-another-version"),
]


@pytest.mark.parametrize(("build", "expected"), BAD_SETTINGS)
def test_bad_settings_are_refused_when_the_config_is_made(build, expected):
    with pytest.raises(ConfigError, match=expected):
        build()


# ---- training -------------------------------------------------------------------------------------------

def tiny_target(root: Path, **train: float) -> tuple[TargetConfig, PreparedData]:
    """A 16-pixel, width-2 target on three identities of random faces: seconds to train."""
    data_config = folder_config(make_faces(root / "faces", size=(16, 16)), image_size=16)
    config = TargetConfig(data=data_config, model=ModelConfig(width=2, bottleneck_dim=4),
                          train=TrainConfig(**{"epochs": 3, **train}))
    return config, PreparedData.load(data_config, root)


@pytest.mark.parametrize("train", [
    pytest.param({"mid_lambda": 0.0, "lr": 1e9}, id="huge-learning-rate"),
    pytest.param({"mid_lambda": 1000.0, "lr": 100.0, "epochs": 10}, id="largest-lambda-with-large-learning-rate"),
])
def test_a_diverging_training_stops_with_a_clear_message_and_stores_nothing(tmp_path, train):
    config, data = tiny_target(tmp_path, **train)
    store = Store(tmp_path / "store")
    engine = Engine(store, tmp_path, torch.device("cpu"))
    for _ in range(2):  # and asking again trains again: nothing half-made was kept to be loaded
        with pytest.raises(TrainingDiverged, match=r"the loss became (nan|inf) at epoch \d.*nothing was saved\. "
                                                   r"Lower lambda or the learning rate"):
            engine.target(config, data)
    key = config_hash(config)
    assert store.record("targets", key) is None and not store.path("targets", key).exists()


# ---- files ----------------------------------------------------------------------------------------------

def small_model(bottleneck: int = 4) -> TargetNet:
    torch.manual_seed(0)
    return TargetNet(3, ModelConfig(width=2, bottleneck_dim=bottleneck), image_size=16)


def forge(folder: Path, data: bytes) -> None:
    """Replace an entry's tensors and update its record's checksum to match, as someone with write access to
    the store could: the checksum no longer protects, so only the file format can."""
    (folder / TENSORS).write_bytes(data)
    record = json.loads((folder / RECORD).read_text())
    (folder / RECORD).write_text(json.dumps({**record, "tensors_sha256": hashlib.sha256(data).hexdigest()}))


def test_a_corrupt_safetensors_file_with_a_matching_checksum_is_refused(tmp_path, caplog):
    store = Store(tmp_path)
    folder = store.save_model("targets", "k", small_model(), {})
    whole = (folder / TENSORS).read_bytes()
    forge(folder, (10**12).to_bytes(8, "little") + whole[8:])  # a header length far beyond the file
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert store.load_model("targets", "k", small_model()) is None
    assert "corrupt" in caplog.text and "recomputed" in caplog.text


@pytest.mark.parametrize("change", ["missing-tensor", "extra-tensor", "wrong-shape"])
def test_weights_that_do_not_fit_their_config_are_refused(tmp_path, caplog, change):
    store = Store(tmp_path)
    tensors = small_model().state_dict()
    if change == "missing-tensor":
        tensors.pop(next(iter(tensors)))
    elif change == "extra-tensor":
        tensors["backdoor.weight"] = torch.zeros(3)
    else:
        tensors = small_model(bottleneck=5).state_dict()
    store.save("targets", "k", tensors, {})
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert store.load_model("targets", "k", small_model()) is None
    assert "do not fit the model" in caplog.text


def test_weights_of_the_wrong_shape_under_a_configs_key_are_retrained_not_loaded(tmp_path, caplog):
    config, data = tiny_target(tmp_path)
    engine = Engine(Store(tmp_path / "store"), tmp_path, torch.device("cpu"))
    _, record, _ = engine.target(config, data)  # a whole record, then weights of another shape under it
    engine.store.save_model("targets", config_hash(config), small_model(bottleneck=5),
                            {k: v for k, v in record.items() if k != "tensors_sha256"})
    with caplog.at_level(logging.WARNING, logger="midlab"):
        _, _, reused = engine.target(config, data)
    assert not reused and "do not fit" in caplog.text
    _, _, reused = engine.target(config, data)
    assert reused  # the retrained model replaced the misfit and now loads


@pytest.mark.parametrize("damage", ["record-is-a-list", "record-without-checksum", "tensors-file-missing"])
def test_an_entry_with_a_damaged_record_is_treated_as_absent(tmp_path, damage):
    store = Store(tmp_path)
    folder = store.save_model("targets", "k", small_model(), {})
    if damage == "record-is-a-list":
        (folder / RECORD).write_text("[1, 2, 3]")
    elif damage == "record-without-checksum":
        (folder / RECORD).write_text(json.dumps({"key": "k"}))
    else:
        (folder / TENSORS).unlink()
    assert store.load_model("targets", "k", small_model()) is None


def test_a_truncated_results_file_is_reported_and_never_half_read(tmp_path, caplog):
    path = results_path(tmp_path, "0123456789abcdef")
    path.write_text('{"kind": "sweep", "config_hash": "0123456789abcdef", "runs": [{"lambda": 0.0, "te')
    with caplog.at_level(logging.WARNING, logger="midlab"):
        assert load_results(path) is None
    assert path.name in caplog.text and "recomputed" in caplog.text
    sweeps, problems = available_sweeps(tmp_path, tmp_path / "no-zoo")
    assert sweeps == [] and len(problems) == 1 and path.name in problems[0] and "run its sweep again" in problems[0]


def refuse_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the store's folder read-only. Permissions cannot stop root (CI runs as root), so the calls that
    create files fail as on a read-only file system."""

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    real_open = os.open

    def no_creation(path: str, flags: int, *args: object) -> int:
        return read_only() if flags & os.O_CREAT else real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_creation)  # the lock file
    monkeypatch.setattr("core.files.tempfile.mkstemp", read_only)  # every atomic write


def test_a_read_only_store_fails_at_once_instead_of_after_training(tmp_path, monkeypatch):
    config, data = tiny_target(tmp_path)
    progress = []
    engine = Engine(Store(tmp_path / "store"), tmp_path, torch.device("cpu"),
                    progress=lambda *report: progress.append(report))
    refuse_writes(monkeypatch)
    with pytest.raises(StoreError, match=r"cannot be written \(Read-only file system\).*MIDLAB_STORE"):
        engine.target(config, data)
    assert progress == []  # not one epoch was spent on a model that could not be kept


def test_a_read_only_store_refuses_a_save_with_a_clear_error_and_keeps_what_it_holds(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.save_model("targets", "kept", small_model(), {"note": "kept"})
    refuse_writes(monkeypatch)
    with pytest.raises(StoreError, match=r"cannot write to .*targets/new: Read-only file system"):
        store.save_model("targets", "new", small_model(), {})
    assert store.load_model("targets", "kept", small_model())["note"] == "kept"


# ---- untrusted files ------------------------------------------------------------------------------------

class Payload:
    """Unpickling this creates `marker`: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return open, (self.marker, "w")


def live_payload(kind: str, marker: Path) -> bytes:
    """A crafted file that runs code when unpickled, as a plain pickle or a torch checkpoint; checked live first
    (loading it the unsafe way does create the marker), so its absence later means nothing ran."""
    if kind == "pickle":
        data = pickle.dumps(Payload(marker))
        pickle.loads(data)
    else:
        buffer = io.BytesIO()
        torch.save({"state_dict": Payload(marker)}, buffer)
        data = buffer.getvalue()
        torch.load(io.BytesIO(data), weights_only=False)
    assert marker.exists(), "the payload is not live, so this test would prove nothing"
    marker.unlink()
    return data


@pytest.mark.parametrize("kind", ["pickle", "torch-checkpoint"])
def test_a_code_running_file_posing_as_stored_weights_runs_nothing(tmp_path, kind):
    marker = tmp_path / "pwned"
    store = Store(tmp_path / "store")
    folder = store.save_model("targets", "k", small_model(), {})
    forge(folder, live_payload(kind, marker))
    assert store.load_model("targets", "k", small_model()) is None
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["pickle", "torch-checkpoint"])
def test_a_code_running_file_posing_as_reconstructions_runs_nothing_in_the_dashboard(tmp_path, kind):
    marker = tmp_path / "pwned"
    folder = Store(tmp_path / "store").save("attacks", "k", {"images": torch.zeros(3, 1, 16, 16)}, {})
    forge(folder, live_payload(kind, marker))
    run = {"lambda": 0.0, "reconstructions_path": str(folder)}
    sweep = Sweep(sweep_file([{"lambda": 0.0}], [run]), "trained here")
    with pytest.raises(GalleryError, match=r"not a valid safetensors file.*run the sweep again"):
        sweep.reconstructions(0.0)
    assert not marker.exists()


# ---- dashboard ------------------------------------------------------------------------------------------

HOSTILE = "midlab-hostile-name"
FILE_EVENTS = {"open", "os.listdir", "os.scandir", "os.mkdir", "os.remove", "os.rename", "os.chmod", "shutil.rmtree"}
RECORDING: list[list[str]] = []  # while a test records: every file event whose path holds HOSTILE


def _audit(event: str, args: tuple) -> None:
    if RECORDING and event in FILE_EVENTS and args and HOSTILE in str(args[0]):
        RECORDING[-1].append(f"{event} {args[0]}")


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one only records while RECORDING holds a list


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep of two tiny models on 16-pixel faces, so the dashboard shows something of its own (not the
    shipped zoo); its folder holds faces/, store/ and results/."""
    from tiny_cli import tiny_config

    from core.sweep import run_sweep

    root = tmp_path_factory.mktemp("tiny_sweep")
    make_faces(root / "faces", identities=4, per_identity=5, size=(16, 16))
    config, _ = tiny_config(["--dataset", "folder", "--folder", str(root / "faces"), "--public", "heldout_identities",
                             "--public-identities", "1", "--lambdas", "0,0.1", "--epochs", "5"])
    run_sweep(config, Engine(Store(root / "store"), root, torch.device("cpu")), root / "results")
    return root


def test_link_values_that_look_like_paths_are_ignored_with_a_notice_and_touch_no_file(tiny_results, monkeypatch):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tiny_results / "results"))
    monkeypatch.setenv("MIDLAB_DATA", str(tiny_results))
    monkeypatch.setattr(gallery, "ZOO_DIR", tiny_results / "no-zoo")
    app = AppTest.from_file(APP, default_timeout=30)
    names = load_results(next((tiny_results / "results").glob("sweep_*.json")))["class_names"]
    app.query_params.update({
        "sweep": f"../../{HOSTILE}", "attack": f"../{HOSTILE}", "view": f"/etc/{HOSTILE}", "lam": f"../{HOSTILE}",
        "ids": f"{names[0]},../{HOSTILE},{names[1]}", "presenter": f"../{HOSTILE}", "file": f"/etc/{HOSTILE}",
    })
    control = tiny_results / HOSTILE  # opened on purpose: proves the audit hook sees what it should
    RECORDING.append([])
    try:
        with contextlib.suppress(OSError):
            control.open()
        app.run()
    finally:
        touched = RECORDING.pop()
    assert not app.exception
    assert touched == [f"open {control}"]
    notices = [shown(toast.value) for toast in app.toast]  # shown as plain text: Markdown-escaped
    for key in ("sweep", "attack", "view", "lam"):
        assert any(f"Ignored {key}=" in notice and HOSTILE in notice for notice in notices), (key, notices)
    assert any("unknown people" in notice and HOSTILE in notice for notice in notices), notices
    assert app.multiselect[0].value == names[:2]
    assert len(app.image) == 2 * 3  # the two known people: original, lambda = 0 and the chosen lambda


def cache_decorators() -> list[tuple[str, ast.expr]]:
    """Every st.cache_data / st.cache_resource decorator in dashboard/, with where it is."""
    found = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for decorator in node.decorator_list:
                    target = decorator.func if isinstance(decorator, ast.Call) else decorator
                    if isinstance(target, ast.Attribute) and target.attr in ("cache_data", "cache_resource"):
                        found.append((f"{path.relative_to(ROOT)}:{node.name}", decorator))
    return found


def test_every_streamlit_cache_is_bounded():
    caches = cache_decorators()
    assert len(caches) >= 5, caches  # the loaders and Explore's figures: the scan sees them
    for where, decorator in caches:
        settings = {k.arg: k.value for k in decorator.keywords} if isinstance(decorator, ast.Call) else {}
        bound = settings.get("max_entries")
        assert isinstance(bound, ast.Constant) and isinstance(bound.value, int) and 0 < bound.value <= 256, (
            f"{where}: a cache without max_entries grows for as long as the server runs")
        if where.endswith(":originals"):  # keyed by a dataset folder, whose content can change under it
            assert "ttl" in settings, f"{where}: needs a ttl"


def test_the_dashboard_takes_no_uploads():
    """Nothing to refuse yet: if an upload is added, it needs tests for non-images and oversized files."""
    sources = {path: path.read_text() for path in (ROOT / "dashboard").rglob("*.py")}
    assert not [path for path, text in sources.items() if "file_uploader" in text or "camera_input" in text]

