"""The study's rule: does MID lower attack accuracy at equal test accuracy? A verdict (yes, no, inconclusive)
for MID's rows against a reference row, and that verdict in one sentence. Pure functions over seed-pooled rows
(each figure a value with its 95% interval), no torch: pages and the recipe comparison judge by the same rule."""

from __future__ import annotations

import math
from typing import Any

from core.results import format_estimate

VERDICTS = ("yes", "no", "inconclusive")
# The two references each regime's MID models are judged against: the undefended linear head ("none"), and the
# same MID architecture trained at lambda = 0 (StudyConfig.mid_reference), which isolates the KL term.
MID_REFERENCE = "mid_reference"
REFERENCE_NAMES = {"none": "the undefended model", MID_REFERENCE: "the MID lambda=0 reference"}
RULE = ("MID lowers attack accuracy at equal test accuracy when, among the MID models whose mean test accuracy "
        "is at least the lower 95% bound of the undefended model's, the one with the lowest mean attack top-1 "
        "has its 95% interval of attack top-1 entirely below the undefended model's (yes); no when every such "
        "MID model's interval lies entirely above it; inconclusive when the intervals overlap or no MID model "
        "reaches that accuracy. Intervals are 95% t-intervals of the mean over training seeds.")


def row_label(defense: str, mid_lambda: float | None) -> str:
    if defense == MID_REFERENCE:
        return "MID lambda=0 (reference)"
    return f"MID lambda={mid_lambda:g}" if defense == "mid" else "no defense"


def _interval(figure: dict[str, Any]) -> tuple[float, float, float] | None:
    """(value, low, high) of a figure, or None when it has no usable 95% interval."""
    values = (figure.get("value"), figure.get("low"), figure.get("high"))
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    return values  # type: ignore[return-value]


def verdict(mid_rows: list[dict[str, Any]], none_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """'MID lowers attack accuracy at equal test accuracy': yes, no or inconclusive, by this rule (RULE).

    Rows are seed-pooled settings (summarise_rows): 'test_accuracy' and 'attack_top1' each with value (the mean
    over seeds) and low / high (its 95% interval). Against the undefended row U:
      - matched accuracy: the MID rows whose mean test accuracy is at least U's lower test bound (within U's
        interval or above it). None of them -> inconclusive ('no_match'): MID never buys its privacy at
        equal accuracy here, but nothing was measured at equal accuracy either.
      - yes ('lower'): the matched MID row with the lowest mean attack top-1 (ties: the more accurate) has
        its attack interval entirely below U's (high < U's low).
      - no ('higher'): every matched MID row's attack interval lies entirely above U's (low > U's high).
      - otherwise inconclusive ('overlap'): with a few seeds, overlapping intervals cannot tell a small
        effect from none, so no effect is not claimed either.
    A missing or non-finite interval gives inconclusive ('no_interval'). With several undefended rows each is
    judged and the answers must agree, else inconclusive ('disagree'). Picking the best of several lambdas
    before testing favours 'yes' a little; the rows are all kept in the results for anyone to re-judge.
    """
    if not none_rows:
        raise ValueError("a verdict needs the undefended model's row")
    judged = [_against(mid_rows, reference) for reference in none_rows]
    if len({j["verdict"] for j in judged}) == 1:
        return judged[0]
    return {**judged[0], "verdict": "inconclusive", "reason": "disagree"}


def reference_verdicts(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A regime's verdicts (its seed-pooled rows) against both references: the undefended model, and the MID
    lambda=0 reference, against which a MID row at lambda = 0 (if swept) is the reference itself: left out."""
    mid_rows = [r for r in rows if r["defense"] == "mid"]
    against_none = verdict(mid_rows, [r for r in rows if r["defense"] == "none"])
    against_mid = verdict([r for r in mid_rows if r["lambda"] != 0], [r for r in rows if r["defense"] == MID_REFERENCE])
    return against_none, against_mid


def _against(mid_rows: list[dict[str, Any]], reference: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": reference["label"], "none_test": reference["test_accuracy"],
                           "none_attack": reference["attack_top1"], "matched": [], "best": None}
    ref_test, ref_attack = _interval(reference["test_accuracy"]), _interval(reference["attack_top1"])
    if ref_test is None or ref_attack is None:
        return {**out, "verdict": "inconclusive", "reason": "no_interval"}
    level = ref_test[1]
    out["level"] = level
    # Ranked by mean attack accuracy, ties to the more accurate: the first matched row is the best (best_at).
    ranked = sorted(mid_rows, key=lambda r: (r["attack_top1"]["value"], -r["test_accuracy"]["value"]))
    matched = [r for r in ranked if r["test_accuracy"]["value"] >= level]
    out["matched"] = [r["label"] for r in matched]
    if not matched:
        most = max(mid_rows, key=lambda r: r["test_accuracy"]["value"], default=None)
        return {**out, "verdict": "inconclusive", "reason": "no_match",
                "most_accurate": most["label"] if most else None,
                "most_accurate_test": most["test_accuracy"] if most else None}
    best = matched[0]
    out.update(best=best["label"], mid_test=best["test_accuracy"], mid_attack=best["attack_top1"])
    intervals = [_interval(r["attack_top1"]) for r in matched]
    best_interval = _interval(best["attack_top1"])
    if best_interval is None or any(i is None for i in intervals):
        return {**out, "verdict": "inconclusive", "reason": "no_interval"}
    if best_interval[2] < ref_attack[1]:
        return {**out, "verdict": "yes", "reason": "lower"}
    if all(i[1] > ref_attack[2] for i in intervals):  # type: ignore[index]
        return {**out, "verdict": "no", "reason": "higher"}
    return {**out, "verdict": "inconclusive", "reason": "overlap"}


def finding(factor: str, level: Any, judged: dict[str, Any], reference: str = REFERENCE_NAMES["none"]) -> str:
    """A regime's verdict against `reference` (named in words) in one sentence, with the figures behind it."""
    where = f"{factor}={level}"
    reason = judged["reason"]
    if reason == "no_interval":
        return f"{where}: inconclusive, the figures lack 95% intervals (too few seeds)."
    base = (f"{reference} (test accuracy {format_estimate(judged['none_test'])}, attack top-1 "
            f"{format_estimate(judged['none_attack'])})")
    if reason == "no_match":
        most = judged.get("most_accurate")
        best = f"; the most accurate, {most}, reaches {format_estimate(judged['most_accurate_test'])}" if most else ""
        return f"{where}: inconclusive, no MID model reaches the test accuracy of {base}{best}."
    pair = (f"{judged['best']} (test accuracy {format_estimate(judged['mid_test'])}) is attacked at top-1 "
            f"{format_estimate(judged['mid_attack'])} against {base}")
    if reason == "lower":
        return f"{where}: yes, at matched test accuracy {pair}; the 95% intervals do not overlap."
    if reason == "higher":
        return (f"{where}: no, every MID model at matched test accuracy is attacked more; the best, {pair}, "
                "with no overlap of the 95% intervals.")
    if reason == "disagree":
        return f"{where}: inconclusive, the references disagree."
    return f"{where}: inconclusive, at matched test accuracy {pair}; the 95% intervals overlap."
