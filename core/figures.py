"""Plotly figures of a defense comparison, shared by the dashboard and the report command (no Streamlit here):
the tradeoff per attack with every defense and its frontier, and the spread of the predictions."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import plotly.graph_objects as go

from core.errors import ReportError
from core.result_types import ComparisonResults, ComparisonRow, Estimate, StudyRow
from core.results import accuracy_axis

ATTACK_NAMES = {"miface": "MI-Face", "gmi": "GMI (GAN prior)", "inversion": "inversion network (black-box)"}
DEFENSE_STYLE = {  # name in the legend, colour, marker
    "none": ("no defense", "#111111", "star"),
    "dpmodel": ("DP-SGD's model, no DP (control)", "#ff7f0e", "triangle-up"),
    "mid": ("MID (lambda grid)", "#1f77b4", "circle"),
    "dpsgd": ("DP-SGD (noise grid)", "#d62728", "square"),
    "output": ("output defense (API)", "#2ca02c", "diamond"),
}


PNG_SCALE = 2  # pixels per layout unit: sharp on a projector
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def png_export_available() -> bool:
    """Whether Kaleido will find a browser to draw PNGs with ($BROWSER_PATH or one on the PATH)."""
    return bool(os.environ.get("BROWSER_PATH")) or any(shutil.which(name) for name in BROWSERS)


def figure_png(figure: go.Figure | dict) -> bytes:
    """A Plotly figure as PNG bytes, drawn on the server; ReportError when Kaleido or its browser is missing."""
    try:
        return go.Figure(figure).to_image(format="png", scale=PNG_SCALE)
    except Exception as error:  # Kaleido raises several kinds, all meaning "no working browser here"
        raise ReportError(f"could not draw a PNG ({type(error).__name__}: {error}); Kaleido needs Chrome or "
                          "Chromium: install one (Debian: apt install chromium) or set BROWSER_PATH") from error


def error_bars(estimates: list[Estimate]) -> dict:
    """Plotly error bars from estimates' 95% intervals (missing bounds: no bar)."""
    return {"type": "data", "symmetric": False,
            "array": [max(0.0, (e.high or e.value) - e.value) for e in estimates],
            "arrayminus": [max(0.0, e.value - (e.low or e.value)) for e in estimates]}


def _hover(row: ComparisonRow) -> str:
    if row.defense == "mid":
        return f"MID, lambda = {row.strength:g}"
    if row.defense == "dpsgd":
        return f"DP-SGD, noise multiplier {row.strength:g}, epsilon = {row.epsilon:.3g} at delta = 1e-5"
    return row.label


@dataclass(frozen=True)
class Plotted:
    """A model on a tradeoff plot: its label and the two estimates the plot sets against each other (a study's
    row is one as it stands; a comparison's row becomes one under each attack)."""

    label: str
    test_accuracy: Estimate
    attack_top1: Estimate


def add_defense(figure: go.Figure, rows: list[Plotted | StudyRow], defense: str, frontier_labels: set[str],
                hover: list[str], connect: bool) -> None:
    """One defense's rows as markers with 95% bars, its frontier rows drawn larger; when `connect`, the rows
    joined by a line and the frontier by a dashed staircase."""
    name, colour, symbol = DEFENSE_STYLE[defense]
    figure.add_trace(go.Scatter(
        x=[r.attack_top1.value for r in rows], y=[r.test_accuracy.value for r in rows],
        mode="lines+markers" if connect else "markers", name=name,
        marker={"size": [14 if r.label in frontier_labels else 9 for r in rows], "color": colour,
                "symbol": symbol, "line": {"width": 1, "color": "white"}},
        line={"color": colour, "width": 1}, customdata=hover,
        hovertemplate="%{customdata}<br>attack top-1 %{x:.2f}<br>test accuracy %{y:.2f}<extra></extra>",
        error_x=error_bars([r.attack_top1 for r in rows]), error_y=error_bars([r.test_accuracy for r in rows]),
    ))
    chosen = sorted((r for r in rows if r.label in frontier_labels), key=lambda r: -r.test_accuracy.value)
    if connect and chosen:
        # A staircase down from the most accurate model: the lowest attack accuracy available at each level
        # holds until the next frontier model's accuracy, where it steps left.
        xs, ys = [chosen[0].attack_top1.value], [chosen[0].test_accuracy.value]
        for r in chosen[1:]:
            xs += [xs[-1], r.attack_top1.value]
            ys += [r.test_accuracy.value] * 2
        figure.add_trace(go.Scatter(x=xs, y=ys, mode="lines", hoverinfo="skip", name=f"{name.split(' (')[0]} "
                                    "frontier", line={"color": colour, "dash": "dash", "width": 2}))


def accuracy_title(accuracy: str) -> str:
    """The up axis's title: 'test accuracy → more useful', and below it, smaller, which accuracy (its
    qualifier, core.results.accuracy_axis), so that a long qualifier is not cut off on a projector."""
    qualifier = accuracy.removeprefix("test accuracy").strip()
    return "test accuracy → more useful" + (f"<br><sup>{qualifier}</sup>" if qualifier else "")


def tradeoff_layout(figure: go.Figure, identities: int | None, title: str, height: int = 460,
                    accuracy: str = "test accuracy") -> go.Figure:
    """Axes of a tradeoff plot (attack accuracy across, the test accuracy `accuracy` names up: see
    core.results.accuracy_axis), the chance line and the title."""
    if identities:
        figure.add_vline(x=1 / identities, line={"color": "gray", "dash": "dot"}, annotation_text="chance",
                         annotation_position="bottom right")
    figure.update_layout(
        xaxis={"title": "attack accuracy (top-1, judged) → less private", "range": [-0.02, 1.02]},
        yaxis={"title": accuracy_title(accuracy), "range": [-0.02, 1.05]},
        margin={"l": 10, "r": 10, "t": 40, "b": 10}, height=height, legend={"orientation": "h", "y": -0.18},
        title={"text": title, "font": {"size": 14}},
    )
    return figure


def comparison_figure(results: ComparisonResults, attack: str) -> go.Figure:
    """Test accuracy against the attack's top-1 accuracy for every defense setting, with 95% interval bars;
    each defense's frontier (its best privacy at each utility) drawn as a dashed staircase."""
    summary = [r for r in results.summary if attack in r.attacks]
    frontier_labels = {label for labels in results.frontiers[attack].frontiers.values() for label in labels}
    figure = go.Figure()
    for defense in DEFENSE_STYLE:
        rows = [r for r in summary if r.defense == defense]
        if rows:
            add_defense(figure, [Plotted(r.label, r.test_accuracy, r.attacks[attack].top1) for r in rows], defense,
                        frontier_labels, [_hover(r) for r in rows], connect=defense in ("mid", "dpsgd"))
    return tradeoff_layout(figure, results.data.identities,
                           f"{ATTACK_NAMES.get(attack, attack)}: defenses compared (bars: 95% intervals; big "
                           "markers and dashes: frontier)", accuracy=accuracy_axis(results.settings.sweep))


def spread_figure(results: ComparisonResults, measure: str = "confidence") -> go.Figure:
    """Per defense setting, the distribution over test images of the top-1 confidence or the entropy
    (first seed), as box plots: MID spreads predictions, DP-SGD and output defenses differently."""
    seen: set[str] = set()
    figure = go.Figure()
    for point in results.points:
        if point.defense == "output" or point.label in seen:
            continue
        seen.add(point.label)
        name, colour, _ = DEFENSE_STYLE[point.defense]
        figure.add_trace(go.Box(y=point.spread[measure], name=point.label.replace(" (eps=", "<br>(eps="),
                                marker_color=colour, boxpoints=False, legendgroup=name, showlegend=False))
    title = "top-1 confidence" if measure == "confidence" else "entropy of the prediction (nats)"
    figure.update_layout(
        yaxis={"title": title}, height=420, margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": f"Prediction spread on test images: {title} per defense setting", "font": {"size": 14}},
    )
    return figure
