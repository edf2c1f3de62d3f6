"""Attack lab: replay how the reconstruction of each person evolved, with the target's confidence."""

import dataclasses

import plotly.graph_objects as go
import streamlit as st

from core.attack_config import ATTACKS, GMI_RECIPES, attack_steps, framed_for, with_gmi_recipe, with_steps
from core.config import PREDICT_MODES
from core.errors import DataError, GalleryError
from core.figures import ATTACK_NAMES
from core.jobs import JOBS
from core.limits import LIMITS
from core.paths import data_root, results_root, store_root
from dashboard import loaders
from dashboard.job_panel import job_panel
from dashboard.state import VIEW_HELP
from dashboard.text import plain, plain_html

st.title("Attack lab: watch the inversion happen")
st.caption(
    "MI-Face starts from the average face of other people and takes gradient steps on the pixels; GMI takes "
    "its steps in the code space of a face generator trained on other people; the inversion network learns, "
    "epoch by epoch, to decode the model's answers into faces. Each makes the model more sure it sees the "
    "chosen person. The frames below were recorded during the attack; the chart shows how confident the "
    "target model became. A confident model is not a recognisable face: compare with the original."
)

# The sweep's label (dataset, attack, view, origin, key) needs a full row to be read whole on a 1280 px screen.
sweep = loaders.sweep_selector("Sweep", "Where the models and their recorded attacks come from.")
left, right = st.columns([2, 3])
mid_lambda = left.select_slider("Model (its lambda)", options=sweep.lambdas, value=sweep.lambdas[0],
                                format_func=lambda v: f"{v:g}", help="Which trained model was attacked.")
people = right.multiselect("People", sweep.names, default=sweep.names[:4], max_selections=8,
                           help="Whose reconstructions to replay (up to 8).")
try:
    frames, steps, confidence = loaders.trajectory(sweep, mid_lambda)
except GalleryError as error:
    st.error(plain(error))
    st.stop()
labels = [sweep.names.index(name) for name in people]
step = st.select_slider("Attack step", options=steps, value=steps[-1],
                        help="Frames were recorded every few steps; the last one is the final reconstruction.")
frame = steps.index(step)

try:
    originals, _ = loaders.sweep_originals(sweep)
except DataError as error:
    originals = None
    st.warning(f"Original faces are read from the dataset, which is not available here: {plain(error)}")

columns = st.columns(max(len(labels), 1))
for column, label in zip(columns, labels, strict=False):
    with column:
        st.markdown(f"**{plain(sweep.names[label])}**")
        st.image(frames[frame, label], caption=f"step {step} · target p={confidence[frame, label]:.2f}",
                 width="stretch")
        if originals is not None:
            st.image(originals[label], caption="original", width="stretch")

figure = go.Figure()
for label in labels:
    figure.add_trace(go.Scatter(x=steps, y=confidence[:, label], mode="lines+markers",
                                name=plain_html(sweep.names[label])))
figure.add_vline(x=step, line_dash="dot", line_color="grey")
figure.update_layout(height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10}, xaxis={"title": "attack step"},
                     yaxis={"title": "target's confidence in the person", "range": [0, 1.02]},
                     title={"text": f"How sure the lambda = {mid_lambda:g} model became, per person",
                            "font": {"size": 14}})
st.plotly_chart(figure, width="stretch")
run = sweep.run(mid_lambda)
hits = sum(run.attack.per_identity[label].top1 for label in labels)
st.caption(f"The judge names {hits} of these {len(labels)} final reconstructions correctly "
           f"(all people: top-1 {run.attack.top1.value:.2f}). Attacker's view: "
           f"{sweep.typed.settings.attack.view}.")

st.subheader("Run a new attack on this model")
st.caption(f"Attack the lambda = {mid_lambda:g} model again with other settings, in the background. The model "
           "must be in your store: it is trained first when missing (about 15 s), and the judge once (a few "
           "minutes). GMI uses the GAN prior shipped in assets/store.")
base_config = sweep.typed.settings
with st.form("attack"):
    left, middle, recipe_column, right, go_column = st.columns(5)
    attack_name = left.selectbox("Attack", ATTACKS, index=ATTACKS.index(base_config.attack.attack),
                                 format_func=ATTACK_NAMES.get,
                                 help="MI-Face: gradient steps on pixels. GMI: steps in a face generator's code "
                                      "space. Inversion network: a decoder trained on the model's answers.")
    steps_wanted = middle.number_input(
        "Steps (epochs for the inversion network)", int(LIMITS["attack_steps"].low),
        int(LIMITS["attack_steps"].high), attack_steps(base_config.attack),
        help="MI-Face and GMI: optimisation steps (frames are recorded every few). The inversion network: "
             "training epochs over the public faces (a frame per epoch).")
    recipe = recipe_column.selectbox(
        "GMI recipe", GMI_RECIPES, index=GMI_RECIPES.index(base_config.attack.gmi.recipe),
        help="fast: screened starts, Adam on log-odds, jitter (40 steps). paper: the official GMI loop (5 random "
             "restarts per person, SGD with momentum, 100 x cross-entropy, no jitter); its own length is 1500 "
             "steps, over an hour on 2 busy CPUs: set Steps to 1500 for it. GMI only.")
    view = right.selectbox("Attacker's view", PREDICT_MODES, index=PREDICT_MODES.index(base_config.attack.view),
                           help=VIEW_HELP)
    submitted = go_column.form_submit_button("Attack", type="primary")
if submitted:
    attack = with_gmi_recipe(dataclasses.replace(base_config.attack, attack=attack_name, view=view), recipe)
    attack = with_steps(attack, int(steps_wanted))
    attack = framed_for(base_config.target.data.dataset, attack)
    config = dataclasses.replace(base_config, lambdas=(mid_lambda,), seeds=(run.seed,), attack=attack)
    st.session_state["attack_job"] = JOBS.submit(config, store_root(), data_root(), results_root())
    st.session_state["attack_job_base"] = sweep.key
job_panel("attack_job", "attack_job_base")
