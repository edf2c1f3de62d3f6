"""Background training for the dashboard: a queue of sweep jobs run one at a time by a worker thread.

The page script never trains in its own thread; it submits a job and polls a snapshot. One worker means
two browser sessions never train at once on the same two cores, and the store's atomic, hash-keyed writes
mean a model another job already stored is reused, not retrained. Cancelling stops at the next epoch or
attack step; what was finished stays stored, the model in flight is not saved.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import MidLabError
from core.sweep_config import SweepConfig

MAX_JOBS = 20  # finished jobs kept for display; older ones are forgotten (their results stay on disk)


class JobCancelled(Exception):
    """Raised inside the training loop when the user cancels."""


@dataclass
class Job:
    id: str
    config: SweepConfig
    paths: tuple[Path, Path, Path]  # store, data, results folders
    status: str = "queued"  # queued, running, done, failed, cancelled
    stage: str = ""
    done: int = 0
    total: int = 0
    curves: list[dict[str, Any]] = field(default_factory=list)  # per model: {"label", "epochs": [records]}
    runs: list[dict[str, Any]] = field(default_factory=list)  # finished (lambda, seed) runs
    error: str = ""
    results_file: str = ""
    submitted: float = field(default_factory=time.time)
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class JobQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: deque[Job] = deque()
        self._ids = itertools.count(1)
        self._worker: threading.Thread | None = None

    def submit(self, config: SweepConfig, store_dir: Path, data_dir: Path, results_dir: Path) -> str:
        """Queue a sweep; returns the job's id at once."""
        with self._lock:
            job = Job(id=f"job{next(self._ids)}", config=config, paths=(store_dir, data_dir, results_dir))
            self._jobs.append(job)
            finished = [j for j in self._jobs if j.finished]
            for old in finished[: max(0, len(self._jobs) - MAX_JOBS)]:
                self._jobs.remove(old)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="midlab-jobs", daemon=True)
                self._worker.start()
            self._wake.notify()
            return job.id

    def snapshot(self, job_id: str) -> Job | None:
        """A consistent copy of a job for display (None when unknown or forgotten)."""
        with self._lock:
            job = next((j for j in self._jobs if j.id == job_id), None)
            if job is None:
                return None
            return dataclasses.replace(job, curves=copy.deepcopy(job.curves), runs=copy.deepcopy(job.runs))

    def ahead_of(self, job_id: str) -> int:
        """How many jobs will run before this queued one."""
        with self._lock:
            waiting = [j.id for j in self._jobs if not j.finished]
            return waiting.index(job_id) if job_id in waiting else 0

    def cancel(self, job_id: str) -> None:
        with self._lock:
            for job in self._jobs:
                if job.id == job_id and not job.finished:
                    job.cancel_requested.set()
                    if job.status == "queued":
                        job.status = "cancelled"

    def _next(self) -> Job:
        with self._lock:
            while True:
                job = next((j for j in self._jobs if j.status == "queued"), None)
                if job is not None:
                    job.status = "running"
                    return job
                self._wake.wait()

    def _work(self) -> None:
        while True:
            job = self._next()
            try:
                results_file = self._run(job)
                status, error = "done", ""
            except JobCancelled:
                status, error, results_file = "cancelled", "", ""
            except MidLabError as failure:
                status, error, results_file = "failed", str(failure), ""
            except Exception as failure:  # a bug must not kill the worker that other sessions wait on
                status, error, results_file = "failed", f"{failure!r}\n{traceback.format_exc(limit=3)}", ""
            with self._lock:
                job.status, job.error, job.results_file = status, error, results_file

    def _run(self, job: Job) -> str:
        # Imported here: torch loads in the worker, not when a page imports this module.
        from core.engine import Engine
        from core.results import results_path
        from core.runtime import pick_device
        from core.store import Store
        from core.sweep import run_sweep

        store_dir, data_dir, results_dir = job.paths

        def progress(message: str, done: int, total: int) -> None:
            if job.cancel_requested.is_set():
                raise JobCancelled
            with self._lock:
                job.stage, job.done, job.total = message, done, total

        def epoch(record: dict[str, float]) -> None:
            with self._lock:
                if record["epoch"] == 1 or not job.curves:
                    job.curves.append({"label": job.stage, "epochs": []})
                job.curves[-1]["epochs"].append(dict(record))

        def finished_run(run: dict[str, Any]) -> None:
            with self._lock:
                job.runs.append(run)

        engine = Engine(Store(store_dir), data_dir, pick_device(), progress=progress, epoch_callbacks=[epoch])
        results = run_sweep(job.config, engine, results_dir, on_run=finished_run)
        return str(results_path(results_dir, results["config_hash"]))


JOBS = JobQueue()  # one per server process, shared by every session and page
