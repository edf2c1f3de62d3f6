"""Plotly figures shared by the pages: the privacy-utility tradeoff and the prediction spread."""

from dataclasses import dataclass

import plotly.graph_objects as go

from core.figures import error_bars
from core.gallery import Sweep
from core.result_types import Estimate, SweepRow, SweepRun
from core.results import accuracy_axis
from core.sweep_config import SweepConfig


@dataclass(frozen=True)
class Point:
    """One point of a sweep's tradeoff plot: a summary row (core.result_types.SweepRow), or a single run shown
    as one (run_as_point)."""

    lambda_: float
    test_accuracy: Estimate
    attack_top1: Estimate
    queried_accuracy: Estimate | None = None


def _points(rows: list[SweepRow | Point], name: str, colour: str, hint: str,
            queried: str | None = None) -> go.Scatter:
    """`queried`: the mode the attacker queried when it is not the deployed one; each point's hover then also
    gives that function's test accuracy (a summary row's queried_accuracy)."""
    ordered = sorted(rows, key=lambda r: r.lambda_)
    queried = queried if all(r.queried_accuracy is not None for r in ordered) else None
    also = f"<br>test accuracy as queried ({queried}) %{{hovertext}}" if queried else ""
    return go.Scatter(
        x=[r.attack_top1.value for r in ordered], y=[r.test_accuracy.value for r in ordered],
        mode="lines+markers+text", customdata=[r.lambda_ for r in ordered], name=name,
        # customdata stays the lambda alone: a click on a point selects it (dashboard.state)
        hovertext=[f"{r.queried_accuracy.value:.2f}" for r in ordered] if queried else None,
        # Label only the ends (the chosen point's label is the ring's): the small lambdas sit on top of each
        # other. Labels that stay put also let the live chart redraw in place (Plotly.react drops a label that
        # moves from one point of a trace to another).
        text=[f"λ={r.lambda_:g}" if i in (0, len(ordered) - 1) else "" for i, r in enumerate(ordered)],
        textposition="middle left", marker={"size": 11, "color": colour}, line={"color": colour},
        hovertemplate=f"lambda = %{{customdata:g}}<br>attack top-1 %{{x:.2f}}<br>test accuracy %{{y:.2f}}"
                      f"{also}<extra>{hint}</extra>",
        error_x=error_bars([r.attack_top1 for r in ordered]), error_y=error_bars([r.test_accuracy for r in ordered]),
    )


def run_as_point(run: SweepRun) -> Point:
    """A single finished run as a point, to plot beside a sweep's rows."""
    return Point(run.lambda_, run.test.accuracy, run.attack.top1)


OTHER_COLOURS = ("#2ca02c", "#9467bd", "#8c564b")


TRAINED_HERE = "trained here"
OTHER_JUDGE = "scored by another judge"


def sweep_tradeoff(sweep: Sweep, chosen: float | None = None, name: str = "stored",
                   others: list[tuple[str, list[SweepRow]]] | None = None,
                   pending: list[SweepRun] | None = None) -> go.Figure:
    """A sweep's tradeoff plot, as Explore and the Train page both draw it: one curve through every point its
    judge scored (a joined sweep's shipped and trained-here points alike), the points trained here marked in a
    second colour, the points another judge scored apart; `pending` runs (a job still going) marked too."""
    rows = [r for r in sweep.typed.summary if not r.other_judge]
    added = [r for r in rows if r.origin == TRAINED_HERE and sweep.origin != TRAINED_HERE]
    foreign = [r for r in sweep.typed.summary if r.other_judge]
    return tradeoff_figure(rows, chosen, added + [run_as_point(r) for r in pending or []], name, others, foreign,
                           sweep.typed.settings)


def _queried(config: SweepConfig | None) -> str | None:
    """The mode a sweep's attacker queried, when it is not the deployed one."""
    if config is None or config.attack.view == config.target.model.predict_mode:
        return None
    return config.attack.view


def tradeoff_figure(rows: list[SweepRow], chosen: float | None = None, added: list[SweepRow | Point] | None = None,
                    name: str = "stored", others: list[tuple[str, list[SweepRow]]] | None = None,
                    foreign: list[SweepRow] | None = None, config: SweepConfig | None = None) -> go.Figure:
    """Test accuracy against attack accuracy, one point per lambda with 95% interval bars; the chosen lambda
    ringed; `added` rows (models trained here) in a second colour; `others`, (name, rows) of the same models
    under other attacks, as thinner curves; `foreign` rows (scored by another judge) as hollow points apart.
    `config`, the sweep's config, names the accuracy on the axis (core.results.accuracy_axis)."""
    figure = go.Figure()
    figure.add_trace(_points(rows, name, "#1f77b4", "click to select", _queried(config)))
    if added:
        figure.add_trace(_points(added, TRAINED_HERE, "#ff7f0e", TRAINED_HERE).update(mode="markers+text"))
    if foreign:
        figure.add_trace(_points(foreign, OTHER_JUDGE, "#d62728", OTHER_JUDGE).update(
            mode="markers+text", marker={"symbol": "circle-open", "size": 13, "line": {"width": 2}}))
    for (other_name, other_rows), colour in zip(others or [], OTHER_COLOURS, strict=False):
        trace = _points(other_rows, other_name, colour, other_name)
        trace.update(marker={"size": 7, "symbol": "diamond"}, line={"dash": "dot"}, opacity=0.8, text=None)
        figure.add_trace(trace)
    if chosen is not None:
        pick = next(r for r in [*rows, *(foreign or [])] if r.lambda_ == chosen)
        figure.add_trace(go.Scatter(
            x=[pick.attack_top1.value], y=[pick.test_accuracy.value], mode="markers+text",
            text=[f"λ={chosen:g}"], textposition="top right", textfont={"color": "red", "size": 13},
            hoverinfo="skip", showlegend=False, name="chosen",
            marker={"size": 22, "color": "rgba(0,0,0,0)", "line": {"width": 3, "color": "red"}}))
    # The accuracy's name on a second line: on one it outgrows a short plot (the Story's, on a projector).
    which = accuracy_axis(config).removeprefix("test accuracy").strip() if config else ""
    figure.update_layout(
        xaxis={"title": "attack accuracy (top-1, judged) → less private", "range": [-0.02, 1.02]},
        yaxis={"title": "test accuracy → more useful" + (f"<br>{which}" if which else ""), "range": [-0.02, 1.05]},
        margin={"l": 10, "r": 10, "t": 30, "b": 10}, height=420, showlegend=bool(added or others or foreign),
        legend={"orientation": "h", "yanchor": "top", "y": -0.28},  # below the x-axis title
        title={"text": "Tradeoff per lambda (bars: 95% intervals)", "font": {"size": 13},
               "x": 0, "xref": "paper"},  # above the plot, clear of the y-axis title
    )
    return figure


def spread_figure(sweep: Sweep, chosen: float) -> go.Figure | None:
    runs = [sweep.run(sweep.lambdas[0]), sweep.run(chosen)]
    if any(not run.test.rank_mass for run in runs):
        return None
    figure = go.Figure()
    for run, colour in zip(runs, ("#1f77b4", "#d62728"), strict=True):
        mass = run.test.rank_mass
        figure.add_trace(go.Bar(x=list(range(1, len(mass) + 1)), y=mass, name=f"lambda = {run.lambda_:g}",
                                marker_color=colour))
    figure.update_layout(
        barmode="group", height=420, margin={"l": 10, "r": 10, "t": 30, "b": 10},
        xaxis={"title": "label rank (1 = the model's top answer)", "range": [0.5, min(10, len(mass)) + 0.5]},
        yaxis={"title": "mean predicted probability", "range": [0, 1]},
        title={"text": "Prediction spread on test images (the paper's figure)", "font": {"size": 14}},
        legend={"orientation": "h", "y": 1.0, "x": 0.5},
    )
    return figure
