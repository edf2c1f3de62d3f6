"""Attack recipe, fast vs paper: GMI's two recipes on the same targets, judged by the study's rule.

The fast recipe (screened starts, 40 Adam steps) is the dashboard's; the paper recipe is the official loop (5
restarts, 1500 SGD steps). Both attack the same stored targets under the same view and are scored by the same
judge, so each person is a pair: per lambda, the paper recipe's top-1 minus the fast one's is a paired
difference. Each recipe's regime is judged by the study's rule (core.verdicts.verdict) against the MID lambda = 0
reference of its own sweep; with one training seed, the 95% intervals are over the people (Wilson) and the
test photos, not over seeds. Pure functions over typed sweeps (core.result_types): no torch, every sentence
from the figures.
"""

from __future__ import annotations

from typing import Any

from core.result_types import SweepResults, SweepRun
from core.stats import paired_difference
from core.story import attack_of, first_run
from core.verdicts import MID_REFERENCE, REFERENCE_NAMES, finding, row_label, verdict

FACTOR = "attack recipe"
RECIPES = ("fast", "paper")


def recipe_of(results: SweepResults) -> str:
    """A GMI sweep's recipe ('fast' for files written before recipes existed: GMIConfig.ADDED_FIELDS)."""
    return results.settings.attack.gmi.recipe


def recipe_pairs(sweeps: list[SweepResults]) -> list[tuple[SweepResults, SweepResults]]:
    """(fast, paper) GMI sweeps that attacked the same targets (same target template, view and judge), each
    paper sweep with the first such fast sweep."""

    def same_setting(results: SweepResults) -> tuple[Any, ...]:
        return results.settings.target, results.settings.attack.view, results.evaluator.key

    gmi = [s for s in sweeps if attack_of(s) == "gmi"]
    fast = [s for s in gmi if recipe_of(s) == "fast"]
    return [(match, paper) for paper in gmi if recipe_of(paper) == "paper"
            for match in [next((f for f in fast if same_setting(f) == same_setting(paper)), None)] if match]


def _hits(run: SweepRun) -> list[bool]:
    return [entry.top1 for entry in sorted(run.attack.per_identity, key=lambda e: e.label)]


def judge_recipe(results: SweepResults, lambdas: list[float]) -> dict[str, Any]:
    """One recipe's regime: its sweep's rows at `lambdas`, the verdict of the study's rule against the sweep's
    own lambda = 0 model (the MID reference) and that verdict in one sentence."""
    rows = [{"label": row_label(MID_REFERENCE if row.lambda_ == 0 else "mid", row.lambda_), "lambda": row.lambda_,
             "test_accuracy": row.test_accuracy.stored(), "attack_top1": row.attack_top1.stored()}
            for row in results.summary if row.lambda_ in lambdas]
    reference = [r for r in rows if r["lambda"] == 0]
    mid_rows = [r for r in rows if r["lambda"] != 0]
    if not reference or not mid_rows:
        return {"recipe": recipe_of(results), "rows": rows, "verdict": None,
                "finding": "not judged: the sweep needs lambda = 0 and at least one lambda above it"}
    judged = verdict(mid_rows, reference)
    return {"recipe": recipe_of(results), "rows": rows, "verdict": judged,
            "finding": finding(FACTOR, recipe_of(results), judged, REFERENCE_NAMES[MID_REFERENCE])}


def compare_recipes(fast: SweepResults, paper: SweepResults) -> dict[str, Any]:
    """Per lambda both sweeps hold (first seed): each recipe's attack top-1, the paper recipe's 'any restart
    identified' rate, and paper minus fast on the same people (paired interval, exact McNemar p); then each
    recipe's regime judged at those lambdas."""
    lambdas = sorted({r.lambda_ for r in paper.runs} & {r.lambda_ for r in fast.runs})
    per_lambda = []
    for mid_lambda in lambdas:
        fast_run, paper_run = first_run(fast, mid_lambda), first_run(paper, mid_lambda)
        per_lambda.append({
            "lambda": mid_lambda, "test_accuracy": paper_run.test.accuracy,
            "fast_top1": fast_run.attack.top1, "paper_top1": paper_run.attack.top1,
            "paper_any_restart": paper_run.attack.any_restart,
            "paper_minus_fast": paired_difference(_hits(paper_run), _hits(fast_run)),
            "fast_attack_key": fast_run.attack_key, "paper_attack_key": paper_run.attack_key,
        })
    return {"lambdas": lambdas, "per_lambda": per_lambda,
            "regimes": [judge_recipe(fast, lambdas), judge_recipe(paper, lambdas)]}
