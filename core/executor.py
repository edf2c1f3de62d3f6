"""Where the units of work of a sweep, comparison or study run: one after another in this process (local), or
as Ray tasks on a cluster (ray), with the same results.

A unit is one entry of the store: a judge, a GAN prior, the attacker's mean public face, a target, or one
attack on one target scored by one judge. A caller lists the units its points need; `gather` runs them,
dependencies first, and hands each point its records, in order, as soon as they are all there.

On Ray each missing unit is a task. Its inputs are the entries of the units it needs (tensors and records,
through Ray's object store); its worker computes with an engine over a MemoryStore holding exactly those and
returns what it computed to the driver, which alone writes the store, atomically, as the local path does. So
a cluster needs no shared file system, and a worker killed mid-task loses only its task (Ray runs it again,
up to MAX_RETRIES times) and never leaves a half-written entry. A task that fails on its own (a bad config,
a diverged training) is not retried: its error reaches the driver once, with its message.

What a worker needs: Python with requirements.txt and Ray, and the data folder at the same path as on the
driver. The data is read where the task runs because three of the units (the inversion attack, the GAN prior,
the mean public face) read thousands of LFW's public photos, which every worker reads faster from its own disk
than the driver could ship them; a worker decodes each dataset once and keeps it. The project's code travels
with the job (Ray's working_dir), so the same code runs everywhere.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from core.attack_config import AttackConfig
from core.config import DataConfig, EvaluatorConfig, TargetConfig
from core.data import PreparedData
from core.engine import Engine
from core.entries import NAMED_BY, PUBLIC_MEAN_IMAGES, AttackRun, PublicMean
from core.errors import ClusterError, ConfigError
from core.runtime import Timings, pick_device
from core.store import FINGERPRINT, Entry, Expected, MemoryStore, Store
from core.stored_config import config_hash

ROOT = Path(__file__).resolve().parent.parent
MAX_RETRIES = 2  # a task whose worker dies runs again at most this many times
# The stage of a sweep's timings each kind of unit counts in.
STAGES = {"evaluators": "evaluator_s", "priors": "prior_s", "public_mean": "public_mean_s", "targets": "train_s",
          "attacks": "attack_s"}
# Not shipped to workers with the code: data, results, the dashboard and what only the dashboard shows.
NOT_SHIPPED = [".git", ".venv", "store", "results", "data", "report", "tests", "dashboard", "benchmarks",
               "assets/zoo", "assets/comparisons", "assets/studies", "*.png"]



@dataclass(frozen=True)
class Unit:
    """One entry of the store to compute or load, and the units it needs first."""

    kind: str  # the store's kind: "evaluators", "priors", "public_mean", "targets" or "attacks"
    config: Any  # EvaluatorConfig, PriorConfig, PublicMean, TargetConfig or AttackConfig
    data: DataConfig | None = None  # the private data it is trained or scored on (None: it needs none)
    needs: tuple[Unit, ...] = ()  # an attack's target and judge, then its prior or mean public face if any

    @functools.cached_property
    def key(self) -> str:
        if self.kind == "attacks":
            return config_hash(AttackRun(self.needs[0].key, self.needs[1].key, self.config))
        return config_hash(self.config)


def judge_unit(config: EvaluatorConfig) -> Unit:
    return Unit("evaluators", config, config.data)


def target_unit(config: TargetConfig) -> Unit:
    return Unit("targets", config, config.data)


def attack_unit(target: Unit, judge: Unit, attack: AttackConfig) -> Unit:
    """Attack `target` as `attack` says, scored by `judge`; GMI needs its prior, MI-Face the mean public face."""
    needs: tuple[Unit, ...] = (target, judge)
    if attack.attack == "gmi":
        needs += (Unit("priors", attack.prior),)
    elif attack.attack == "miface" and attack.miface.start == "public_mean" and attack.public == "lfw_public":
        needs += (Unit("public_mean", PublicMean(attack.public, target.data.image_size, PUBLIC_MEAN_IMAGES)),)
    return Unit("attacks", attack, target.data, needs)


def schedule(units: Iterable[Unit]) -> list[Unit]:
    """Every unit once, each after the units it needs, otherwise in the order given."""
    order: dict[str, Unit] = {}

    def visit(unit: Unit) -> None:
        for need in unit.needs:
            visit(need)
        order.setdefault(unit.key, unit)

    for unit in units:
        visit(unit)
    return list(order.values())


def compute(engine: Engine, unit: Unit, data: PreparedData | None) -> tuple[dict[str, Any], bool]:
    """Load `unit` from the engine's store or compute and store it: (its record, whether it was stored)."""
    if unit.kind == "priors":
        return engine.prior(unit.config)[1:]
    if unit.kind == "public_mean":
        return engine.public_mean(unit.config)[1:]
    if unit.kind == "evaluators":
        return engine.evaluator(unit.config, data)[1:]
    if unit.kind == "targets":
        return engine.target(unit.config, data)[1:]
    target, judge = unit.needs[:2]
    model = engine.target(target.config, data)[0]
    evaluator = engine.evaluator(judge.config, data)[0]
    return engine.attack(model, target.key, unit.config, evaluator, judge.key, data)[1:]


@dataclass
class Done:
    """A unit's record, whether it was already stored, and the seconds it took where it ran."""

    unit: Unit
    record: dict[str, Any]
    reused: bool
    seconds: float


class Executor(Protocol):
    def run(self, units: list[Unit], engine: Engine, datasets: dict[str, PreparedData]) -> Iterator[Done]: ...

    def describe(self) -> dict[str, Any]: ...


def data_key(config: DataConfig) -> str:
    return config_hash(config)


class LocalExecutor:
    """Every unit in this process, one after another, in schedule order: the engine's own progress shows."""

    def run(self, units: list[Unit], engine: Engine, datasets: dict[str, PreparedData]) -> Iterator[Done]:
        for unit in schedule(units):
            start = time.perf_counter()
            record, reused = compute(engine, unit, datasets[data_key(unit.data)] if unit.data else None)
            yield Done(unit, record, reused, time.perf_counter() - start)

    def describe(self) -> dict[str, Any]:
        return {"name": "local", "torch_threads": torch.get_num_threads(), "task_slots": 1}


def gather(executor: Executor, engine: Engine, datasets: dict[str, PreparedData], points: list[tuple[Unit, ...]],
           on_ready: Callable[[int, dict[str, Done]], None], timings: Timings) -> dict[str, Done]:
    """Run every unit the points need; call on_ready(i, done) for each point in order, as soon as its units and
    those of every earlier point are done; add each unit's seconds to its stage in `timings`."""
    done: dict[str, Done] = {}
    ready = 0
    for outcome in executor.run([unit for point in points for unit in point], engine, datasets):
        done[outcome.unit.key] = outcome
        timings.add(STAGES[outcome.unit.kind], outcome.seconds)
        while ready < len(points) and all(unit.key in done for unit in points[ready]):
            on_ready(ready, done)
            ready += 1
    return done


def units_done(done: dict[str, Done]) -> dict[str, int]:
    """How many of a run's units were computed, and how many were already stored."""
    computed = sum(not outcome.reused for outcome in done.values())
    return {"computed": computed, "reused": len(done) - computed}


# ---- Ray ---------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _prepared(config: DataConfig, root: str) -> PreparedData:
    """A worker's copy of a dataset, decoded once per worker process."""
    return PreparedData.load(config, Path(root))


@functools.lru_cache(maxsize=1)
def _worker_engine(root: str) -> Engine:
    """One engine per worker process, so its cache of the judge's features outlives a task."""
    return Engine(MemoryStore({}), Path(root), pick_device())


def run_unit(unit: Unit, data_root: str, threads: int, *inputs: dict[str, Any]) -> dict[str, Any]:
    """The Ray task: compute `unit` on this worker from the entries shipped in `inputs` (the results of the tasks
    it needs, or stored entries) with `threads` torch threads; return what it computed for the driver to store."""
    import ray

    started = time.time()
    torch.set_num_threads(threads)
    engine = _worker_engine(data_root)
    engine.store = MemoryStore({name: entry for shipped in inputs for name, entry in shipped["entries"].items()})
    data = _prepared(unit.data, data_root) if unit.data else None
    start = time.perf_counter()
    record, reused = compute(engine, unit, data)
    seconds = time.perf_counter() - start
    return {"entries": engine.store.new, "record": record, "reused": reused, "seconds": seconds,
            "node": ray.get_runtime_context().get_node_id(), "started": started, "ended": time.time()}


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Fail at once, in one line, when nothing listens at a Ray address (Ray itself retries for a minute)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray-address {address!r}: give the head node's host:port, e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        raise ConfigError(f"no Ray cluster answers at {address} ({error.strerror or error}): start one there "
                          "with `ray start --head`, or omit --ray-address and RAY_ADDRESS for a local one") from None


class RayExecutor:
    """Each missing unit as a Ray task with its resource needs (`cpus_per_task` CPUs and torch threads, one GPU
    where the cluster has any), submitted at once with its inputs as Ray object references, so that Ray runs
    independent units in parallel and each unit after those it needs. The driver writes what comes back into
    the store and draws one progress line for all units: finished, running, queued."""

    def __init__(self, address: str | None = None, cpus_per_task: int = 1,
                 task: Callable[..., dict[str, Any]] = run_unit) -> None:
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.task = task  # tests swap in a task that fails in a chosen way
        # Per task of the last run: its unit, node, inputs, and when it was submitted, started, ended (on its
        # worker) and arrived (here), in seconds since the epoch: what `python -m core benchmark` reads.
        self.timeline: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        return {"name": "ray", "address": self.address or "local", "cpus_per_task": self.cpus_per_task,
                "torch_threads": self.cpus_per_task, "task_slots": self.slots()}

    def slots(self) -> int:
        """How many tasks the cluster runs at once: its GPUs if it has any, else its CPUs per task's CPUs."""
        import ray

        resources = ray.cluster_resources()
        if resources.get("GPU", 0) >= 1:
            return int(resources["GPU"])
        return max(1, int(resources.get("CPU", 1) // self.cpus_per_task))

    def start(self) -> None:
        """Join the cluster at `address`, or start a local Ray instance with this machine's CPUs."""
        if self.address:
            check_reachable(self.address)
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # NOT_SHIPPED names .git and .venv itself: without this Ray warns that it leaves them out by default.
        os.environ.setdefault("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES", "")
        import ray

        if ray.is_initialized():
            return
        try:
            ray.init(address=self.address, include_dashboard=False, logging_level=logging.WARNING,
                     runtime_env={"working_dir": str(ROOT), "excludes": NOT_SHIPPED})
        except ConnectionError as error:
            raise ConfigError(f"cannot join a Ray cluster at {self.address}: {str(error).splitlines()[0]}") from None

    def close(self) -> None:
        import ray

        ray.shutdown()

    def run(self, units: list[Unit], engine: Engine, datasets: dict[str, PreparedData]) -> Iterator[Done]:
        import ray
        from ray.exceptions import RayError, RayTaskError

        self.start()
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        slots = self.slots()
        task = ray.remote(self.task).options(num_cpus=self.cpus_per_task, num_gpus=gpus, max_retries=MAX_RETRIES,
                                             retry_exceptions=False)
        root = str(engine.data_root.resolve())
        inputs: dict[str, Any] = {}  # unit key -> what a task needing it receives (an object reference)
        stored_entries: dict[str, Entry] = {}  # units in the store, put where tasks find them on first need
        pending: dict[Any, Unit] = {}
        order = schedule(units)
        finished = 0
        self.timeline = []
        submitted: dict[str, dict[str, Any]] = {}
        for unit in order:
            stored = self._stored(engine, unit, datasets[data_key(unit.data)] if unit.data else None)
            if stored is not None:
                finished += 1
                if stored[0] is not None:  # in the store, not shipped with the code (assets/store)
                    stored_entries[unit.key] = (*stored, {})
                yield Done(unit, stored[1], True, 0.0)
                continue
            for need in unit.needs:
                if need.key in stored_entries and need.key not in inputs:
                    inputs[need.key] = ray.put({"entries": {(need.kind, need.key): stored_entries[need.key]}})
            needs = [inputs[need.key] for need in unit.needs if need.key in inputs]
            inputs[unit.key] = task.remote(unit, root, self.cpus_per_task, *needs)
            pending[inputs[unit.key]] = unit
            submitted[unit.key] = {"kind": unit.kind, "key": unit.key, "submitted": time.time(),
                                   "inputs": [need.key for need in unit.needs if need.key in submitted]}
        done_keys = {unit.key for unit in order} - {unit.key for unit in pending.values()}
        while pending:
            waiting = [u for u in pending.values() if not all(n.key in done_keys for n in u.needs)]
            running = min(len(pending) - len(waiting), slots)
            engine.progress(f"{finished} done, {running} running, {len(pending) - running} queued", finished,
                            len(order))
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                unit = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except RayTaskError as error:  # the task's own exception: deterministic, not retried
                    self._cancel(pending)
                    raise (error.cause if isinstance(error.cause, Exception) else error) from None
                except RayError as error:  # its worker or node died more than MAX_RETRIES times
                    self._cancel(pending)
                    raise ClusterError(f"{unit.kind} {unit.key} failed {MAX_RETRIES + 1} times on the cluster: "
                                       f"{str(error).splitlines()[0]}") from None
                self.timeline.append({**submitted[unit.key], "arrived": time.time(), "seconds": result["seconds"],
                                      **{name: result[name] for name in ("node", "started", "ended")}})
                for (kind, key), entry in result["entries"].items():
                    self._write(engine.store, kind, key, entry)
                finished += 1
                done_keys.add(unit.key)
                yield Done(unit, result["record"], result["reused"], result["seconds"])
        engine.progress(f"{finished} done, 0 running, 0 queued", finished, len(order))

    @staticmethod
    def _cancel(pending: dict[Any, Unit]) -> None:
        import ray

        for ref in pending:
            ray.cancel(ref)

    @staticmethod
    def _stored(engine: Engine, unit: Unit,
                data: PreparedData | None) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]] | None:
        """(tensors, record) of a stored unit; (None, record) when it ships with the code (assets/store). Only an
        entry that is what the engine expects (its key, its data) counts: any other is reported and computed."""
        expected = engine.expected(unit.kind, data, unit.config if unit.kind == "attacks" else None)
        if unit.kind in ("evaluators", "priors") and (record := engine.shipped.record(unit.kind, unit.key, expected)):
            return None, record
        return engine.store.load(unit.kind, unit.key, expected)

    @staticmethod
    def _write(store: Store, kind: str, key: str, entry: Entry) -> None:
        """Store what a worker computed, unless another run stored the same entry (same key, same data)
        meanwhile; one refused as stale is replaced."""
        with store.lock(kind, key):
            same = Expected(NAMED_BY[kind], entry[1].get(FINGERPRINT, {}))
            if (kind, key) in store.refused or store.load(kind, key, same) is None:
                store.save(kind, key, *entry)
