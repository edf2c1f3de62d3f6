"""The background job queue: two sessions' jobs run one after the other without corrupting each other's
results; a cancelled job stores nothing for the model in flight."""

import dataclasses
import time

import pytest

from core.jobs import JobQueue
from core.results import load_results
from core.store import Store
from core.stored_config import config_hash

pytestmark = pytest.mark.slow


def wait(queue: JobQueue, job_id: str, seconds: float = 240):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = queue.snapshot(job_id)
        if job.finished:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{job_id} did not finish")


def short_job(config, mid_lambda: float, epochs: int = 2):
    target = dataclasses.replace(config.target, train=dataclasses.replace(config.target.train, epochs=epochs))
    return dataclasses.replace(config, target=target, lambdas=(mid_lambda,))


def test_two_sessions_jobs_run_in_turn_and_both_land(sweep, short_config, data_dir, tmp_path):
    _, _, root = sweep
    queue = JobQueue()
    first = queue.submit(short_job(short_config, 0.2), root / "store", data_dir, tmp_path)
    second = queue.submit(short_job(short_config, 0.3), root / "store", data_dir, tmp_path)
    assert queue.snapshot(second).status == "queued" and queue.ahead_of(second) == 1
    done = [wait(queue, first), wait(queue, second)]
    assert [job.status for job in done] == ["done", "done"], [job.error for job in done]
    for job, mid_lambda in zip(done, (0.2, 0.3), strict=True):
        results = load_results(job.results_file)
        assert results["runs"][0]["lambda"] == mid_lambda and len(job.curves) == 1
        assert len(job.curves[0]["epochs"]) == 2 and job.curves[0]["label"].startswith("train lambda=")
    assert done[0].submitted <= done[1].submitted


def test_cancelling_stores_nothing_for_the_model_in_flight(sweep, short_config, data_dir, tmp_path):
    _, _, root = sweep
    queue = JobQueue()
    config = short_job(short_config, 0.7, epochs=200)
    job_id = queue.submit(config, root / "store", data_dir, tmp_path)
    deadline = time.monotonic() + 60
    while queue.snapshot(job_id).status != "running" or not queue.snapshot(job_id).curves:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    queue.cancel(job_id)
    job = wait(queue, job_id)
    assert job.status == "cancelled" and not job.runs
    assert Store(root / "store").record("targets", config_hash(config.target_for(0.7, 0))) is None
    assert not list(tmp_path.glob("sweep_*.json"))


def test_a_failing_job_reports_and_the_worker_goes_on(sweep, short_config, data_dir, tmp_path):
    _, _, root = sweep
    queue = JobQueue()
    broken = queue.submit(short_job(short_config, 0.4), root / "store", tmp_path / "no-data", tmp_path)
    fine = queue.submit(short_job(short_config, 0.0), root / "store", data_dir, tmp_path)
    failed = wait(queue, broken)
    assert failed.status == "failed" and "att_faces" in failed.error
    assert wait(queue, fine).status == "done"
