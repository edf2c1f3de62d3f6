"""Train: add models to a sweep at any lambda, in the background, and watch the tradeoff plot grow."""

import dataclasses

import pandas as pd
import streamlit as st

from core.config import PREDICT_MODES, ConfigError, check_lambda, data_root, results_root, store_root, sweep_from_dict
from core.jobs import JOBS
from dashboard import loaders
from dashboard.charts import run_as_row, tradeoff_figure

st.title("Train: add models at any lambda")
st.caption(
    "Pick a sweep to extend, choose lambdas and the main knobs, and start. Training runs in the background: "
    "other pages stay usable, each finished model is attacked at once and its point joins the plot. Models "
    "already in the store are reused, not retrained. The first job on a new store also trains the judge once "
    "(about a minute on two cores)."
)

base = loaders.sweep_selector("Extend this sweep", "New models use this sweep's data, architecture, attack and judge.")
base_config = sweep_from_dict(base.results["config"])

with st.form("train"):
    left, middle, right = st.columns(3)
    lambdas_text = left.text_input("Lambdas", "0.05", help="One or more MID weights, comma-separated, each in "
                                                         "[0, 1000]. 0 trains an ordinary classifier.")
    epochs = middle.number_input("Epochs", 1, 500, base_config.target.train.epochs,
                                 help="Passes over the training images (about 0.8 s each on two cores).")
    bottleneck = right.number_input("Bottleneck size k", 1, 1024, base_config.target.model.bottleneck_dim,
                                    help="The size of the noisy code z the classifier sees.")
    predict_mode = left.selectbox("Test-time answer", PREDICT_MODES,
                                  index=PREDICT_MODES.index(base_config.target.model.predict_mode),
                                  help="How the deployed model answers: one fresh sample of z (as the official "
                                       "code), the mean of K samples' probabilities, or the mean mu.")
    seeds = middle.number_input("Seeds per lambda", 1, 10, 1, help="Training seeds; more seeds narrow intervals.")
    submitted = right.form_submit_button("Train and attack", type="primary")

if submitted:
    try:
        lambdas = tuple(check_lambda(float(v)) for v in lambdas_text.split(",") if v.strip())
        target = base_config.target
        target = dataclasses.replace(
            target,
            model=dataclasses.replace(target.model, bottleneck_dim=int(bottleneck), predict_mode=predict_mode),
            train=dataclasses.replace(target.train, epochs=int(epochs)),
        )
        config = dataclasses.replace(base_config, target=target, lambdas=lambdas, seeds=tuple(range(int(seeds))))
    except (ValueError, ConfigError) as error:
        st.error(f"Not started: {error}")
    else:
        st.session_state["job"] = JOBS.submit(config, store_root(), data_root(), results_root())
        st.session_state["job_base"] = base.key


def current_job():
    job_id = st.session_state.get("job")
    return JOBS.snapshot(job_id) if job_id else None


started = current_job()
polling = started is not None and not started.finished


@st.fragment(run_every=1.0 if polling else None)
def job_panel() -> None:
    job = current_job()
    if job is None:
        st.info("No training started in this session yet.")
        return
    if polling and job.finished:
        st.rerun()  # stop polling: redraw once more without the timer
    if job.status == "queued":
        st.info(f"Queued: {JOBS.ahead_of(job.id)} job(s) from other sessions run first.")
    elif job.status == "running":
        st.progress(job.done / max(job.total, 1), text=f"{job.stage}: {job.done}/{job.total}")
        if st.button("Cancel", help="Stops at the next epoch; finished models stay stored."):
            JOBS.cancel(job.id)
    elif job.status == "done":
        st.success(f"Done: {len(job.runs)} model(s) trained and attacked. Results: `{job.results_file}`; "
                   "they appear on Explore, badged *trained here*.")
    elif job.status == "cancelled":
        st.warning(f"Cancelled. {len(job.runs)} finished model(s) are stored and will be reused.")
    else:
        st.error(f"Training failed: {job.error}")

    if job.curves:
        curves = pd.DataFrame([{**record, "model": curve["label"]} for curve in job.curves
                               for record in curve["epochs"]])
        st.caption("Training curves, one line per model (mean over each epoch's batches).")
        columns = st.columns(3)
        for column, figure in zip(columns, ("loss", "accuracy", "kl"), strict=True):
            column.line_chart(curves, x="epoch", y=figure, color="model", height=220)
    if job.runs:
        st.dataframe(pd.DataFrame([{
            "lambda": run["lambda"], "seed": run["seed"], "test accuracy": run["test"]["accuracy"]["value"],
            "attack top-1": run["attack"]["top1"]["value"], "attack top-5": run["attack"]["top5"]["value"],
            "model": run["target_key"], "reused": run["reused"]["target"]} for run in job.runs]),
            hide_index=True, width="stretch")
    base_sweep = {s.key: s for s in loaders.sweeps()}.get(st.session_state.get("job_base"))
    rows = base_sweep.results["summary"] if base_sweep else []
    if rows or job.runs:
        st.plotly_chart(tradeoff_figure(rows, added=[run_as_row(r) for r in job.runs]), width="stretch",
                        key="train_tradeoff")


job_panel()
