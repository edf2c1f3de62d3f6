"""The shipped zoo matches the code's defaults, is intact and small; the export works on a short sweep."""

import hashlib

import numpy as np
import pytest

from core.config import SweepConfig, config_hash
from core.gallery import MANIFEST, ZOO_DIR, GalleryError, load_zoo


def test_shipped_zoo_matches_the_default_sweep():
    zoo = load_zoo()
    assert zoo is not None, "assets/zoo/manifest.json is missing: run `python -m core zoo`"
    defaults = SweepConfig()
    assert zoo.key == config_hash(defaults), "the code's defaults changed: rebuild the zoo with `python -m core zoo`"
    for run in zoo.results["runs"]:
        assert run["target_key"] == config_hash(defaults.target_for(run["lambda"], run["seed"]))
        assert run["half_precision_agreement"] >= 0.98
    assert zoo.lambdas == list(defaults.lambdas)


def test_shipped_zoo_files_are_intact_and_small():
    files = load_zoo().results["zoo"]["files"]
    total = 0
    for name, digest in files.items():
        data = (ZOO_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        total += len(data)
    total += (ZOO_DIR / MANIFEST).stat().st_size
    assert total <= 20 * 2**20
    zoo = load_zoo()
    images = zoo.reconstructions(zoo.lambdas[0])
    assert images.shape == (40, 64, 64) and images.dtype == np.uint8
    frames, steps, confidence = zoo.trajectory(zoo.lambdas[0])
    assert frames.shape[1:] == (40, 64, 64) and steps[0] == 0 and confidence.shape == (len(steps), 40)


@pytest.mark.slow
def test_export_of_a_short_sweep(sweep, short_config, tmp_path):
    from core.zoo import build_zoo

    engine, results, root = sweep
    manifest = build_zoo(engine, root / "results", tmp_path / "zoo", config=short_config)
    assert manifest["config_hash"] == results["config_hash"] and len(manifest["runs"]) == 2
    zoo = load_zoo(tmp_path / "zoo")
    assert zoo.origin == "precomputed" and zoo.reconstructions(1.0).shape == (40, 64, 64)
    assert all(run["half_precision_agreement"] >= 0.98 for run in manifest["runs"])
    damaged = tmp_path / "zoo" / manifest["runs"][0]["reconstructions_file"]
    damaged.write_bytes(damaged.read_bytes()[:-10])
    with pytest.raises(GalleryError, match="checksum"):
        zoo.reconstructions(0.0)
