"""Issue 20: sweeps on a Ray cluster give what the local executor gives; a killed worker loses only its task;
a task's own error is reported once; an unreachable cluster stops the CLI with one line.

One local two-node cluster (ray.cluster_utils.Cluster, one CPU per node) serves the module. The sweep is
real ORL shrunk to seconds (tests/tiny_cli.py's shrink: 16-pixel faces, width-2 networks), two lambdas.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from tiny_cli import shrink

from core.engine import Engine
from core.errors import TrainingDiverged
from core.executor import RayExecutor, run_unit
from core.presets import sweep_defaults
from core.store import RECORD, Store
from core.sweep import run_sweep

KINDS = ("evaluators", "public_mean", "targets", "attacks")


def tiny_config():
    config = shrink(sweep_defaults("orl"))
    train = dataclasses.replace(config.target.train, epochs=4)
    return dataclasses.replace(config, lambdas=(0.0, 0.1), target=dataclasses.replace(config.target, train=train))


@pytest.fixture(scope="module")
def cluster():
    """A two-node Ray cluster of one CPU each on this machine, joined by a RayExecutor."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    executor = RayExecutor(nodes.address)
    executor.start()
    yield executor
    executor.close()
    nodes.shutdown()


@pytest.fixture(scope="module")
def local_run(data_dir, tmp_path_factory):
    """The tiny sweep with the local executor and one torch thread, as each Ray task runs: (results, store)."""
    root = tmp_path_factory.mktemp("local")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = run_sweep(tiny_config(), Engine(Store(root / "store"), data_dir, torch.device("cpu")), root)
    finally:
        torch.set_num_threads(threads)
    return results, Store(root / "store")


def entries(store: Store) -> dict[tuple[str, str], str]:
    """(kind, key) -> the SHA-256 of the entry's tensors, for every whole entry; fails on anything half-written."""
    found = {}
    for kind in KINDS:
        for record_file in (store.root / kind).glob(f"*/{RECORD}"):
            key = record_file.parent.name
            assert store.load(kind, key) is not None, f"{kind} {key} is not whole"
            found[kind, key] = store.record(kind, key)["tensors_sha256"]
    assert not list(store.root.rglob("*.tmp")), "a temporary file was left behind"
    return found


def assert_same(results: dict, store: Store, local: tuple[dict, Store]) -> None:
    """Same hashes, figures, stored tensors and reconstruction pictures as the local executor's."""
    expected, expected_store = local
    assert results["config_hash"] == expected["config_hash"]
    assert [(r["target_key"], r["attack_key"]) for r in results["runs"]] == \
        [(r["target_key"], r["attack_key"]) for r in expected["runs"]]
    assert results["summary"] == expected["summary"]
    assert [r["attack"] for r in results["runs"]] == [r["attack"] for r in expected["runs"]]
    assert entries(store) == entries(expected_store)
    for run in expected["runs"]:
        picture = Path("attacks") / run["attack_key"] / "reconstructions.png"
        assert (store.root / picture).read_bytes() == (expected_store.root / picture).read_bytes()


@pytest.mark.slow
@pytest.mark.ray
def test_a_sweep_on_a_two_node_cluster_equals_the_local_one(cluster, local_run, data_dir, tmp_path):
    store = Store(tmp_path / "store")
    seen = []
    results = run_sweep(tiny_config(), Engine(store, data_dir, torch.device("cpu")), tmp_path,
                        on_run=seen.append,
                        executor=cluster)
    assert_same(results, store, local_run)
    assert [run["lambda"] for run in seen] == [0.0, 0.1]
    assert results["executor"] == {"name": "ray", "address": cluster.address, "cpus_per_task": 1,
                                   "torch_threads": 1, "task_slots": 2}
    assert all(not any(run["reused"].values()) for run in results["runs"])
    stored = Store(tmp_path / "store")
    for run in results["runs"]:  # every task ran with the one torch thread it reserved, and says so
        assert stored.record("targets", run["target_key"])["environment"]["torch_threads"] == 1
    again = run_sweep(tiny_config(), Engine(store, data_dir, torch.device("cpu")), tmp_path, executor=cluster)
    assert all(all(run["reused"].values()) for run in again["runs"]), "a stored sweep submitted tasks again"


@pytest.mark.slow
@pytest.mark.ray
def test_a_worker_killed_mid_task_loses_only_its_task(cluster, local_run, data_dir, tmp_path):
    marker, attempts = tmp_path / "killed", tmp_path / "attempts"

    def dies_once(unit, *args):
        """The first attempt at the first target kills its own worker process, mid-task, with SIGKILL."""
        if unit.kind == "targets":
            with attempts.open("a") as f:
                f.write(unit.key + "\n")
            if not marker.exists():
                marker.write_text(unit.key)
                threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGKILL)).start()
                run_unit(unit, *args)
                time.sleep(60)  # finished within 0.2 s: die before returning anything
        return run_unit(unit, *args)

    store = Store(tmp_path / "store")
    executor = RayExecutor(cluster.address, task=dies_once)
    results = run_sweep(tiny_config(), Engine(store, data_dir, torch.device("cpu")), tmp_path, executor=executor)
    killed = marker.read_text()
    assert attempts.read_text().split().count(killed) == 2, "the killed task did not run exactly once more"
    assert_same(results, store, local_run)


@pytest.mark.slow
@pytest.mark.ray
def test_a_task_that_fails_on_its_own_is_reported_once_not_retried(cluster, data_dir, tmp_path):
    attempts = tmp_path / "attempts"
    config = tiny_config()
    failing = config.target_for(0.1, 0)

    def diverges(unit, *args):
        if unit.config == failing:
            with attempts.open("a") as f:
                f.write("attempt\n")
            raise TrainingDiverged("the loss became nan at epoch 3; lower the learning rate")
        return run_unit(unit, *args)

    store = Store(tmp_path / "store")
    with pytest.raises(TrainingDiverged, match="nan at epoch 3"):
        run_sweep(config, Engine(store, data_dir, torch.device("cpu")), tmp_path,
                  executor=RayExecutor(cluster.address, task=diverges))
    # No wait needed: Ray stores a task's error as its result only after its last attempt (a task retried on an
    # exception runs again first), and the driver raises as it reads that result, submitting nothing more. So every
    # attempt has written its line by now: two or more means the failure was retried.
    assert attempts.read_text().count("attempt") == 1
    entries(store)  # what did finish is stored whole


@pytest.mark.parametrize("address", ["free_port", "not-an-address"])
def test_an_unreachable_cluster_stops_with_one_line_and_status_2(address, capsys, tmp_path):
    if address == "free_port":
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{probe.getsockname()[1]}"
    start = time.monotonic()
    code, _, err = run_cli(capsys, "sweep", "--executor", "ray", "--ray-address", address, "--store",
                          str(tmp_path / "store"), "--out", str(tmp_path), "--quiet")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and address in err, err
    assert time.monotonic() - start < 5
    assert not (tmp_path / "store").exists()
