"""A comparison written out for slides: each plot as PNG and interactive HTML, the table as CSV and Markdown,
and the frontier sentences. PNGs are drawn by Kaleido, which drives a Chrome or Chromium on this machine."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from plotly.offline import get_plotlyjs

from core.compare import DEFENSE_NAMES, table_rows
from core.figures import ATTACK_NAMES, comparison_figure, figure_png, spread_figure
from core.files import write_atomic
from core.results import format_figure


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV; a column any row has (output defenses face only one attack) is a column of all."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(dict.fromkeys(name for row in rows for name in row)))
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def markdown(results: dict[str, Any]) -> str:
    """The comparison as Markdown: setting, epsilon, test accuracy and each attack's top-1 (95% intervals),
    then the frontier sentences and what was measured on what."""
    attacks = results["attacks"]
    lines = [f"# Defenses compared on {results['data']['dataset']} (comparison `{results['config_hash']}`)", "",
             "| defense | setting | epsilon | test accuracy | " + " | ".join(f"{ATTACK_NAMES[a]} top-1"
                                                                         for a in attacks) + " |",
             "|" + "---|" * (4 + len(attacks))]
    for row in results["summary"]:
        cells = [format_figure(row["attacks"][a]["top1"]) if a in row["attacks"] else "-" for a in attacks]
        epsilon = f"{row['epsilon']:.3g}" if row["epsilon"] is not None else "-"
        lines.append(f"| {DEFENSE_NAMES[row['defense']]} | {row['label']} | {epsilon} | "
                     f"{format_figure(row['test_accuracy'])} | " + " | ".join(cells) + " |")
    lines += ["", "## Frontiers", ""]
    lines += [f"- **{ATTACK_NAMES[a]}**: {results['frontiers'][a]['sentence']} "
              f"{results['frontiers'][a].get('control', '')}".rstrip() for a in attacks]
    data, judge = results["data"], results["evaluator"]["heldout_accuracy"]
    lines += ["", f"{data['identities']} identities, {data['train_images']} training and {data['test_images']} test "
              f"images; attack accuracy judged by an independently trained classifier (held-out accuracy "
              f"{format_figure(judge)}). Brackets: 95% intervals. Epsilon at delta = 1e-5 (Opacus, RDP accountant).",
              "", *(f"![{ATTACK_NAMES[a]}](tradeoff_{a}.png)" for a in attacks), "",
              "![top-1 confidence](spread_confidence.png)", ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any], out_dir: Path, png: bool = True) -> list[Path]:
    """Write the report's files into out_dir (created), each atomically; returns their paths. With png, a
    missing browser raises ReportError after the HTML, CSV and Markdown are written."""
    out_dir = Path(out_dir)
    figures = {f"tradeoff_{a}": comparison_figure(results, a) for a in results["attacks"]}
    figures |= {f"spread_{m}": spread_figure(results, m) for m in ("confidence", "entropy")}
    written = []

    def put(name: str, content: bytes) -> None:
        write_atomic(out_dir / name, content)
        written.append(out_dir / name)

    put("comparison.csv", csv_text(table_rows(results)).encode())
    put("comparison.md", markdown(results).encode())
    put("plotly.min.js", get_plotlyjs().encode())  # once, beside the pages: they open offline
    for name, figure in figures.items():
        put(f"{name}.html", figure.to_html(include_plotlyjs="directory", full_html=True).encode())
    if png:
        for name, figure in figures.items():
            put(f"{name}.png", figure_png(figure))
    return written
