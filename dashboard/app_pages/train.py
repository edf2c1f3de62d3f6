"""Train: add models to a sweep at any lambda, in the background, and watch the tradeoff plot grow."""

import dataclasses

import streamlit as st

from core.config import PREDICT_MODES
from core.errors import ConfigError
from core.jobs import JOBS
from core.limits import LIMITS, check_lambda, parse_number
from core.paths import data_root, results_root, store_root
from dashboard import loaders
from dashboard.job_panel import job_panel
from dashboard.text import plain

st.title("Train: add models at any lambda")
st.caption(
    "Pick a sweep to extend, choose lambdas and the main knobs, and start. Training runs in the background: "
    "other pages stay usable, each finished model is attacked at once and its point joins the plot. Models "
    "with the sweep's own settings join that sweep on every page (Explore's slider reaches them, badged *trained "
    "here*); other epochs, k or test-time answer make a sweep of their own. Models and attacks already in the "
    "store or the shipped zoo are reused, not retrained. The first job on a new store also trains the judge once "
    "(about a minute on two cores)."
)

base = loaders.sweep_selector("Extend this sweep", "New models use this sweep's data, architecture, attack and judge.")
base_config = base.typed.settings

with st.form("train"):
    left, middle, right = st.columns(3)
    lambdas_text = left.text_input("Lambdas", "0.05", help="One or more MID weights, comma-separated, each in "
                                                         f"{LIMITS['lambda']}. 0 trains an ordinary classifier.")
    epochs = middle.number_input("Epochs", int(LIMITS["epochs"].low), int(LIMITS["epochs"].high),
                                 base_config.target.train.epochs,
                                 help="Passes over the training images (about 0.8 s each on two cores).")
    bottleneck = right.number_input("Bottleneck size k", int(LIMITS["bottleneck"].low), int(LIMITS["bottleneck"].high),
                                    base_config.target.model.bottleneck_dim,
                                    help="The size of the noisy code z the classifier sees.")
    predict_mode = left.selectbox("Test-time answer", PREDICT_MODES,
                                  index=PREDICT_MODES.index(base_config.target.model.predict_mode),
                                  help="How the deployed model answers: one fresh sample of z (as the official "
                                       "code), the mean of K samples' probabilities, or the mean mu.")
    seeds = middle.number_input("Seeds per lambda", 1, 10, 1, help="Training seeds; more seeds narrow intervals.")
    submitted = right.form_submit_button("Train and attack", type="primary")

if submitted:
    try:
        lambdas = tuple(check_lambda(parse_number(v)) for v in lambdas_text.split(",") if v.strip())
        target = base_config.target
        target = dataclasses.replace(
            target,
            model=dataclasses.replace(target.model, bottleneck_dim=int(bottleneck), predict_mode=predict_mode),
            train=dataclasses.replace(target.train, epochs=int(epochs)),
        )
        config = dataclasses.replace(base_config, target=target, lambdas=lambdas, seeds=tuple(range(int(seeds))))
    except (ValueError, ConfigError) as error:
        st.error(f"Not started: {plain(error)}")
    else:
        st.session_state["job"] = JOBS.submit(config, store_root(), data_root(), results_root())
        st.session_state["job_base"] = base.key


job_panel("job", "job_base")
