"""The live panel of a background job: status, progress, cancel, curves, finished runs and their points."""

import pandas as pd
import streamlit as st

from core.jobs import JOBS, Job
from core.result_types import SweepRun
from dashboard import loaders
from dashboard.charts import run_as_point, sweep_tradeoff, tradeoff_figure
from dashboard.text import plain


def current_job(job_key: str) -> Job | None:
    job_id = st.session_state.get(job_key)
    return JOBS.snapshot(job_id) if job_id else None


def job_panel(job_key: str, base_key: str) -> None:
    """Show the job whose id is in session_state[job_key], polling once a second while it runs; its finished
    runs are plotted beside the sweep whose key is in session_state[base_key]."""
    polling = (started := current_job(job_key)) is not None and not started.finished

    @st.fragment(run_every=1.0 if polling else None)
    def panel() -> None:
        job = current_job(job_key)
        if job is None:
            st.info("Nothing started in this session yet.")
            return
        if polling and job.finished:
            st.rerun()  # stop polling: redraw once more without the timer
        if job.status == "queued":
            st.info(f"Queued: {JOBS.ahead_of(job.id)} job(s) from other sessions run first.")
        elif job.status == "running":
            st.progress(job.done / max(job.total, 1), text=f"{job.stage}: {job.done}/{job.total}")
            if st.button("Cancel", help="Stops at the next epoch or attack step; finished models stay stored."):
                JOBS.cancel(job.id)
        elif job.status == "done":
            st.success(f"Done: {len(job.runs)} model(s) trained and attacked. Results: {plain(job.results_file)}; "
                       "they join the sweep they extend on every page (or, at other settings, make a sweep of "
                       "their own), badged *trained here*.")
        elif job.status == "cancelled":
            st.warning(f"Cancelled. {len(job.runs)} finished model(s) are stored and will be reused.")
        else:
            st.error(f"The job failed: {plain(job.error)}")

        if job.curves:
            curves = pd.DataFrame([{**record, "model": curve["label"]} for curve in job.curves
                                   for record in curve["epochs"]])
            st.caption("Training curves, one line per model (mean over each epoch's batches).")
            for column, figure in zip(st.columns(3), ("loss", "accuracy", "kl"), strict=True):
                column.line_chart(curves, x="epoch", y=figure, color="model", height=220)
        # The job's finished runs, as the sweep will store them (core.sweep).
        runs = [SweepRun.model_validate(run, strict=False) for run in job.runs]
        if runs:
            st.dataframe(pd.DataFrame([{
                "lambda": run.lambda_, "seed": run.seed, "test accuracy": run.test.accuracy.value,
                "attack top-1": run.attack.top1.value, "attack top-5": run.attack.top5.value,
                "model": run.target_key, "reused": run.reused.target} for run in runs]),
                hide_index=True, width="stretch")
        # The sweep as Explore shows it: once the job's results file is written, its points are the sweep's own.
        base_sweep = {s.key: s for s in loaders.sweeps()}.get(st.session_state.get(base_key))
        if base_sweep is not None:
            shown = {(r.lambda_, r.seed, r.target_key) for r in base_sweep.typed.runs}
            pending = [r for r in runs if (r.lambda_, r.seed, r.target_key) not in shown]
            st.plotly_chart(sweep_tradeoff(base_sweep, pending=pending), width="stretch", key=f"{job_key}_tradeoff")
        elif runs:
            st.plotly_chart(tradeoff_figure([], added=[run_as_point(r) for r in runs]), width="stretch",
                            key=f"{job_key}_tradeoff")

    panel()
