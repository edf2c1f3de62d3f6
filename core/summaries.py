"""Summaries of runs: a sweep's rows per lambda, a comparison's rows per defense setting, a study's rows per
model setting (each estimate over its seeds), and the Pareto frontiers that compare two defenses. Pure
functions over the runs' records, without torch, shared by core.sweep, core.compare, core.study and the joined
sweeps the dashboard shows (core.results)."""

from __future__ import annotations

from typing import Any

from core.stats import PROPORTION, mean_interval

# The estimates summarised per lambda: a name and where it sits in a run's record.
SWEEP_ESTIMATES = {
    "test_accuracy": ("test", "accuracy"),
    "confidence": ("test", "confidence"),
    "entropy": ("test", "entropy"),
    "attack_top1": ("attack", "top1"),
    "attack_top5": ("attack", "top5"),
    "feature_distance": ("attack", "feature_distance"),
}
# The test accuracy of the function the attacker queried (see core.attacks.base.queried_mode): the deployed
# model's unless the attacker's view differs, as a white-box 'mu' attacker's does. Results files from before
# it lack it.
QUERIED = {"queried_accuracy": ("test_queried", "accuracy")}
STUDY_ESTIMATES = {**SWEEP_ESTIMATES, "balanced_accuracy": ("test", "balanced_accuracy")}
TEST_ESTIMATES = {name: path for name, path in SWEEP_ESTIMATES.items() if path[0] == "test"}
ATTACK_ESTIMATES = ("top1", "top5", "feature_distance")
UNBOUNDED = ("entropy", "feature_distance")  # every other estimate is an accuracy or a probability, in [0, 1]

DEFENSE_NAMES = {"none": "no defense", "dpmodel": "DP-SGD's model without DP", "mid": "MID", "dpsgd": "DP-SGD",
                 "output": "output defense"}


def point_label(defense: str, strength: float | None, epsilon: float | None = None) -> str:
    """'no defense', 'MID lambda=0.01', 'DP-SGD noise=1 (eps=47)'."""
    if defense == "mid":
        return f"MID lambda={strength:g}"
    if defense == "dpsgd":
        return f"DP-SGD noise={strength:g}" + (f" (eps={epsilon:.3g})" if epsilon is not None else "")
    return DEFENSE_NAMES[defense]


def setting(entry: dict[str, Any]) -> tuple[str, float | None, str | None]:
    """The defense setting a comparison's point or row belongs to (see defense_setting)."""
    return defense_setting(entry["defense"], entry["strength"], entry["label"])


def defense_setting(defense: str, strength: float | None, label: str) -> tuple[str, float | None, str | None]:
    """The defense setting of a comparison's point or row, from its typed fields: the defense and its strength,
    and for an output defense (of the undefended model) its label, which names its settings. Seeds of one setting
    (and their epsilons, which differ) pool into one row."""
    return defense, strength, label if defense == "output" else None


def _estimate(run: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        run = run[key]
    return run


def summarise_group(group: list[dict[str, Any]], estimates: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Runs of one setting: with one seed, each estimate with its own interval; with several, the mean over
    seeds with its t-interval and spread (the seeds' values listed too)."""
    if len(group) == 1:
        return {name: _estimate(group[0], path) for name, path in estimates.items()}
    return {name: {**mean_interval(values, None if name in UNBOUNDED else PROPORTION), "per_seed": values}
            for name, path in estimates.items() for values in [[_estimate(r, path)["value"] for r in group]]}


def summarise(runs: list[dict[str, Any]], lambdas: tuple[float, ...]) -> list[dict[str, Any]]:
    """A sweep's rows: per lambda, every estimate over its seeds (see summarise_group), and the queried
    function's test accuracy when every run records it (QUERIED)."""
    rows = []
    for mid_lambda in lambdas:
        group = [r for r in runs if r["lambda"] == mid_lambda]
        queried = QUERIED if all("test_queried" in r for r in group) else {}
        rows.append({"lambda": mid_lambda, "seeds": len(group),
                     **summarise_group(group, {**SWEEP_ESTIMATES, **queried})})
    return rows


def summarise_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A comparison's rows: one per defense setting (seeds pooled), in the order first met: test accuracy,
    spread, epsilon and every attack's estimates, each with its 95% interval."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault(setting(point), []).append(point)
    rows = []
    for group in groups.values():
        first = group[0]
        row = {"defense": first["defense"], "strength": first["strength"], "seeds": len(group),
               **summarise_group(group, TEST_ESTIMATES)}
        epsilons = [p["epsilon"] for p in group if p["epsilon"] is not None]
        row["epsilon"] = max(epsilons) if epsilons else None  # the guarantee is the weakest seed's
        row["label"] = point_label(first["defense"], first["strength"], row["epsilon"]) if first["defense"] != \
            "output" else first["label"]
        row["attacks"] = {name: summarise_group(group, {e: ("attacks", name, e) for e in ATTACK_ESTIMATES})
                          for name in first["attacks"]}
        rows.append(row)
    return rows


def summarise_rows(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A study regime's rows: one per model setting (the undefended model, MID per lambda), seeds pooled, in the
    order first met."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for point in points:
        groups.setdefault((point["defense"], point["lambda"]), []).append(point)
    return [{"defense": group[0]["defense"], "lambda": group[0]["lambda"], "label": group[0]["label"],
             "seeds": len(group), **summarise_group(group, STUDY_ESTIMATES)} for group in groups.values()]


def frontier(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the Pareto-optimal (test accuracy, attack accuracy) points, by rising test accuracy: those
    no other point beats on both (higher or equal test accuracy and lower or equal attack accuracy)."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], points[i][1]))
    kept, best_attack = [], float("inf")
    for i in order:  # from the most accurate down: keep a point only if it lowers the attack accuracy
        if points[i][1] < best_attack:
            kept.append(i)
            best_attack = points[i][1]
    return kept[::-1]


def best_at(points: list[tuple[float, float]], level: float) -> int | None:
    """The point with the lowest attack accuracy among those with test accuracy >= level (None if none)."""
    eligible = [i for i, (test, _) in enumerate(points) if test >= level]
    return min(eligible, key=lambda i: points[i][1]) if eligible else None


def compare_frontiers(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> dict[str, Any]:
    """Compare two defenses' frontiers at every test accuracy level (a point's test accuracy) that both reach.
    Returns the levels where each is lower, and a verdict: 'a', 'b' (dominates), 'tie', 'mixed', 'no overlap'."""
    if not a or not b:
        return {"verdict": "no overlap", "levels": [], "a_lower": [], "b_lower": []}
    reach = min(max(t for t, _ in a), max(t for t, _ in b))
    levels = sorted({t for t, _ in a + b if t <= reach})
    rows = []
    for level in levels:
        ia, ib = best_at(a, level), best_at(b, level)
        rows.append({"level": level, "a": ia, "b": ib, "a_attack": a[ia][1], "b_attack": b[ib][1]})
    a_lower = [r["level"] for r in rows if r["a_attack"] < r["b_attack"] - 1e-9]
    b_lower = [r["level"] for r in rows if r["b_attack"] < r["a_attack"] - 1e-9]
    verdict = "mixed" if a_lower and b_lower else "a" if a_lower else "b" if b_lower else "tie"
    return {"verdict": verdict, "reach": reach, "levels": rows, "a_lower": a_lower, "b_lower": b_lower}
