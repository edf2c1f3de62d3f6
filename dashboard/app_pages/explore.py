"""Explore: move lambda and see what the attacker recovers, next to the real faces and the tradeoff curve."""

import plotly.graph_objects as go
import streamlit as st

from core.config import data_root
from core.data import DataError
from core.figures import ATTACK_NAMES, figure_png, png_export_available
from core.gallery import GalleryError, attack_siblings, metric_delta
from dashboard import loaders, state
from dashboard.charts import spread_figure, tradeoff_figure
from dashboard.live_chart import live_plotly_chart
from dashboard.text import plain

DEFAULT_IDENTITIES = 8


@st.cache_resource(max_entries=64, show_spinner=False)
def figures(_sweep, sweep_key: str, _siblings, sibling_keys: tuple[str, ...],
            mid_lambda: float) -> tuple[go.Figure, str, str, go.Figure | None, str]:
    """The two figures (the tradeoff also as JSON and HTML, the spread as JSON), built once per lambda and shared,
    never copied: building a Plotly figure costs more than the rest of a rerun. Read-only: nothing may change
    them. The same models under other attacks are extra curves."""
    others = [(ATTACK_NAMES[s.results["config"]["attack"]["attack"]], s.results["summary"]) for s in _siblings]
    tradeoff = tradeoff_figure(_sweep.results["summary"], mid_lambda,
                               name=ATTACK_NAMES[_sweep.results["config"]["attack"]["attack"]] + " (shown)",
                               others=others)
    spread = spread_figure(_sweep, mid_lambda)
    return (tradeoff, tradeoff.to_json(), tradeoff.to_html(include_plotlyjs="cdn"), spread,
            "" if spread is None else spread.to_json())


def interval(figure: dict, digits: int = 2) -> str:
    low, high = figure.get("low"), figure.get("high")
    if low is None or high is None:
        return "no interval (a single value)"
    return f"95% interval [{low:.{digits}f}, {high:.{digits}f}]"


def verdict(run: dict, label: int, names: list[str]) -> str:
    judged = run["attack"]["per_identity"][label]
    mark = "✓" if judged["top1"] else "✗"
    return f"{mark} judge: {plain(names[judged['predicted']])} · p={judged['evaluator_confidence']:.2f}"


st.title("Explore: what can an attacker recover?")
sweeps = loaders.require_sweeps()

sweep = state.pick_sweep(sweeps)
st.caption(
    f"A model inversion attack (here {ATTACK_NAMES[sweep.results['config']['attack']['attack']]}) asks the "
    "trained classifier, over and over, what makes it say *this person*, and paints the answer. MID squeezes "
    "the information the model keeps about its input; its weight **lambda** trades accuracy for privacy. "
    "Move lambda and compare."
)
mid_lambda = state.pick_lambda(sweep)
identities = state.pick_identities(sweep, DEFAULT_IDENTITIES)
state.write_url(sweep, mid_lambda, identities)

origin_badge = ":green-badge[precomputed]" if sweep.origin == "precomputed" else ":orange-badge[trained here]"
st.markdown(f"{origin_badge} sweep `{sweep.key}` · model `{sweep.run(mid_lambda)['target_key']}` · "
            f"judge held-out accuracy **{sweep.results['evaluator']['heldout_accuracy']['value']:.2f}**")

row, base = sweep.row(mid_lambda), sweep.row(sweep.lambdas[0])
cards = st.columns(4)
for card, (name, label, better, digits, help_text) in zip(cards, [
    ("test_accuracy", "Test accuracy", "normal", 2, "How often the deployed model names the right person."),
    ("attack_top1", "Attack top-1", "inverse", 2,
     "Share of people whose reconstruction the independent judge names correctly. Lower is more private."),
    ("attack_top5", "Attack top-5", "inverse", 2, "Share of people named among the judge's five best guesses."),
    ("feature_distance", "Feature distance", "normal", 1,
     "How far, in the judge's eyes, a reconstruction lies from the nearest real photo of that person "
     f"(a real held-out photo: {sweep.results['evaluator']['real_image_distance']['value']:.1f}). Higher is more "
     "private."),
], strict=True):
    delta = metric_delta(row[name], base[name])
    card.metric(label, f"{row[name]['value']:.{digits}f}",
                delta=None if delta is None or mid_lambda == sweep.lambdas[0] else f"{delta:+.{digits}f} vs λ=0",
                delta_color=better, help=f"{help_text} {interval(row[name], digits)}.", border=True)

try:
    originals, names = loaders.originals(sweep.results["config"]["target"]["data"], str(data_root()))
except DataError as error:
    originals = None
    st.warning(f"Original faces are read from the dataset, which is not available here: {plain(error)}")

try:
    free = loaders.reconstructions(sweep, sweep.lambdas[0])
    chosen = loaders.reconstructions(sweep, mid_lambda)
except GalleryError as error:
    st.error(plain(error))
    st.stop()

labels = [sweep.names.index(name) for name in identities]
columns = st.columns(len(labels)) if labels else []
for column, label in zip(columns, labels, strict=True):
    with column:
        st.markdown(f"**{plain(sweep.names[label])}**")
        if originals is not None:
            st.image(originals[label], caption="original (training photo)", width="stretch")
        st.image(free[label], caption=f"λ=0 · {verdict(sweep.run(sweep.lambdas[0]), label, sweep.names)}",
                 width="stretch")
        st.image(chosen[label], caption=f"λ={mid_lambda:g} · {verdict(sweep.run(mid_lambda), label, sweep.names)}",
                 width="stretch")
st.caption("Captions: the judge's verdict on the reconstruction (✓ names the right person) and its probability. "
           "Judges make mistakes both ways: look at the faces.")

left, right = st.columns(2)
with left:
    siblings = attack_siblings(sweep, sweeps)
    tradeoff, tradeoff_json, tradeoff_html, spread, spread_json = figures(sweep, sweep.key, siblings,
                                                                          tuple(s.key for s in siblings), mid_lambda)
    # The highlight ring (the figure's last trace) follows the slider in the browser at once.
    ring = {"slider": state.LAMBDA_SLIDER, "trace": len(tradeoff.data) - 1, "shown": state.lambda_text(mid_lambda),
            "points": {state.lambda_text(r["lambda"]): [r["attack_top1"]["value"], r["test_accuracy"]["value"]]
                       for r in sweep.results["summary"]}}
    live_plotly_chart(tradeoff, tradeoff_json, "tradeoff", state.lambda_from_chart, ring)
    html, png = st.columns(2)
    html.download_button("Plot as HTML", tradeoff_html,
                         file_name=f"tradeoff_{sweep.key}.html", mime="text/html",
                         help="For reports: opens in any browser, hover and zoom included.")
    if png_export_available():  # drawn on the server only when clicked: it takes a few seconds
        png.download_button("Plot as PNG", lambda: figure_png(tradeoff),
                            file_name=f"tradeoff_{sweep.key}_lambda{mid_lambda:g}.png", mime="image/png",
                            help="For slides: drawn on the server at twice the screen resolution.")
with right:
    if spread is None:
        st.info("This sweep's records predate the prediction-spread figures; run it again to add them.")
    else:
        live_plotly_chart(spread, spread_json, "spread")  # one plotly.js for the page, and no remount either
