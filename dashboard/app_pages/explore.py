"""Explore: move lambda and see what the attacker recovers, next to the real faces and the tradeoff curve."""

import plotly.graph_objects as go
import streamlit as st

from core.config import data_root
from core.data import DataError
from core.gallery import GalleryError, Sweep, metric_delta
from dashboard import loaders, state

DEFAULT_IDENTITIES = 8


def interval(figure: dict, digits: int = 2) -> str:
    low, high = figure.get("low"), figure.get("high")
    if low is None or high is None:
        return "no interval (a single value)"
    return f"95% interval [{low:.{digits}f}, {high:.{digits}f}]"


def verdict(run: dict, label: int, names: list[str]) -> str:
    judged = run["attack"]["per_identity"][label]
    mark = "✓" if judged["top1"] else "✗"
    return f"{mark} judge: {names[judged['predicted']]} · p={judged['evaluator_confidence']:.2f}"


def tradeoff_figure(sweep: Sweep, chosen: float) -> go.Figure:
    rows = sweep.results["summary"]
    x = [r["attack_top1"]["value"] for r in rows]
    y = [r["test_accuracy"]["value"] for r in rows]

    def bars(name: str, values: list[float]) -> dict:
        return {"type": "data", "symmetric": False,
                "array": [max(0.0, (r[name].get("high") or v) - v) for r, v in zip(rows, values, strict=True)],
                "arrayminus": [max(0.0, v - (r[name].get("low") or v)) for r, v in zip(rows, values, strict=True)]}

    hover = ("lambda = %{customdata:g}<br>attack top-1 %{x:.2f}<br>test accuracy %{y:.2f}"
             "<extra>click to select</extra>")
    figure = go.Figure()
    figure.add_trace(go.Scatter(
        x=x, y=y, mode="lines+markers+text", customdata=[r["lambda"] for r in rows],
        # Label only the ends and the chosen point: the small lambdas sit on top of each other.
        text=[f"λ={r['lambda']:g}" if i in (0, len(rows) - 1) or r["lambda"] == chosen else ""
              for i, r in enumerate(rows)],
        textposition="middle left", hovertemplate=hover,
        error_x=bars("attack_top1", x), error_y=bars("test_accuracy", y), marker={"size": 11}, name="MID",
    ))
    pick = next(i for i, r in enumerate(rows) if r["lambda"] == chosen)
    figure.add_trace(go.Scatter(x=[x[pick]], y=[y[pick]], mode="markers", hoverinfo="skip", showlegend=False,
                                marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": "red"}}))
    figure.update_layout(
        xaxis={"title": "attack accuracy (top-1, judged) → less private", "range": [-0.02, 1.02]},
        yaxis={"title": "test accuracy → more useful", "range": [-0.02, 1.05]},
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=420, showlegend=False,
        title={"text": "Privacy-utility tradeoff, one point per lambda (bars: 95% intervals)", "font": {"size": 14}},
    )
    return figure


def spread_figure(sweep: Sweep, chosen: float) -> go.Figure | None:
    runs = [sweep.run(sweep.lambdas[0]), sweep.run(chosen)]
    if any("rank_mass" not in run["test"] for run in runs):
        return None
    figure = go.Figure()
    for run, colour in zip(runs, ("#1f77b4", "#d62728"), strict=True):
        mass = run["test"]["rank_mass"]
        figure.add_trace(go.Bar(x=list(range(1, len(mass) + 1)), y=mass, name=f"lambda = {run['lambda']:g}",
                                marker_color=colour))
    figure.update_layout(
        barmode="group", height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "label rank (1 = the model's top answer)", "range": [0.5, min(10, len(mass)) + 0.5]},
        yaxis={"title": "mean predicted probability", "range": [0, 1]},
        title={"text": "Prediction spread on test images (the paper's figure)", "font": {"size": 14}},
        legend={"orientation": "h", "y": 1.0, "x": 0.5},
    )
    return figure


sweeps = loaders.sweeps()
st.title("Explore: what can an attacker recover?")
if not sweeps:
    st.error("No results to show: the shipped zoo `assets/zoo` is missing and no sweep has been run. "
             "Rebuild the zoo with `python -m core zoo`, or run `python -m core sweep`.")
    st.stop()

sweep = state.pick_sweep(sweeps)
st.caption(
    "A model inversion attack (here MI-Face) asks the trained classifier, over and over, what makes it say "
    "*this person*, and paints the answer. MID squeezes the information the model keeps about its input; its "
    "weight **lambda** trades accuracy for privacy. Move lambda and compare."
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
    st.warning(f"Original faces are read from the dataset, which is not available here: {error}")

try:
    free = loaders.reconstructions(sweep, sweep.lambdas[0])
    chosen = loaders.reconstructions(sweep, mid_lambda)
except GalleryError as error:
    st.error(str(error))
    st.stop()

labels = [sweep.names.index(name) for name in identities]
columns = st.columns(len(labels)) if labels else []
for column, label in zip(columns, labels, strict=True):
    with column:
        st.markdown(f"**{sweep.names[label]}**")
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
    st.plotly_chart(tradeoff_figure(sweep, mid_lambda), key="tradeoff", on_select=state.lambda_from_chart,
                    selection_mode="points", width="stretch")
with right:
    spread = spread_figure(sweep, mid_lambda)
    if spread is None:
        st.info("This sweep's records predate the prediction-spread figures; run it again to add them.")
    else:
        st.plotly_chart(spread, width="stretch")
