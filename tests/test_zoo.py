"""The shipped zoo matches the code's defaults, is intact and small; the export works on a short sweep."""

import hashlib

import numpy as np
import pytest

from core.config import config_hash
from core.gallery import MANIFEST, ZOO_DIR, GalleryError, attack_siblings, load_zoo
from core.zoo import default_zoo_sweeps


def test_shipped_zoo_matches_the_default_sweeps():
    zoo = load_zoo()
    assert zoo, "assets/zoo/manifest.json is missing: run `python -m core zoo`"
    defaults = default_zoo_sweeps()
    assert [sweep.key for sweep in zoo] == [config_hash(config) for config in defaults], \
        "the code's defaults changed: rebuild the zoo with `python -m core zoo`"
    for sweep, config in zip(zoo, defaults, strict=True):
        for run in sweep.results["runs"]:
            assert run["target_key"] == config_hash(config.target_for(run["lambda"], run["seed"]))
            assert run["half_precision_agreement"] >= 0.98
        assert sweep.lambdas == list(config.lambdas)
    assert [s.key for s in attack_siblings(zoo[0], zoo)] == [s.key for s in zoo[1:]]


def test_shipped_zoo_files_are_intact_and_small():
    files = load_zoo()[0].results["zoo"]["files"]
    total = 0
    for name, digest in files.items():
        data = (ZOO_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        total += len(data)
    total += (ZOO_DIR / MANIFEST).stat().st_size
    assert total <= 20 * 2**20
    for zoo in load_zoo():
        images = zoo.reconstructions(zoo.lambdas[0])
        assert images.shape == (40, 64, 64) and images.dtype == np.uint8
        frames, steps, confidence = zoo.trajectory(zoo.lambdas[0])
        assert frames.shape[1:] == (40, 64, 64) and steps[0] == 0 and confidence.shape == (len(steps), 40)
        assert np.array_equal(frames[-1], images), "the replay must end on the scored reconstruction"


@pytest.mark.slow
def test_export_of_a_short_sweep(sweep, short_config, tmp_path):
    from core.zoo import build_zoo

    engine, results, root = sweep
    manifest = build_zoo(engine, root / "results", tmp_path / "zoo", configs=[short_config])
    exported = manifest["sweeps"][0]
    assert exported["config_hash"] == results["config_hash"] and len(exported["runs"]) == 2
    [zoo] = load_zoo(tmp_path / "zoo")
    assert zoo.origin == "precomputed" and zoo.reconstructions(1.0).shape == (40, 64, 64)
    assert all(run["half_precision_agreement"] >= 0.98 for run in exported["runs"])
    damaged = tmp_path / "zoo" / exported["runs"][0]["reconstructions_file"]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(GalleryError, match="checksum"):
        zoo.reconstructions(0.0)
