"""Issue 6: sweeps killed with SIGKILL, run twice at once, or cut short by a dashboard server restart leave a
valid store, lose at most the model in flight, and never load a partial file.

The CLI runs in subprocesses with every model shrunk to seconds (tests/tiny_cli.py) on a folder of 16-pixel
faces. The single-target two-process lock test is tests/test_store.py::test_two_processes_never_train_the_same_
model_twice; two dashboard sessions' different jobs in turn are in tests/test_jobs.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import make_faces
from tiny_cli import tiny_config, tiny_sweep_config

import core.__main__ as cli
from core.jobs import JobQueue
from core.results import load_results, results_path
from core.store import TENSORS, Store
from core.stored_config import config_hash
from core.sweep_config import SweepConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TINY_CLI = str(Path(__file__).resolve().parent / "tiny_cli.py")
# One thread each: two processes at once share the two cores instead of fighting over four threads.
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
KINDS = ("evaluators", "targets", "attacks")


def sweep_args(root: Path, lambdas: str, epochs: int, out: str = "results") -> list[str]:
    """A sweep over 3 people of 16x16 faces (a 4th held out as the attacker's public set), stored under root."""
    if not (root / "faces").exists():
        make_faces(root / "faces", identities=4, per_identity=5, size=(16, 16))
    return ["--dataset", "folder", "--folder", str(root / "faces"), "--public", "heldout_identities",
            "--public-identities", "1", "--lambdas", lambdas, "--epochs", str(epochs), "--data", str(root),
            "--store", str(root / "store"), "--out", str(root / out), "--quiet"]


def start(mode: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, TINY_CLI, mode, *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, seconds: float = 120) -> str:
    out, err = process.communicate(timeout=seconds)
    assert process.returncode == 0, err
    return out


def stored(store: Store, kind: str) -> dict[str, str]:
    """Entry key -> its record's creation time, for every entry whose record (written last) is there."""
    return {path.parent.name: store.record(kind, path.parent.name)["created"]
            for path in (store.root / kind).glob("*/record.json")}


def kill_when(condition: Callable[[], bool], process: subprocess.Popen, seconds: float = 90) -> None:
    """SIGKILL `process` once `condition` holds: no handler runs, nothing is flushed or cleaned up."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"it ended before it could be killed: {process.communicate()}"
        assert time.monotonic() < deadline, "the condition to kill on never came"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL


def second_model_training(store: Store, config: SweepConfig) -> bool:
    """Model 1 is stored and attacked, its picture written, and model 2 holds its lock: it is training now (100
    epochs: a second here, a few tenths on a fast CPU), and not stored."""
    second = config_hash(config.target_for(config.lambdas[1], 0))
    return (any((store.root / "attacks").glob("*/reconstructions.png"))
            and (store.root / "targets" / f".{second}.lock").exists())


def assert_store_valid(store: Store) -> None:
    """Every entry loads and matches its checksum; no temporary file of a finished write is left."""
    for kind in KINDS:
        for key in stored(store, kind):
            assert store.load(kind, key) is not None, f"{kind}/{key} does not verify"
    assert not [p for p in store.root.rglob("*.tmp") if "planted" not in p.name]


def test_a_killed_sweep_resumes_reuses_every_stored_model_and_never_loads_a_partial_file(tmp_path, monkeypatch,
                                                                                        capsys):
    args = sweep_args(tmp_path, "0,0.1,0.2", epochs=100)
    config, _ = tiny_config(args)
    store = Store(tmp_path / "store")
    first = start("sweep", args)
    kill_when(lambda: second_model_training(store, config), first)

    keys = [config_hash(config.target_for(mid_lambda, 0)) for mid_lambda in config.lambdas]
    before = stored(store, "targets")
    assert list(before) == keys[:1]  # the kill hit model 2's training: it alone is lost
    # What a kill in the middle of writing model 2 would leave: a temporary file and tensors without a record.
    folder = store.path("targets", keys[1])
    folder.mkdir()
    partial = (store.path("targets", keys[0]) / TENSORS).read_bytes()[:200]
    (folder / ".tensors.safetensors.planted.tmp").write_bytes(partial)
    (folder / TENSORS).write_bytes(partial)
    # And a results file cut short, as a copy interrupted mid-way would leave it.
    results_file = results_path(tmp_path / "results", config_hash(config))
    results_file.parent.mkdir()
    results_file.write_text('{"kind": "sweep", "runs": [')

    # Run again: the same CLI, in this process (a third process would only add torch's start-up time).
    monkeypatch.setattr(cli, "sweep_config", tiny_sweep_config)
    assert cli.main(["sweep", *args]) == 0
    assert "3 runs (1 models reused)" in capsys.readouterr().out
    results = load_results(results_file)
    assert results is not None, "the truncated results file was not recomputed"
    assert [run["reused"] for run in results["runs"]] == [
        {"target": True, "attack": True}, {"target": False, "attack": False}, {"target": False, "attack": False}]
    after = stored(store, "targets")
    assert sorted(after) == sorted(keys)
    assert after[keys[0]] == before[keys[0]]  # reused, not retrained
    assert_store_valid(store)


def test_two_sweeps_at_once_over_one_store_train_each_model_once(tmp_path):
    args = sweep_args(tmp_path, "0,0.1", epochs=30, out="results_a")
    processes = [start("sweep", args), start("sweep", sweep_args(tmp_path, "0,0.1", epochs=30, out="results_b"))]
    for process in processes:
        finish(process)
    config, _ = tiny_config(args)
    both = [load_results(results_path(tmp_path / out, config_hash(config))) for out in ("results_a", "results_b")]
    for run_a, run_b in zip(both[0]["runs"], both[1]["runs"], strict=True):
        for part in ("target", "attack"):  # one process computed it, the other waited and loaded it
            assert sorted([run_a["reused"][part], run_b["reused"][part]]) == [False, True], (run_a, run_b)
    assert both[0]["summary"] == both[1]["summary"]
    store = Store(tmp_path / "store")
    assert [len(stored(store, kind)) for kind in KINDS] == [2, 2, 2]  # the judge: split-only and fine-tuned
    assert_store_valid(store)


def test_a_dashboard_server_killed_mid_job_leaves_a_valid_store_and_the_job_finishes_after_restart(tmp_path):
    args = sweep_args(tmp_path, "0,0.1", epochs=100)
    config, options = tiny_config(args)
    store = Store(tmp_path / "store")
    kill_when(lambda: second_model_training(store, config), start("job", args))
    assert len(stored(store, "targets")) == 1
    assert_store_valid(store)

    # After the restart, two sessions submit the same job at once: the models stored before the crash are
    # reused, the lost one is trained once, and the second session's job only loads.
    queue = JobQueue()
    paths = (options.store, options.data, options.out)
    jobs = [queue.submit(config, *map(Path, paths)) for _ in range(2)]
    deadline = time.monotonic() + 120
    while not all(queue.snapshot(job).finished for job in jobs):
        assert time.monotonic() < deadline, "the jobs did not finish"
        time.sleep(0.05)
    done = [queue.snapshot(job) for job in jobs]
    assert [job.status for job in done] == ["done", "done"], [job.error for job in done]
    assert [run["reused"]["target"] for run in done[0].runs] == [True, False]
    assert [run["reused"]["target"] for run in done[1].runs] == [True, True]
    assert load_results(Path(done[1].results_file)) is not None
    assert len(stored(store, "targets")) == 2
    assert_store_valid(store)
