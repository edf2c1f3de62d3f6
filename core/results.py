"""Reading results files (sweeps and comparisons): light (no torch), so the dashboard's first screen stays fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.files import read_json

FIGURE_LABELS = {
    "test_accuracy": "test accuracy",
    "attack_top1": "attack top-1",
    "attack_top5": "attack top-5",
    "feature_distance": "feature distance",
    "confidence": "top-1 confidence",
    "entropy": "entropy (nats)",
}


# Comparisons that ship with MID Lab (`python -m core compare --ship`), with their reconstruction grids.
COMPARISONS_DIR = Path(__file__).resolve().parent.parent / "assets" / "comparisons"


class ReportError(RuntimeError):
    """A part of a report could not be written; the message says which and how to fix it."""


def format_figure(figure: dict[str, Any], digits: int = 2, sep: str = ", ") -> str:
    """A figure as `value [low<sep>high]`, or the value alone when it has no interval (one seed, NaN)."""
    value, low, high = figure["value"], figure.get("low"), figure.get("high")
    if low is None or high is None or math.isnan(low):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}{sep}{high:.{digits}f}]"


def text_table(header: list[str], lines: list[list[str]], right: bool = False) -> list[str]:
    """A plain-text table: the header, a rule, then the lines, columns padded to their widest cell."""
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    pad = str.rjust if right else str.ljust
    render = [" | ".join(pad(v, w) for v, w in zip(line, widths, strict=True)) for line in [header, *lines]]
    render.insert(1, "-+-".join("-" * w for w in widths))
    return render


def results_path(out_dir: Path, sweep_hash: str) -> Path:
    return Path(out_dir) / f"sweep_{sweep_hash}.json"


def list_results(out_dir: Path, kind: str = "sweep") -> list[Path]:
    """Results files of a kind ('sweep' or 'comparison') in a folder, newest first."""
    folder = Path(out_dir)
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"{kind}_*.json"), key=lambda p: p.stat().st_mtime, reverse=True)


def load_results(path: Path, kind: str = "sweep") -> dict[str, Any] | None:
    """A results file of a kind, or None when missing, unreadable or of another kind (a warning says which)."""
    results = read_json(Path(path))
    return results if isinstance(results, dict) and results.get("kind") == kind else None


def summary_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per lambda: each figure's value and 95% interval bounds, for tables and CSV."""
    rows = []
    for row in results["summary"]:
        flat: dict[str, Any] = {"lambda": row["lambda"], "seeds": row["seeds"]}
        for name, label in FIGURE_LABELS.items():
            figure = row[name]
            flat[label] = figure["value"]
            flat[f"{label} low"] = figure.get("low")
            flat[f"{label} high"] = figure.get("high")
        rows.append(flat)
    return rows
