"""Reading results files (sweeps and comparisons): light (no torch), so the dashboard's first screen stays fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from core.files import read_json, read_regular, write_atomic

FIGURE_LABELS = {
    "test_accuracy": "test accuracy",
    "attack_top1": "attack top-1",
    "attack_top5": "attack top-5",
    "feature_distance": "feature distance",
    "confidence": "top-1 confidence",
    "entropy": "entropy (nats)",
}


# Comparisons and studies that ship with MID Lab (`python -m core compare --ship`, `python -m core study --ship`),
# each with its reconstruction grids in a folder named by its config hash.
COMPARISONS_DIR = Path(__file__).resolve().parent.parent / "assets" / "comparisons"
STUDIES_DIR = Path(__file__).resolve().parent.parent / "assets" / "studies"


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


def ship_grid(grid_path: str, folder: Path, results_key: str, attack_key: str) -> str:
    """Copy a reconstruction grid beside a shipped results file; its path relative to `folder`."""
    relative = f"{results_key}/{attack_key}.png"
    write_atomic(Path(folder) / relative, read_regular(Path(grid_path)))
    return relative


def prune_grids(folder: Path, results_key: str, kept: set[str]) -> None:
    """Delete the grids beside a shipped results file that it no longer names: an attack run again under a new
    key (a changed default) would otherwise leave its old grid in assets for good."""
    for path in (Path(folder) / results_key).glob("*.png"):
        if f"{results_key}/{path.name}" not in kept:
            path.unlink()


def load_results(path: Path, kind: str = "sweep") -> dict[str, Any] | None:
    """A results file of a kind, or None when missing, unreadable or of another kind (a warning says which)."""
    results = read_json(Path(path))
    return results if isinstance(results, dict) and results.get("kind") == kind else None


def summary_table(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per lambda: each figure's value and 95% interval bounds, for tables and CSV."""
    rows = []
    for row in results["summary"]:
        rows.append({"lambda": row["lambda"], "seeds": row["seeds"], **flat_figures(row)})
    return rows


def flat_figures(row: dict[str, Any], labels: dict[str, str] = FIGURE_LABELS) -> dict[str, Any]:
    """A row's figures as flat columns (its label, then 'low' and 'high' bounds), for tables and CSV; a figure
    the row lacks is left out."""
    flat: dict[str, Any] = {}
    for name, label in labels.items():
        if name in row:
            flat |= {label: row[name]["value"], f"{label} low": row[name].get("low"),
                     f"{label} high": row[name].get("high")}
    return flat
