"""Explore's metric cards and the sentence under them, for every lambda of a sweep at once: the browser swaps
them with the faces the moment the slider moves (dashboard/live_chart.py's live_faces), and the server's rerun
shows the same. Every number and word is made here, on the server, from the stored results."""

from typing import Any

import streamlit as st

from core.gallery import Sweep, metric_delta
from core.panel_claims import judges_text, panel_effect, panel_row
from core.result_types import Estimate, SweepResults
from core.stats import within_noise
from core.story import interval_text, lambda_changes, lambda_sentence
from dashboard.state import lambda_text

# (summary field, label, which direction is good, digits, help): "normal" when higher is good (green up),
# "inverse" when lower is good, as st.metric's delta_color reads them.
CARDS = [
    ("test_accuracy", "Test accuracy", "normal", 2, "How often the deployed model names the right person."),
    ("attack_top1", "Attack top-1", "inverse", 2,
     "Share of people whose reconstruction the independent judge names correctly. Lower is more private."),
    ("attack_top5", "Attack top-5", "inverse", 2, "Share of people named among the judge's five best guesses."),
    ("feature_distance", "Feature distance", "normal", 1,
     "How far, in the judge's eyes, a reconstruction lies from the nearest real photo of that person "
     "(a real held-out photo: {real:.1f}). Higher is more private."),
]


def interval(figure: Estimate, digits: int = 2) -> str:
    low, high = figure.low, figure.high
    if low is None or high is None:
        return "no interval (a single value)"
    return f"95% interval [{low:.{digits}f}, {high:.{digits}f}]"


def delta_colour(delta: str, better: str, noise: bool) -> str:
    """A card's delta colour: gray for a change inside its 95% interval (no alarm) or one that is not compared;
    else green when it goes the good way, red when it goes the other."""
    if noise:
        return "gray"
    up = not delta.startswith("-")
    return "green" if up == (better == "normal") else "red"


def comparable(sweep: Sweep, mid_lambda: float) -> bool:
    """Whether a lambda's attack figures may be set against lambda = 0's: the same judge scored both."""
    return sweep.row(mid_lambda).other_judge == sweep.row(sweep.lambdas[0]).other_judge


# The panel's verdict on the change from lambda = 0 (core.panel_claims) as a card colour: gray unless every judge
# sees the change outside the noise, the same way.
PANEL_COLOURS = {"lowers": "green", "raises": "red", "noise": "gray", "split": "gray"}


def panel_card(results: SweepResults, mid_lambda: float) -> dict[str, Any] | None:
    """The judge panel's card at one lambda: the median top-1 of its judges, its change from lambda = 0 coloured
    by what every judge says, each judge's figure in the help; None when the sweep was not scored by the panel."""
    row, base = panel_row(results, mid_lambda), panel_row(results, results.summary[0].lambda_)
    if row is None or base is None:
        return None
    judges = judges_text(results, row, " (UNRELIABLE: the sink rule flags it)")
    effect = panel_effect(results, mid_lambda) if row is not base else None
    return {"label": "Judge panel top-1", "value": f"{row.median:.2f}",
            "delta": None if effect is None else f"{row.median - base.median:+.2f} vs λ=0",
            "colour": None if effect is None else PANEL_COLOURS[effect.verdict],
            "help": (f"The median top-1 of {len(row.top1)} judges of different families: {judges}; range "
                     f"[{row.range[0]:.2f}, {row.range[1]:.2f}]; every judge names {row.identified_by_all:g} of "
                     f"{row.n} people. A claim holds when it holds for every judge."
                     + ("" if effect is None else f" From λ=0, on the same people: {effect.text()}."))}


def lambda_panel(sweep: Sweep, mid_lambda: float) -> dict[str, Any]:
    """The cards (label, value, delta or None, colour, help) and the sentence (None where the attack's figures are
    not compared with lambda = 0's) that Explore shows at one lambda."""
    row, base = sweep.row(mid_lambda), sweep.row(sweep.lambdas[0])
    judge = row.evaluator or sweep.typed.evaluator
    same_judge = comparable(sweep, mid_lambda)
    changes = lambda_changes(sweep.typed, mid_lambda)
    cards = []
    for name, label, better, digits, help_text in CARDS:
        figure = getattr(row, name)
        delta = metric_delta(figure, getattr(base, name)) if same_judge or name == "test_accuracy" else None
        shown = delta is not None and mid_lambda != sweep.lambdas[0]
        change = f" Change from λ=0: {interval_text(changes[name], digits)} (95% interval)." if shown else ""
        delta_text = f"{delta:+.{digits}f} vs λ=0" if shown else None
        cards.append({
            "label": label, "value": f"{figure.value:.{digits}f}", "delta": delta_text,
            "colour": None if delta_text is None else delta_colour(
                delta_text, better, not same_judge or within_noise(changes[name])),
            "help": (f"{help_text.format(real=judge.real_image_distance.value)} "
                     f"{interval(figure, digits)}.{change}"),
        })
    panel = panel_card(sweep.typed, mid_lambda) if same_judge else None
    return {"cards": [*cards, *([panel] if panel else [])],
            "sentence": lambda_sentence(sweep.typed, mid_lambda) if same_judge else None}


@st.cache_data(max_entries=16, show_spinner=False)
def _panels(_sweep: Sweep, sweep_version: str) -> dict[str, dict[str, Any]]:
    return {lambda_text(value): lambda_panel(_sweep, value) for value in _sweep.lambdas}


def lambda_panels(sweep: Sweep) -> dict[str, dict[str, Any]]:
    """lambda_panel for every lambda of the sweep, keyed by the lambda as the slider shows it."""
    return _panels(sweep, sweep.version)
