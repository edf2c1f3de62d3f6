"""What MID Lab reads is checked before it is trusted, with generated cases (Hypothesis):

- results never outlive their photos: change a dataset at random and every store entry computed from it is
  recomputed, each with one line saying why, while an untouched dataset reuses everything;
- a store entry is served only as who it is: copied under another key, re-keyed or edited, it is refused;
- special files (FIFOs, sockets, devices, folders) where a file should be are refused at once, never waited on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from conftest import make_faces, shown, write_idx
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from streamlit.testing.v1 import AppTest
from test_robustness import refuse_writes

from core import gallery
from core.attack_config import AttackConfig, MIFaceConfig, PriorConfig
from core.config import DataConfig, EvaluatorConfig, ModelConfig, TargetConfig, TrainConfig
from core.data import DataError, ImageSet, PreparedData, public_fingerprint
from core.engine import Engine
from core.executor import RayExecutor, target_unit
from core.files import NotRegularFileError, StoreError, read_json, read_regular
from core.results import load_results
from core.shipped import SHIPPED
from core.store import FINGERPRINT, RECORD, TENSORS, MemoryStore, Store
from core.stored_config import config_hash, from_dict
from core.sweep import run_sweep
from core.sweep_config import SweepConfig

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
CPU = torch.device("cpu")
FACES = (40, 50)  # width x height of the generated photos
DATA = DataConfig(dataset="folder", folder="faces", image_size=16)  # relative to the data root: copies share keys
TARGETS = {lam: TargetConfig(data=DATA, model=ModelConfig(width=2, bottleneck_dim=4),
                             train=TrainConfig(epochs=1, mid_lambda=lam)) for lam in (0.0, 0.1)}
JUDGES = [EvaluatorConfig(data=DATA, width=2, embedding_dim=8, epochs=1, finetune_epochs=0, seed=seed)
          for seed in (0, 1)]
ATTACK = AttackConfig(miface=MIFaceConfig(steps=2, start="gray", record_every=1))
def generated(cases: int) -> settings:
    """Hypothesis settings for `cases` generated examples of a test that trains models (seconds each)."""
    return settings(max_examples=cases, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow],
                    phases=[Phase.explicit, Phase.generate])  # no shrinking: it retrains for minutes


class Warnings(logging.Handler):
    """The engine's warning lines, captured (caplog is per test; Hypothesis runs many examples per test)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def warnings() -> Iterator[list[str]]:
    handler, logger = Warnings(), logging.getLogger("midlab")
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def run_everything(root: Path) -> tuple[PreparedData, dict[tuple[str, str], tuple[bool, dict[str, Any]]]]:
    """Both judges, both targets and an attack on each target, over the dataset and store in `root`: each
    entry's (reused, record) by (kind, key)."""
    engine = Engine(Store(root / "store"), root, CPU)
    data = PreparedData.load(DATA, root)
    found = {}
    judges = []
    for config in JUDGES:
        judge, record, reused = engine.evaluator(config, data)
        found[("evaluators", record["config_hash"])] = (reused, record)
        judges.append((judge, record["config_hash"]))
    for config in TARGETS.values():
        model, record, reused = engine.target(config, data)
        found[("targets", record["config_hash"])] = (reused, record)
        _, attack_record, attack_reused = engine.attack(model, record["config_hash"], ATTACK, *judges[0], data)
        found[("attacks", attack_record["config_hash"])] = (attack_reused, attack_record)
    return data, found


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with three people's generated photos and a store holding every entry computed from them."""
    root = tmp_path_factory.mktemp("pristine")
    make_faces(root / "faces", identities=3, per_identity=4, size=FACES)
    run_everything(root)
    return root


def stored(root: Path, kind: str, key: str) -> dict[str, Any]:
    """An entry's record as written in the store."""
    return json.loads((root / "store" / kind / key / RECORD).read_text())


@contextmanager
def copy_of(pristine: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        yield Path(shutil.copytree(pristine, Path(folder) / "root"))


def photos(faces: Path, person: int) -> list[Path]:
    return sorted((faces / f"person{person}").glob("*.png"))


CHANGES = ("new pixels", "inverted patch", "added photo", "removed photo", "moved to another person",
           "swapped with another person's", "unrelated files only")


def change_dataset(faces: Path, change: str, person: int, photo: int, other: int, rng: np.random.Generator) -> bool:
    """Apply one change to a person's photos; True when it changes what a model learns from."""
    mine = photos(faces, person)
    path = mine[photo % len(mine)]
    theirs = photos(faces, (person + other) % 3)
    if change == "new pixels":  # every pixel moved by a random amount: another photo under the same name
        pixels = np.asarray(Image.open(path)) + rng.integers(1, 256, (FACES[1], FACES[0]), dtype=np.uint8)
        Image.fromarray(pixels).save(path)
    elif change == "inverted patch":  # a 6x6 patch inside the square crop, every pixel moved by 128 levels
        pixels = np.asarray(Image.open(path)).copy()
        top, left = int(rng.integers(5, 39)), int(rng.integers(0, 34))
        pixels[top:top + 6, left:left + 6] += 128
        Image.fromarray(pixels).save(path)
    elif change == "added photo":
        Image.fromarray(rng.integers(0, 256, (FACES[1], FACES[0]), dtype=np.uint8)).save(path.with_name("new.png"))
    elif change == "removed photo":
        path.unlink()
    elif change == "moved to another person":
        path.rename(theirs[0].with_name("moved.png"))
    elif change == "swapped with another person's":
        other_path = theirs[photo % len(theirs)]
        swap = path.with_name("swap.tmp")
        path.rename(swap)
        other_path.rename(path)
        swap.rename(other_path)
    else:  # files the loader skips: text, a macOS metadata file, a hidden folder
        (faces / f"person{person}" / "notes.txt").write_text("not a photo")
        (faces / f"person{person}" / f"._{path.name}").write_bytes(b"\0" * 64)
        (faces / ".thumbnails").mkdir(exist_ok=True)
        return False
    return True


@generated(8)
@given(change=st.sampled_from(CHANGES), person=st.integers(0, 2), photo=st.integers(0, 3), other=st.integers(1, 2),
       seed=st.integers(0, 2**32 - 1))
@example(change="unrelated files only", person=0, photo=0, other=1, seed=0)  # always one untouched dataset
def test_changed_photos_recompute_every_entry_made_from_them_and_say_why(pristine, change, person, photo, other, seed):
    with copy_of(pristine) as root, warnings() as lines:
        changed = change_dataset(root / "faces", change, person, photo, other, np.random.default_rng(seed))
        data, entries = run_everything(root)
        if not changed:
            assert all(reused for reused, _ in entries.values()) and lines == []
            return
        assert not any(reused for reused, _ in entries.values())
        assert len(lines) == len(entries)  # one line per entry, naming it and why
        for kind, key in entries:
            assert any(f"{kind} {key} will be recomputed: the private data changed" in line for line in lines)
            record = stored(root, kind, key)
            assert record["recomputed_because"].startswith("the private data changed")
            assert record[FINGERPRINT] == {"private": data.fingerprint}
        _, again = run_everything(root)
        assert all(reused for reused, _ in again.values())  # the replacements are what is served now


def test_a_cluster_run_recomputes_a_stale_entry_and_stores_the_replacement(pristine):
    """The Ray executor's driver: what it finds stored is checked like the engine's, and a worker's fresh entry
    replaces a stale one (without a cluster: the driver's two steps, with the entry a worker would return)."""
    with copy_of(pristine) as root, warnings() as lines:
        change_dataset(root / "faces", "new pixels", 1, 2, 1, np.random.default_rng(3))
        engine = Engine(Store(root / "store"), root, CPU)
        data = PreparedData.load(DATA, root)
        unit = target_unit(TARGETS[0.1])
        assert RayExecutor._stored(engine, unit, data) is None  # stale: to be computed
        assert len(lines) == 1 and "the private data changed" in lines[0]
        worker = Engine(MemoryStore({}), root, CPU)
        worker.target(TARGETS[0.1], data)
        for (kind, key), entry in worker.store.new.items():
            RayExecutor._write(engine.store, kind, key, entry)
        record = stored(root, "targets", unit.key)
        assert record[FINGERPRINT] == {"private": data.fingerprint}
        assert record["recomputed_because"].startswith("the private data changed")
        assert RayExecutor._stored(Engine(Store(root / "store"), root, CPU), unit, data) is not None


def prepared(images: np.ndarray, labels: np.ndarray, public: np.ndarray | None) -> PreparedData:
    names = [f"p{label}" for label in range(int(labels.max()) + 1)]
    index = np.arange(len(labels))
    return PreparedData(DATA, ImageSet(images, labels, names, "generated"), index[::2], index[1::2], public)


@generated(200)
@given(data=st.data(), count=st.integers(2, 12), side=st.integers(1, 8), with_public=st.booleans())
def test_the_fingerprint_is_stable_and_changes_with_any_pixel_label_or_public_face(data, count, side, with_public):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    images = rng.integers(0, 256, (count, side, side), dtype=np.uint8)
    labels = np.arange(count) % 2
    public = rng.integers(0, 256, (3, side, side), dtype=np.uint8) if with_public else None
    reference = prepared(images, labels, public).fingerprint
    assert prepared(images.copy(), labels.copy(), None if public is None else public.copy()).fingerprint == reference
    where = data.draw(st.sampled_from(["pixel", "label", "public"] if with_public else ["pixel", "label"]))
    if where == "pixel":
        images = images.copy()
        at = tuple(data.draw(st.integers(0, n - 1)) for n in images.shape)
        images[at] ^= data.draw(st.integers(1, 255))
    elif where == "label":
        labels = labels.copy()
        labels[data.draw(st.integers(0, count - 1))] ^= 1
        if labels.max() == 0:  # keep two people
            return
    else:
        public = public.copy()
        public[0, 0, 0] ^= 1
    assert prepared(images, labels, public).fingerprint != reference


def test_an_entry_stored_before_fingerprints_adopts_the_current_one_then_is_checked(pristine):
    with copy_of(pristine) as root:
        key = config_hash(TARGETS[0.0])
        path = root / "store" / "targets" / key / RECORD
        record = json.loads(path.read_text())
        del record[FINGERPRINT]
        path.write_text(json.dumps(record))
        data, entries = run_everything(root)
        assert entries[("targets", key)][0]  # served, as before fingerprints
        assert json.loads(path.read_text())[FINGERPRINT] == {"private": data.fingerprint}
        change_dataset(root / "faces", "new pixels", 0, 0, 1, np.random.default_rng(0))
        _, entries = run_everything(root)
        assert not entries[("targets", key)][0]


def test_shipped_entries_name_their_keys_and_the_canonical_data():
    for path in (ROOT / "assets" / "store").glob("*/*/record.json"):
        record = read_json(path)
        kind, key = path.parent.parent.name, path.parent.name
        config = from_dict(EvaluatorConfig if kind == "evaluators" else PriorConfig, record["config"])
        assert record["key"] == record["config_hash"] == config_hash(config) == key
        assert set(record[FINGERPRINT]) == ({"private"} if kind == "evaluators" else {"public"})


def test_the_shipped_priors_fit_the_fetched_lfw_public_faces(lfw_dir):
    fingerprint = public_fingerprint(lfw_dir.parent)
    for path in (ROOT / "assets" / "store" / "priors").glob("*/record.json"):
        assert read_json(path)[FINGERPRINT]["public"] == fingerprint


@pytest.mark.slow
def test_the_shipped_judge_fits_the_fetched_lfw(lfw_dir):
    for path in (ROOT / "assets" / "store" / "evaluators").glob("*/record.json"):
        record = read_json(path)
        data = PreparedData.load(from_dict(EvaluatorConfig, record["config"]).data, lfw_dir.parent)
        assert record[FINGERPRINT]["private"] == data.fingerprint
        assert SHIPPED.record("evaluators", path.parent.name) is not None


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with generated photos, and a sweep of them (results/ and store/) for the dashboard to show."""
    root = tmp_path_factory.mktemp("tiny_sweep")
    make_faces(root / "faces", identities=3, per_identity=4, size=FACES)
    config = SweepConfig(target=TARGETS[0.0], lambdas=(0.0, 0.1), attack=ATTACK, evaluator=JUDGES[0])
    run_sweep(config, Engine(Store(root / "store"), root, CPU), root / "results")
    return root


@generated(10)
@given(change=st.sampled_from(CHANGES), person=st.integers(0, 2), photo=st.integers(0, 3), other=st.integers(1, 2),
       seed=st.integers(0, 2**32 - 1))
@example(change="unrelated files only", person=0, photo=0, other=1, seed=0)  # always one untouched dataset
def test_explore_says_when_the_photos_changed_since_the_results_were_made(tiny_sweep, change, person, photo, other,
                                                                          seed):
    with copy_of(tiny_sweep) as root:
        changed = change_dataset(root / "faces", change, person, photo, other, np.random.default_rng(seed))
        environment = {"MIDLAB_RESULTS": str(root / "results"), "MIDLAB_DATA": str(root)}
        with mock.patch.dict(os.environ, environment), mock.patch.object(gallery, "ZOO_DIR", root / "no-zoo"):
            app = AppTest.from_file(APP, default_timeout=60).run()
        assert not app.exception
        assert any("photos in this dataset changed" in w.value for w in app.warning) == changed


# ---- the attacker's public faces ---------------------------------------------------------------------------
PRIOR = PriorConfig(latent_dim=4, width=2, epochs=1, batch_size=4, image_size=32, crop=32)
MEAN_START = AttackConfig(miface=MIFaceConfig(steps=2, start="public_mean", record_every=1))


def run_public(root: Path) -> dict[str, bool]:
    """The prior, and an attack starting from the mean public face: whether each was reused, and the target's."""
    engine = Engine(Store(root / "store"), root, CPU)
    data = PreparedData.load(DATA, root)
    judge, judge_record, judge_reused = engine.evaluator(JUDGES[0], data)
    model, record, target_reused = engine.target(TARGETS[0.0], data)
    _, _, attack_reused = engine.attack(model, record["config_hash"], MEAN_START, judge, judge_record["config_hash"],
                                        data)
    _, _, prior_reused = engine.prior(PRIOR)
    return {"judge": judge_reused, "target": target_reused, "attack": attack_reused, "prior": prior_reused}


@pytest.fixture(scope="module")
def pristine_public(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(shutil.copytree(pristine, tmp_path_factory.mktemp("public") / "root"))
    make_faces(root / "lfw_gray" / "public_rest_people", identities=2, per_identity=5, size=FACES)
    (root / "lfw_gray" / "public_rest").mkdir()
    for path in (root / "lfw_gray" / "public_rest_people").glob("*/*.png"):
        path.rename(root / "lfw_gray" / "public_rest" / f"{path.parent.name}_{path.name}")
    run_public(root)
    return root


@generated(4)
@given(change=st.sampled_from(["new pixels", "added photo", "removed photo", "unrelated files only"]),
       photo=st.integers(0, 9), seed=st.integers(0, 2**32 - 1))
def test_changed_public_faces_recompute_the_prior_and_the_attacks_that_learn_from_them(pristine_public, change,
                                                                                        photo, seed):
    with copy_of(pristine_public) as root, warnings() as lines:
        folder = root / "lfw_gray" / "public_rest"
        path = sorted(folder.glob("*.png"))[photo]
        rng = np.random.default_rng(seed)
        if change == "new pixels":
            Image.fromarray(np.asarray(Image.open(path)) + rng.integers(1, 256, (FACES[1], FACES[0]), dtype=np.uint8)
                            ).save(path)
        elif change == "added photo":
            Image.fromarray(rng.integers(0, 256, (FACES[1], FACES[0]), dtype=np.uint8)).save(folder / "new.png")
        elif change == "removed photo":
            path.unlink()
        else:
            (folder / "README.txt").write_text("not a face")
        reused = run_public(root)
        changed = change != "unrelated files only"
        # The private photos did not change: the judge and target stay; what learnt from public faces does not.
        assert reused == {"judge": True, "target": True, "attack": not changed, "prior": not changed}
        assert len(lines) == (3 if changed else 0)  # the prior, the mean public face and the attack
        assert all("the public data changed" in line for line in lines)


# ---- entries served only as who they are ---------------------------------------------------------------------
FORGERIES = ("copied from another entry", "copied and re-keyed", "key field", "config_hash field", "config edited")
EDITS = {  # fields that name the entry, and values they may take
    "targets": [(("train", "mid_lambda"), [0.0, 0.01, 0.1, 1.0]), (("train", "seed"), [0, 1, 7]),
                (("train", "epochs"), [1, 2, 30]), (("model", "width"), [2, 3, 16]),
                (("data", "split_seed"), [0, 1, 2])],
    "evaluators": [(("seed",), [0, 1, 5]), (("width",), [2, 4]), (("epochs",), [1, 3]), (("lr",), [0.004, 0.1])],
    "attacks": [(("miface", "steps"), [2, 5]), (("miface", "lr"), [0.015, 0.5]), (("view",), ["mu", "mean"])],
}


def forge(store: Path, kind: str, forgery: str, draw: Callable[[st.SearchStrategy], Any]) -> str:
    """Forge one entry of `kind` as `forgery` says; its key."""
    keys = sorted(p.name for p in (store / kind).iterdir() if not p.name.startswith("."))
    victim, source = draw(st.permutations(keys))[:2]
    folder = store / kind / victim
    if forgery.startswith("copied"):
        shutil.rmtree(folder)
        shutil.copytree(store / kind / source, folder)
    record = json.loads((folder / RECORD).read_text())
    if forgery == "copied and re-keyed":
        record.update(key=victim, config_hash=victim)
    elif forgery in ("key field", "config_hash field"):
        field = "key" if forgery == "key field" else "config_hash"
        record[field] = draw(st.text("0123456789abcdef", min_size=16, max_size=16).filter(lambda text: text != victim))
    elif forgery == "config edited":
        path, values = draw(st.sampled_from(EDITS[kind]))
        parent = record["config"]
        for part in path[:-1]:
            parent = parent[part]
        parent[path[-1]] = draw(st.sampled_from(values).filter(lambda value: value != parent[path[-1]]))
    (folder / RECORD).write_text(json.dumps(record))
    return victim


@generated(15)
@given(kind=st.sampled_from(sorted(EDITS)), forgery=st.sampled_from(FORGERIES), data=st.data())
def test_an_entry_that_is_not_what_its_key_names_is_reported_and_recomputed(pristine, kind, forgery, data):
    with copy_of(pristine) as root, warnings() as lines:
        victim = forge(root / "store", kind, forgery, data.draw)
        _, entries = run_everything(root)
        assert [key for key, (reused, _) in entries.items() if not reused] == [(kind, victim)]
        assert len(lines) == 1 and lines[0].startswith(f"{kind} {victim} will be recomputed: ")
        record = stored(root, kind, victim)
        assert record["key"] == record["config_hash"] == victim
        assert record["recomputed_because"] == lines[0].split(": ", 1)[1]
        if kind == "targets":  # the model served under a lambda's key is that lambda's model
            lam = next(lam for lam, config in TARGETS.items() if config_hash(config) == victim)
            assert record["config"]["train"]["mid_lambda"] == lam


# ---- tensors that are not what their attack makes ---------------------------------------------------------------
# Dtypes no attack stores under each name (its images are float in [0, 1] in the store, 8-bit in the zoo).
WRONG_DTYPES = {"images": [torch.bool, torch.int16, torch.int64], "steps": [torch.float32, torch.bool],
                "trajectory": [torch.float16, torch.float32, torch.int64],
                "target_confidence": [torch.uint8, torch.int64, torch.bool]}
IDENTITY_AXIS = {"images": 0, "trajectory": 1, "target_confidence": 1}
TENSOR_FORGERIES = ("missing", "renamed", "extra", "dtype", "identities", "image size", "frame size", "steps",
                    "rank", "restarts")


def forged_tensors(tensors: dict[str, torch.Tensor], forgery: str, draw: Callable[[st.SearchStrategy], Any]
                   ) -> dict[str, torch.Tensor]:
    """A MI-Face attack's stored tensors (3 people, 16 px), with `forgery` making them wrong for it."""
    tensors = dict(tensors)
    name = draw(st.sampled_from(sorted(WRONG_DTYPES)))
    value = tensors[name]
    if forgery == "missing":
        tensors.pop(name)
    elif forgery == "renamed":
        tensors[draw(st.sampled_from(["image", "frames", "Images", "steps "]))] = tensors.pop(name)
    elif forgery == "extra":
        tensors[draw(st.sampled_from(["weights", "labels", "scores"]))] = torch.zeros(3)
    elif forgery == "dtype":
        tensors[name] = value.to(draw(st.sampled_from(WRONG_DTYPES[name])))
    elif forgery == "identities":
        name = draw(st.sampled_from(sorted(IDENTITY_AXIS)))
        shape = list(tensors[name].shape)
        shape[IDENTITY_AXIS[name]] = draw(st.integers(0, 6).filter(lambda people: people != 3))
        tensors[name] = torch.zeros(shape, dtype=tensors[name].dtype)
    elif forgery in ("image size", "frame size"):
        name = "images" if forgery == "image size" else "trajectory"
        side = draw(st.integers(1, 40).filter(lambda side: side != 16 and (name == "images" or 16 % side)))
        tensors[name] = torch.zeros((*tensors[name].shape[:-2], side, side), dtype=tensors[name].dtype)
    elif forgery == "steps":
        count = draw(st.integers(0, 8).filter(lambda count: count != len(tensors["steps"])))
        tensors["steps"] = torch.arange(count)
    elif forgery == "rank":
        tensors[name] = value.unsqueeze(draw(st.sampled_from([0, -1])))
    else:  # GMI's paper recipe keeps every restart's image: MI-Face has none
        tensors.update(restart_images=torch.zeros(3, 2, 1, 16, 16), chosen_restart=torch.zeros(3, dtype=torch.int64))
    return tensors


@generated(20)
@given(forgery=st.sampled_from(TENSOR_FORGERIES), read_only=st.booleans(), data=st.data())
def test_tensors_that_are_not_what_their_attack_makes_are_reported_and_recomputed(pristine, forgery, read_only, data):
    """An attack's stored tensors replaced by others of wrong names, dtypes or shapes, its record re-signed with
    their checksum: one line naming the entry and what is wrong, then the attack recomputed (a read-only store:
    a StoreError at once, saying why), never a traceback from deep in a reader."""
    with copy_of(pristine) as root, warnings() as lines:
        victim = data.draw(st.sampled_from(sorted(p.name for p in (root / "store" / "attacks").iterdir()
                                                  if not p.name.startswith("."))))
        folder = root / "store" / "attacks" / victim
        bytes_ = save_safetensors(forged_tensors(load_safetensors((folder / TENSORS).read_bytes()), forgery,
                                                 data.draw))
        (folder / TENSORS).write_bytes(bytes_)
        record = json.loads((folder / RECORD).read_text())
        (folder / RECORD).write_text(json.dumps({**record, "tensors_sha256": hashlib.sha256(bytes_).hexdigest()}))
        if read_only:
            with pytest.MonkeyPatch.context() as patch, pytest.raises(StoreError) as refused:
                refuse_writes(patch)
                run_everything(root)
            assert f"attacks {victim} must be recomputed ({folder / TENSORS} holds " in str(refused.value)
            assert "MIDLAB_STORE" in str(refused.value) and (folder / TENSORS).read_bytes() == bytes_
            return
        _, entries = run_everything(root)
        assert [key for key, (reused, _) in entries.items() if not reused] == [("attacks", victim)]
        assert len(lines) == 1 and "\n" not in lines[0]
        assert lines[0].startswith(f"attacks {victim} will be recomputed: {folder / TENSORS} holds ")
        assert stored(root, "attacks", victim)["recomputed_because"] == lines[0].split(": ", 1)[1]
        _, again = run_everything(root)
        assert all(reused for reused, _ in again.values())  # the recomputed entry is whole


# ---- special files -------------------------------------------------------------------------------------------
SPECIALS = ("FIFO", "socket", "link to a device", "folder")


def make_special(path: Path, special: str) -> None:
    """Put a special file where a regular file is (or would be)."""
    if path.is_dir():
        shutil.rmtree(path)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    if special == "FIFO":
        os.mkfifo(path)
    elif special == "socket":  # bound at a short path (a socket's is limited to 108 bytes), then moved in place
        with tempfile.TemporaryDirectory() as short, socket.socket(socket.AF_UNIX) as server:
            server.bind(f"{short}/s")  # the file stays after the socket closes
            os.rename(f"{short}/s", path)
    elif special == "link to a device":
        path.symlink_to("/dev/zero")  # reading it would never end
    else:
        path.mkdir()


def finishes(action: Callable[[], Any], seconds: float = 60) -> Any:
    """`action`'s result (or the exception it raised, returned), failing if it takes longer than `seconds`: a
    reader that blocks on a FIFO fails the test instead of hanging the suite."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as error:  # handed to the test, which checks which it was
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"blocked for more than {seconds} s"
    return outcome[0]


@generated(12)  # every pair
@given(special=st.sampled_from(SPECIALS), name=st.sampled_from(["record.json", "results.json", "tensors"]))
def test_reading_a_special_file_is_refused_at_once_with_its_kind(special, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        make_special(path, special)
        error = finishes(lambda: read_regular(path), seconds=10)
        assert isinstance(error, NotRegularFileError) and str(path) in str(error)
        assert ("FIFO" if special == "FIFO" else special.split()[-1]) in str(error)
        assert finishes(lambda: read_json(path), seconds=10) is None


STORE_FILES = (RECORD, TENSORS, "lock")


@generated(30)
@given(kind=st.sampled_from(sorted(EDITS)), place=st.sampled_from(STORE_FILES), special=st.sampled_from(SPECIALS),
       data=st.data())
def test_a_special_file_in_the_store_is_reported_never_waited_on(pristine, kind, place, special, data):
    with copy_of(pristine) as root, warnings() as lines:
        store = root / "store" / kind
        key = data.draw(st.sampled_from(sorted(p.name for p in store.iterdir() if not p.name.startswith("."))))
        make_special(store / f".{key}.lock" if place == "lock" else store / key / place, special)
        outcome = finishes(lambda: run_everything(root))
        if place == "lock" or special == "folder":  # cannot be replaced by a file: a clear error
            assert isinstance(outcome, StoreError), outcome
            assert key in str(outcome) and ("not a regular file" in str(outcome) or "Is a directory" in str(outcome))
            return
        assert not isinstance(outcome, BaseException), outcome
        assert [entry for entry, (reused, _) in outcome[1].items() if not reused] == [(kind, key)]
        assert len(lines) == 1 and "not a regular file" in lines[0]


@pytest.mark.parametrize("special", SPECIALS)
def test_special_files_in_a_dataset_are_skipped_or_named(tmp_path, special):
    make_faces(tmp_path / "faces", identities=2, per_identity=3, size=FACES)
    make_special(tmp_path / "faces" / "person0" / "3.png", special)  # among the photos: skipped
    data = finishes(lambda: PreparedData.load(DATA, tmp_path), 30)
    assert isinstance(data, PreparedData) and len(data.images.labels) == 6
    (tmp_path / "mnist").mkdir()
    write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(10, dtype=np.uint8))
    make_special(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", special)  # an MNIST file: named
    error = finishes(lambda: PreparedData.load(DataConfig(dataset="mnist", max_per_identity=2), tmp_path), 30)
    assert isinstance(error, DataError) and "not a regular file" in str(error)


def write_specials(results: Path, special: str) -> None:
    for name in ("sweep_0123456789abcdef.json", "comparison_0123456789abcdef.json", "study_0123456789abcdef.json"):
        make_special(results / name, special)


@pytest.mark.parametrize("special", SPECIALS)
def test_special_results_files_are_named_and_skipped(tmp_path, special):
    write_specials(tmp_path, special)
    for kind in ("sweep", "comparison", "study"):
        assert finishes(lambda kind=kind: load_results(next(tmp_path.glob(f"{kind}_*")), kind), 10) is None
    sweeps, problems = finishes(lambda: gallery.available_sweeps(tmp_path, tmp_path / "no-zoo"), 10)
    assert sweeps == [] and len(problems) == 1 and "sweep_0123456789abcdef.json" in problems[0]
    make_special(tmp_path / "zoo" / gallery.MANIFEST, special)
    assert finishes(lambda: gallery.load_zoo(tmp_path / "zoo"), 10) == []


@pytest.mark.parametrize("special", SPECIALS)
def test_a_special_tensors_file_of_the_zoo_is_a_clear_error(tmp_path, special):
    zoo = gallery.load_zoo()
    if not zoo:
        pytest.skip("the shipped zoo is absent")
    shipped = zoo[0]
    copy = Path(shutil.copytree(gallery.ZOO_DIR, tmp_path / "zoo"))
    sweep = gallery.Sweep(shipped.results, shipped.origin, copy)
    make_special(copy / sweep.run(sweep.lambdas[0]).reconstructions_file, special)
    error = finishes(lambda: sweep.reconstructions(sweep.lambdas[0]), 10)
    assert isinstance(error, gallery.GalleryError) and "not a regular file" in str(error)


PAGES = ("app_pages/explore.py", "app_pages/results.py", "app_pages/compare.py", "app_pages/findings.py",
         "app_pages/attack_lab.py")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_a_fifo_results_file_and_keeps_working(results_dir, page):
    results_dir.mkdir()
    write_specials(results_dir, "FIFO")
    # AppTest's timeout fails a page that blocks instead of letting it hang the suite.
    app = AppTest.from_file(APP, default_timeout=60).run().switch_page(page).run()
    assert not app.exception
    assert "0123456789abcdef.json" in " ".join(shown(w.value) for w in app.warning)


@pytest.mark.parametrize("special", ["FIFO", "socket"])
def test_the_report_command_names_a_special_results_file(tmp_path, special):
    path = tmp_path / "comparison_0123456789abcdef.json"
    make_special(path, special)
    done = subprocess.run([sys.executable, "-m", "core", "report", str(path), "--out", str(tmp_path / "report")],
                          check=False, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2 and f"{path} is a {special}" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1  # named once


@generated(8)  # every pair
@given(special=st.sampled_from(SPECIALS), where=st.sampled_from(["archive", "images.tsv"]))
def test_fetch_refuses_a_special_file_where_an_archive_or_a_table_is(special, where):
    """`python -m core fetch` digests archives and checks a dataset's tables: a special file in their place is
    named at once, never read (a FIFO would block the command)."""
    from core.fetch import sha256_of
    from core.layouts import check_lfw

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("lfw.tgz" if where == "archive" else "images.tsv")
        make_special(path, special)
        if where == "archive":
            outcome = finishes(lambda: sha256_of(path), seconds=20)
            assert isinstance(outcome, NotRegularFileError) and str(path) in str(outcome)
        else:
            (Path(folder) / "identities.tsv").write_text("name\n")
            outcome = finishes(lambda: check_lfw(Path(folder)), seconds=20)
            assert isinstance(outcome, DataError) and "not a regular file" in str(outcome)
