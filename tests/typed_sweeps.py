"""Typed sweeps for tests that name only the figures they test: every field a results file must hold that the test
leaves out gets a neutral value, and the whole is checked as a stored file is (core.result_types.SweepResults)."""

from typing import Any

from core.result_types import SweepResults

UNMEASURED = {"value": 0.0}
TEST = {"accuracy": UNMEASURED, "confidence": UNMEASURED, "entropy": UNMEASURED}
ATTACK = {"top1": UNMEASURED, "top5": UNMEASURED, "feature_distance": UNMEASURED}
ROW = {"seeds": 1, "test_accuracy": UNMEASURED, "confidence": UNMEASURED, "entropy": UNMEASURED,
       "attack_top1": UNMEASURED, "attack_top5": UNMEASURED, "feature_distance": UNMEASURED}


def typed_sweep(summary: list[dict[str, Any]], runs: list[dict[str, Any]], config: dict[str, Any] | None = None,
                data: dict[str, Any] | None = None, evaluator: dict[str, Any] | None = None) -> SweepResults:
    """A sweep of these summary rows and runs (each completed with neutral figures), config, data and judge."""
    return SweepResults.model_validate({
        "kind": "sweep", "config": config or {}, "config_hash": "test", "class_names": [],
        "data": {"dataset": "orl", "identities": 40, **(data or {})},
        "evaluator": {"key": "judge", "heldout_accuracy": UNMEASURED, **(evaluator or {})},
        "runs": [{"seed": 0, "target_key": "target", "attack_key": "attack", **run,
                  "test": {**TEST, **run.get("test", {})}, "attack": {**ATTACK, **run.get("attack", {})}}
                 for run in runs],
        "summary": [{**ROW, **row} for row in summary]}, strict=False)


def sweep_file(summary: list[dict[str, Any]], runs: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """typed_sweep's sweep as its results file holds it (stored names, no empty optional field)."""
    return typed_sweep(summary, runs, **fields).model_dump(by_alias=True, exclude_none=True)
