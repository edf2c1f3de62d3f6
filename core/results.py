"""Reading results files (sweeps and comparisons): light (no torch), so the dashboard's first screen stays fast."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from core.config import dict_hash, hash_view, sweep_from_dict
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
        # A joined sweep (join_results) says where each point comes from and which are another judge's.
        joined = {"origin": row["origin"], "other judge": row["other_judge"]} if "origin" in row else {}
        rows.append({"lambda": row["lambda"], "seeds": row["seeds"], **joined, **flat_figures(row)})
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


# What a sweep sweeps (its lambdas and seeds) and who scores it (its judge): the rest, its template, names the
# models and the attack, so results files of one template are points of one curve.
NOT_TEMPLATE = ("lambdas", "seeds", "evaluator")


def template_hash(config: dict[str, Any]) -> str:
    """The hash of a sweep's template, from its config as a results file stores it: rebuilt and viewed as the
    sweep's own hash views it (core.config.hash_view), so files written in either stored form agree."""
    view = hash_view(sweep_from_dict(config))
    return dict_hash("SweepTemplate", {k: v for k, v in view.items() if k not in NOT_TEMPLATE})


def join_results(members: list[tuple[dict[str, Any], str]],
                 others: list[tuple[dict[str, Any], str]] = ()) -> dict[str, Any]:
    """Sweep results of one template and one judge (`members`, each with its origin, the one to prefer first)
    joined into one sweep: every (lambda, seed) run once, from the first member that has it, each run and summary
    row tagged with its origin. Runs of `others` (the same template scored by another judge) at lambdas no file
    before them has join too, their rows marked 'other_judge' with that judge's record: shown, never one curve
    with the rest. The first member's config, hash and judge name the joined sweep; 'members' lists every file
    joined."""
    judge = members[0][0]["evaluator"]
    judges, rows_of, runs = {}, {}, []
    for results, origin in [*members, *others]:
        key, foreign = results["config_hash"], results["evaluator"] != judge
        taken = {(r["lambda"], r["seed"]) for r in runs} | ({(r["lambda"], None) for r in runs} if foreign else set())
        runs += [{**run, "origin": origin, "results_key": key, "other_judge": foreign} for run in results["runs"]
                 if (run["lambda"], run["seed"]) not in taken and (run["lambda"], None) not in taken]
        judges[key] = results["evaluator"]
        rows_of |= {(key, row["lambda"]): row for row in results["summary"]}
    summary = []
    for mid_lambda in sorted({r["lambda"] for r in runs}):
        group = [r for r in runs if r["lambda"] == mid_lambda]
        sources = {r["results_key"] for r in group}
        stored = rows_of.get((group[0]["results_key"], mid_lambda)) if len(sources) == 1 else None
        row = stored if stored is not None and stored["seeds"] == len(group) else _summarise(group, mid_lambda)
        trained_here = any(r["origin"] == "trained here" for r in group)
        summary.append({**row, "origin": "trained here" if trained_here else group[0]["origin"],
                        "other_judge": group[0]["other_judge"],
                        **({"evaluator": judges[group[0]["results_key"]]} if group[0]["other_judge"] else {})})
    zoo = next((results["zoo"] for results, _ in [*members, *others] if "zoo" in results), None)
    return {**members[0][0], "runs": runs, "summary": summary, "members": list(dict.fromkeys(judges)),
            **({"zoo": zoo} if zoo else {})}


def _summarise(group: list[dict[str, Any]], mid_lambda: float) -> dict[str, Any]:
    # Seeds of one lambda from several files, summarised as a sweep summarises its own (core.sweep imports
    # torch, so only when needed: the dashboard's first screen stays light).
    from core.sweep import summarise

    return summarise(group, (mid_lambda,))[0]


# The sink rule (here, without torch, as the dashboard shows it): each reconstruction aims at a different person,
# so a judge that names them fairly spreads its answers over the classes. A judge is flagged on a result when its
# most chosen class holds a share of the reconstructions that a judge naming one of the C classes uniformly at
# random would reach with probability below SINK_ALPHA (a one-sided binomial test of that count against 1/C,
# Bonferroni-corrected for the C classes that could have been the most chosen), and that share is at least
# SINK_MIN_SHARE. Its top-1 on that result is then unreliable: it says more about the judge than about the images.
SINK_ALPHA = 0.01
SINK_MIN_SHARE = 0.1


def sink_check(predicted: list[int], num_classes: int) -> dict[str, object]:
    """The judge's most chosen class on one result, its count and share, and whether the sink rule flags it."""
    counts = Counter(int(label) for label in predicted)
    n = sum(counts.values())
    if not n:
        return {"class": None, "count": 0, "n": 0, "share": math.nan, "uniform": 1 / num_classes, "p_value": 1.0,
                "flagged": False}
    top, count = min(counts.items(), key=lambda item: (-item[1], item[0]))  # the most chosen; ties: lowest label
    p = 1 / num_classes
    # P(X >= count) for X ~ Binomial(n, p), term by term in logs (no overflow for any n).
    tail = sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * math.log(p)
                        + (n - i) * math.log1p(-p)) for i in range(count, n + 1))
    p_value = min(1.0, num_classes * tail)
    return {"class": top, "count": count, "n": n, "share": count / n, "uniform": p, "p_value": p_value,
            "flagged": p_value < SINK_ALPHA and count / n >= SINK_MIN_SHARE}


def attack_sink(scores: dict[str, object], num_classes: int) -> dict[str, object]:
    """The sink check of an attack's scores: recorded with it, or (results from before it) computed from the
    judge's per-identity answers."""
    if "sink" in scores:
        return scores["sink"]  # type: ignore[return-value]
    return sink_check([entry["predicted"] for entry in scores["per_identity"]], num_classes)  # type: ignore[union-attr]
