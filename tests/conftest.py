"""Shared fixtures. Real-data tests need the datasets: in CI a missing dataset fails loudly, locally it skips."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.attack_config import AttackConfig, MIFaceConfig
from core.config import EvaluatorConfig, TargetConfig, TrainConfig
from core.paths import data_root
from core.sweep_config import SweepConfig


def require(path: Path, what: str) -> Path:
    if path.exists():
        return path
    message = (f"{what} not found at {path.resolve()}; set MIDLAB_DATA to the folder holding the datasets "
               "(CI uses ../shared/data)")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
    raise AssertionError("unreachable")


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    """`python -m core ARGV` in this process, expected to exit: (exit status, stdout, stderr)."""
    from core.__main__ import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def make_faces(root: Path, identities: int = 3, per_identity: int = 4, size: tuple[int, int] = (40, 50)) -> Path:
    """A folder of <identity>/<image> files of random pixels (width x height `size`): a dataset in seconds."""
    rng = np.random.default_rng(0)
    for i in range(identities):
        folder = root / f"person{i}"
        folder.mkdir(parents=True)
        for j in range(per_identity):
            pixels = rng.integers(0, 256, size=(size[1], size[0]), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"{j}.png")
    return root


def write_idx(path: Path, array: np.ndarray) -> None:
    """An MNIST-style IDX file of unsigned bytes, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A results folder for the dashboard's pages, and no shipped comparisons or studies unless a test adds one."""
    from dashboard import loaders

    monkeypatch.setattr(loaders, "COMPARISONS_DIR", tmp_path / "shipped")
    monkeypatch.setattr(loaders, "STUDIES_DIR", tmp_path / "shipped_studies")
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "results"))
    return tmp_path / "results"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real data root; the ORL faces must be there."""
    root = data_root()
    require(root / "att_faces", "the AT&T/ORL faces")
    return root


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    return require(data_dir / "lfw_gray", "LFW (lfw_gray)")


@pytest.fixture(scope="session")
def mnist_dir(data_dir: Path) -> Path:
    return require(data_dir / "mnist", "MNIST")


SHORT = SweepConfig(
    target=TargetConfig(train=TrainConfig(epochs=10)),
    lambdas=(0.0, 1.0),
    attack=AttackConfig(miface=MIFaceConfig(steps=60)),
    # A judge that forgives blur, like the targets: MI-Face's few steps draw blurred shapes, which a
    # conventional judge (the default) names for almost no one, so λ's effect on the attack would not show.
    evaluator=EvaluatorConfig(width=12, epochs=25, photometric=True),
)


@pytest.fixture(scope="session")
def short_config() -> SweepConfig:
    return SHORT


@pytest.fixture(scope="session")
def sweep(data_dir, tmp_path_factory, pytestconfig):
    """A short real sweep on ORL (lambda 0 and 1), run once per test session: (engine, results, folder)."""
    from core.engine import Engine
    from core.results import typed_results
    from core.store import Store
    from core.sweep import format_table, run_sweep

    root = tmp_path_factory.mktemp("sweep")
    engine = Engine(Store(root / "store"), data_dir, torch.device("cpu"))
    results = run_sweep(SHORT, engine, root / "results")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    reporter.write_line("\nShort real sweep on ORL (tests/conftest.py SHORT):\n" + format_table(typed_results(results)))
    return engine, results, root


def shown(markdown: str) -> str:
    """The text a Markdown string shows, for strings escaped by dashboard.text.plain: its backslash escapes undone."""
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.fixture(scope="session")
def tiny_zoo(data_dir, tmp_path_factory):
    """A zoo of one short sweep (SHORT, MI-Face) built as `python -m core zoo` builds the shipped one, and
    the store it was built from (its judge and models): (zoo folder, store folder)."""
    from core.engine import Engine
    from core.store import Store
    from core.zoo import build_zoo

    root = tmp_path_factory.mktemp("tiny_zoo")
    build_zoo(Engine(Store(root / "store"), data_dir, torch.device("cpu")), root / "built", root / "zoo", [SHORT])
    return root / "zoo", root / "store"
