"""A comparison or a regime study written out for slides: each plot as PNG and interactive HTML, the table as
CSV and Markdown, and the sentences (a comparison's frontiers, a study's findings). PNGs are drawn by Kaleido,
which drives a Chrome or Chromium on this machine."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from core.figures import ATTACK_NAMES, comparison_figure, figure_png, spread_figure
from core.files import write_atomic
from core.panel_claims import PANEL_CELL_LEGEND, judges_line, panel_cell
from core.result_types import ComparisonResults, PanelJudge, PanelPool, StudyResults
from core.results import ESTIMATE_LABELS, flat_estimates, format_estimate
from core.study_figures import (
    level_text,
    machine,
    panel_frontier_text,
    panel_verdict_line,
    regime_accuracy,
    status,
    study_command,
    study_figure,
)
from core.summaries import DEFENSE_NAMES


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV; a column any row has (output defenses face only one attack) is a column of all."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(name for row in rows for name in row)))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def table_rows(results: ComparisonResults, panel: bool = True) -> list[dict[str, Any]]:
    """One flat row per defense setting: test accuracy, epsilon, spread and each attack's top-1 / top-5,
    each value with its 95% interval bounds, and with `panel`, where the judge panel scored it, its columns
    (panel_columns); for CSV and the dashboard's table."""
    rows = []
    for row in results.summary:
        flat: dict[str, Any] = {"defense": DEFENSE_NAMES[row.defense], "setting": row.label, "seeds": row.seeds,
                                "epsilon": row.epsilon}
        figures = {"test accuracy": row.test_accuracy, "top-1 confidence": row.confidence, "entropy": row.entropy}
        for attack, scores in row.attacks.items():
            figures.update({f"{attack} top-1": scores.top1, f"{attack} top-5": scores.top5})
        for name, figure in figures.items():
            flat.update({name: figure.value, f"{name} low": figure.low, f"{name} high": figure.high})
        for attack, scores in row.attacks.items():
            flat.update(panel_columns(scores.panel, f"{attack} ") if panel else {})
        rows.append(flat)
    return rows


def markdown(results: ComparisonResults) -> str:
    """The comparison as Markdown: setting, epsilon, test accuracy and each attack's top-1 (95% intervals),
    then the frontier sentences and what was measured on what."""
    attacks, panel = results.attacks, bool(results.panel_judges)
    names = [name for a in attacks for name in (f"{ATTACK_NAMES[a]} top-1", *([f"{ATTACK_NAMES[a]} panel"] if panel
                                                                                else []))]
    lines = [f"# Defenses compared on {results.data.dataset} (comparison `{results.config_hash}`)", "",
             "| defense | setting | epsilon | test accuracy | " + " | ".join(names) + " |",
             "|" + "---|" * (4 + len(names))]
    for row in results.summary:
        cells = [cell for a in attacks for cell in (
            format_estimate(row.attacks[a].top1) if a in row.attacks else "-",
            *([panel_cell(row.attacks[a].panel if a in row.attacks else None)] if panel else []))]
        epsilon = f"{row.epsilon:.3g}" if row.epsilon is not None else "-"
        lines.append(f"| {DEFENSE_NAMES[row.defense]} | {row.label} | {epsilon} | "
                     f"{format_estimate(row.test_accuracy)} | " + " | ".join(cells) + " |")
    lines += ["", "## Frontiers", ""]
    lines += [f"- **{ATTACK_NAMES[a]}**: {results.frontiers[a].sentence} {results.frontiers[a].control} "
              f"{panel_frontier_text(results.frontiers[a])}".rstrip() for a in attacks]
    data, judge = results.data, results.evaluator.heldout_accuracy
    lines += ["", f"{data.identities} identities, {data.train_images} training and {data.test_images} test "
              f"images; attack accuracy judged by an independently trained classifier (held-out accuracy "
              f"{format_estimate(judge)}). Brackets: 95% intervals. Epsilon at delta = 1e-5 (Opacus, RDP accountant).",
              *(["", f"{PANEL_CELL_LEGEND}; {judges_line(results.panel_judges)}."] if panel else []),
              *[line for a in (attacks if panel else ()) for line in (
                  "", f"### Judge panel: {ATTACK_NAMES[a]}", "", *panel_markdown(
                      [(row.label, row.attacks[a].panel) for row in results.summary if a in row.attacks],
                      results.panel_judges))],
              "", *(f"![{ATTACK_NAMES[a]}](tradeoff_{a}.png)" for a in attacks), "",
              "![top-1 confidence](spread_confidence.png)", ""]
    return "\n".join(lines)


def study_rows(results: StudyResults) -> list[dict[str, Any]]:
    """One flat row per regime and setting: each figure's mean over seeds and its 95% interval, the regime's
    verdict and whether the setting is on MID's frontier."""
    labels = {"balanced_accuracy": "balanced accuracy", **ESTIMATE_LABELS}
    return [{results.factor: level_text(regime.level), "setting": row.label, "seeds": row.seeds,
             **flat_estimates(row, labels), **panel_columns(row.panel),
             "on MID's frontier": row.label in regime.frontier, "verdict": regime.verdict.verdict}
            for regime in results.regimes for row in regime.rows]


def panel_markdown(rows: list[tuple[str, PanelPool | None]], judges: list[PanelJudge]) -> list[str]:
    """The judge panel's figures per setting as a Markdown table: each judge's top-1 (mean over seeds), the
    median and range, how many people every judge names, and the judges the sink rule flags."""
    names = [judge.name for judge in judges]
    lines = ["| setting | " + " | ".join(f"{name} top-1" for name in names)
             + " | median | range | named by every judge | sink rule flags |", "|" + "---|" * (len(names) + 5)]
    lines += [f"| {label} | " + " | ".join(f"{pool.top1[name]:.2f}" for name in names)
              + f" | {pool.median:.2f} | {pool.range[0]:.2f} to {pool.range[1]:.2f} | "
              f"{pool.identified_by_all:.3g} of {pool.n} | {', '.join(pool.flagged) or '-'} |"
              for label, pool in rows if pool is not None]
    return lines


def panel_columns(pool: PanelPool | None, prefix: str = "") -> dict[str, Any]:
    """The judge panel's figures as flat columns: each judge's top-1, the median, the range and the judges the
    sink rule flags (none without a panel)."""
    if pool is None:
        return {}
    return {**{f"{prefix}{name} top-1": value for name, value in pool.top1.items()},
            f"{prefix}panel median": pool.median, f"{prefix}panel lowest": pool.range[0],
            f"{prefix}panel highest": pool.range[1], f"{prefix}named by every judge": pool.identified_by_all,
            f"{prefix}panel unreliable judges": ", ".join(pool.flagged)}


def study_markdown(results: StudyResults) -> str:
    """The study as Markdown: per regime its status and finding, its table and plot; the rule, the command that
    reruns it and where it ran."""
    factor = results.factor
    command, exact = study_command(results)
    lines = [f"# Does MID lower attack accuracy at equal test accuracy? Study of {factor} (`{results.config_hash}`)",
             "", f"MID lambdas {', '.join(f'{v:g}' for v in results.lambdas)}; {len(results.seeds)} training "
             f"seeds per point; ran on {machine(results)}.", "", f"Rule: {results.rule}", "",
             f"Rerun{'' if exact else ' (the nearest study: these settings have no command-line option)'}: "
             f"`{command}`", ""]
    for regime in results.regimes:
        level = level_text(regime.level)
        panel = bool(regime.panel_judges)
        columns = ["setting", "seeds", "test accuracy", "attack top-1", "attack top-5",
                   *(["panel top-1"] if panel else []), "frontier"]
        lines += [f"## {factor} = {level}: {status(regime)}", "", regime.finding, "",
                  "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += [f"| {row.label} | {row.seeds} | {format_estimate(row.test_accuracy)} | "
                  f"{format_estimate(row.attack_top1)} | {format_estimate(row.attack_top5)} | "
                  + (f"{panel_cell(row.panel)} | " if panel else "")
                  + f"{'*' if row.label in regime.frontier else ''} |" for row in regime.rows]
        if panel:
            lines += ["", f"{PANEL_CELL_LEGEND}; {judges_line(regime.panel_judges)}.", "",
                      *panel_markdown([(row.label, row.panel) for row in regime.rows], regime.panel_judges), "",
                      panel_verdict_line(regime)]
        lines += ["", f"![{factor} = {level}](regime_{level}.png)", ""]
    lines += ["Brackets: 95% t-intervals of the mean over training seeds. Attack accuracy is judged by an "
              "independently trained classifier; look at the faces on the dashboard's Findings page too.", ""]
    return "\n".join(lines)


def write_report(results: ComparisonResults | StudyResults, out_dir: Path, png: bool = True) -> list[Path]:
    """Write the report of a comparison or a study (as core.results.read_typed reads it) into out_dir (created),
    each file atomically; returns their paths. With png, a missing browser raises ReportError after the HTML, CSV
    and Markdown are written."""
    out_dir = Path(out_dir)
    if isinstance(results, StudyResults):
        figures = {f"regime_{level_text(r.level)}": study_figure(r, results.factor, regime_accuracy(results, r.level))
                   for r in results.regimes}
        tables = {"study.csv": csv_text(study_rows(results)), "study.md": study_markdown(results)}
    else:
        figures = {f"tradeoff_{a}": comparison_figure(results, a) for a in results.attacks}
        figures |= {f"spread_{m}": spread_figure(results, m) for m in ("confidence", "entropy")}
        tables = {"comparison.csv": csv_text(table_rows(results)), "comparison.md": markdown(results)}
    written = []

    def put(name: str, content: bytes) -> None:
        write_atomic(out_dir / name, content)
        written.append(out_dir / name)

    for name, text in tables.items():
        put(name, text.encode())
    put("plotly.min.js", get_plotlyjs().encode())  # once, beside the pages: they open offline
    for name, figure in figures.items():
        put(f"{name}.html", figure.to_html(include_plotlyjs="directory", full_html=True).encode())
    if png:
        for name, figure in figures.items():
            put(f"{name}.png", figure_png(figure))
    return written
