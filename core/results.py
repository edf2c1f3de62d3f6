"""Reading results files (sweeps, comparisons, studies), each checked against its schema (core.result_types):
light (no torch), so the dashboard's first screen stays fast."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from core.errors import SchemaError, validated
from core.files import json_content, log, read_regular, write_atomic
from core.result_types import RESULT_KINDS, AttackScores, Estimate, JoinedRow, Run, Sink, SweepResults, SweepRow
from core.stored_config import config_hash, dict_hash, hash_view, to_dict
from core.summaries import summarise
from core.sweep_config import SweepConfig

ESTIMATE_LABELS = {
    "test_accuracy": "test accuracy",
    "queried_accuracy": "test accuracy as queried",
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



def format_estimate(estimate: Estimate | dict[str, Any], digits: int = 2, sep: str = ", ") -> str:
    """An estimate as `value [low<sep>high]`, or the value alone when it has no interval (one seed, NaN)."""
    estimate = estimate if isinstance(estimate, Estimate) else Estimate.model_validate(estimate, strict=False)
    value, low, high = estimate.value, estimate.low, estimate.high
    if value is None:
        return "n/a"
    if low is None or high is None or math.isnan(low):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}{sep}{high:.{digits}f}]"


def accuracy_axis(config: SweepConfig) -> str:
    """Which test accuracy a tradeoff plot or table of a sweep (or a comparison's or study regime's sweep)
    shows: always the deployed MID model's, named by its mode; and, when the attacker queried another function
    (a white-box view such as mu), that it did, so the two are not confused."""
    deployed, view = config.target.model.predict_mode, config.attack.view
    if deployed == view:
        return f"test accuracy (deployed model, {deployed}: as attacked)"
    return f"test accuracy of the deployed model ({deployed}; the attacker queried {view})"


def attacker_label(view: str) -> str:
    """The attacker a view stands for, in a few words, for the captions of sweeps, comparisons and studies."""
    return {"sample": "the deployed answers (sample view)", "mean": "the mean of K sampled answers (mean view)",
            "mu": "white-box, MID's noise stripped (mu view)"}[view]


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


def shipped_figures(results: dict[str, Any], digits: int = 6) -> dict[str, Any]:
    """A results file as it ships: every float but the config's rounded to `digits` significant digits (pages and
    reports show two or three), so assets/ stays within its budget; the config, and so its hash, is untouched."""
    def rounded(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.{digits}g}") if math.isfinite(value) else value
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        return [rounded(item) for item in value] if isinstance(value, list) else value

    return {key: value if key == "config" else rounded(value) for key, value in results.items()}


def prune_grids(folder: Path, results_key: str, kept: set[str]) -> None:
    """Delete the grids beside a shipped results file that it no longer names: an attack run again under a new
    key (a changed default) would otherwise leave its old grid in assets for good."""
    for path in (Path(folder) / results_key).glob("*.png"):
        if f"{results_key}/{path.name}" not in kept:
            path.unlink()


def _parsed(path: Path, kind: str | tuple[str, ...]) -> tuple[dict[str, Any], Run]:
    """A results file's parsed content and its typed objects (see read_results)."""
    kinds = (kind,) if isinstance(kind, str) else kind
    try:
        results = json_content(Path(path))
    except FileNotFoundError:
        raise SchemaError(f"{path} is missing") from None
    if not isinstance(results, dict) or results.get("kind") not in kinds:
        raise SchemaError(f"{path} is not a {' or '.join(kinds)} results file")
    typed = validated(RESULT_KINDS[results["kind"]], results, str(path))
    if results["kind"] != "sweep":
        return results, typed
    results = checked_config(results, typed, str(path))
    return results, typed.model_copy(update={"config": results["config"]})


def checked_config(results: dict[str, Any], typed: SweepResults, source: str) -> dict[str, Any]:
    """A sweep's results (`typed`: checked against their schema, their config rebuilt) with their config checked
    to hash to the sweep's config_hash (a damaged config is not read as another sweep's) and every key filled in
    (one an older version did not write takes the value it had then). SchemaError naming `source` otherwise."""
    if config_hash(typed.settings) != results["config_hash"]:
        raise SchemaError(f"{source} is not a valid file of its kind (its config does not hash to its config_hash "
                          f"{results['config_hash']}: it was changed); remove it or compute it again")
    return {**results, "config": _filled(to_dict(typed.settings), results["config"])}


def _filled(complete: Any, stored: Any) -> Any:
    """`stored` with the keys it lacks taken from `complete` (the same config, every field written)."""
    if not isinstance(complete, dict) or not isinstance(stored, dict):
        return stored
    return {**complete, **{key: _filled(complete.get(key), value) for key, value in stored.items()}}


def read_results(path: Path, kind: str | tuple[str, ...] = "sweep") -> dict[str, Any]:
    """A results file of a kind ('sweep', 'comparison', 'study', or any of several), checked against its schema,
    as parsed JSON (what a writer extends or rewrites; readers take read_typed's objects); SchemaError naming the
    file and what is wrong when it is missing, unreadable, of another kind or has a missing or mistyped field."""
    return _parsed(path, kind)[0]


def read_typed(path: Path, kind: str | tuple[str, ...] = "sweep") -> Run:
    """A results file of a kind as typed objects (core.result_types: SweepResults, ComparisonResults or
    StudyResults); SchemaError as read_results."""
    return _parsed(path, kind)[1]


def typed_results(results: dict[str, Any]) -> Run:
    """Results a writer has just made (run_sweep, run_comparison, run_study) as typed objects, as read_typed
    gives a file's: what the command that made them prints is read from these."""
    return RESULT_KINDS[results["kind"]].model_validate(results, strict=False)


def load_results(path: Path, kind: str = "sweep") -> dict[str, Any] | None:
    """A results file of a kind (see read_results), or None when it is missing or not a valid file of that kind
    (a warning says which and why)."""
    try:
        return read_results(path, kind)
    except SchemaError as error:
        if Path(path).exists():
            log.warning("skipped until recomputed: %s", error)
        return None


def summary_labels(config: SweepConfig) -> dict[str, str]:
    """The figures a table of a sweep shows (ESTIMATE_LABELS): the queried function's test accuracy only where
    the attacker's view differs from the deployed mode (elsewhere it is the test accuracy)."""
    same = config.attack.view == config.target.model.predict_mode
    return {name: label for name, label in ESTIMATE_LABELS.items() if not (same and name == "queried_accuracy")}


def summary_table(results: SweepResults) -> list[dict[str, Any]]:
    """One flat row per lambda: each estimate's value and 95% interval bounds, for tables and CSV."""
    rows = []
    for row in results.summary:
        # A joined sweep (join_results) says where each point comes from and which are another judge's.
        joined = {"origin": row.origin, "other judge": row.other_judge} \
            if isinstance(row, JoinedRow) and row.origin is not None else {}
        rows.append({"lambda": row.lambda_, "seeds": row.seeds, **joined,
                     **flat_estimates(row, summary_labels(results.settings))})
    return rows


def flat_estimates(row: SweepRow, labels: dict[str, str] = ESTIMATE_LABELS) -> dict[str, Any]:
    """A row's estimates as flat columns (its label, then 'low' and 'high' bounds), for tables and CSV; an
    estimate the row lacks is left out."""
    flat: dict[str, Any] = {}
    for name, label in labels.items():
        estimate = getattr(row, name, None)
        if estimate is not None:
            flat |= {label: estimate.value, f"{label} low": estimate.low, f"{label} high": estimate.high}
    return flat


# What a sweep sweeps (its lambdas and seeds) and who scores it (its judge): the rest, its template, names the
# models and the attack, so results files of one template are points of one curve.
NOT_TEMPLATE = ("lambdas", "seeds", "evaluator")


def template_hash(config: SweepConfig) -> str:
    """The hash of a sweep's template: its config viewed as the sweep's own hash views it
    (core.stored_config.hash_view), so files written in either stored form agree."""
    view = hash_view(config)
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
        row = stored if stored is not None and stored["seeds"] == len(group) else summarise(group, (mid_lambda,))[0]
        trained_here = any(r["origin"] == "trained here" for r in group)
        summary.append({**row, "origin": "trained here" if trained_here else group[0]["origin"],
                        "other_judge": group[0]["other_judge"],
                        **({"evaluator": judges[group[0]["results_key"]]} if group[0]["other_judge"] else {})})
    zoo = next((results["zoo"] for results, _ in [*members, *others] if "zoo" in results), None)
    return {**members[0][0], "runs": runs, "summary": summary, "members": list(dict.fromkeys(judges)),
            **({"zoo": zoo} if zoo else {})}


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


def scores_sink(scores: AttackScores, num_classes: int) -> Sink:
    """attack_sink of an attack's typed scores (core.result_types), as the pages read them."""
    if scores.sink is not None:
        return scores.sink
    return Sink.model_validate(sink_check([entry.predicted for entry in scores.per_identity], num_classes),
                               strict=False)
