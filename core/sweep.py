"""A lambda sweep: per lambda and seed, train (or load) the target, attack it, score it; then summarise.

The results file holds every figure with its interval, the timings, and the store paths of each model and
reconstruction, so the dashboard and reports read one JSON file and never re-run anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.attacks.base import queried_mode
from core.data import PreparedData
from core.engine import Engine
from core.executor import (
    Done,
    Executor,
    LocalExecutor,
    attack_unit,
    data_key,
    gather,
    judge_unit,
    target_unit,
    units_done,
)
from core.files import write_json_atomic
from core.panel import add_panel
from core.result_types import Estimate, SweepResults
from core.results import accuracy_axis, format_estimate, results_path, scores_sink, summary_labels, text_table
from core.runtime import Timings, environment, peak_memory_mb, timestamp
from core.stored_config import config_hash, to_dict
from core.summaries import summarise
from core.sweep_config import SweepConfig


def run_sweep(config: SweepConfig, engine: Engine, out_dir: Path,
              on_run: Callable[[dict[str, Any]], None] | None = None,
              executor: Executor | None = None, panel: bool = False) -> dict[str, Any]:
    """Run (or reuse) everything the sweep needs, here or on a cluster (`executor`; default: in this process),
    and write its results file atomically; `on_run` sees each (lambda, seed) run as soon as it is scored, so a
    UI can plot points while the sweep goes on. With `panel`, every attack is also scored by the judge panel
    (core.panel, here, from the stored reconstructions), whose judges are trained once per dataset."""
    executor = executor or LocalExecutor()
    timings = Timings()
    start = time.perf_counter()
    with timings.stage("load_data_s"):
        data = PreparedData.load(config.target.data, engine.data_root)
    judge = judge_unit(config.evaluator)
    grid = [(mid_lambda, seed) for mid_lambda in config.lambdas for seed in config.seeds]
    points = []
    for mid_lambda, seed in grid:
        target = target_unit(config.target_for(mid_lambda, seed))
        points.append((target, attack_unit(target, judge, config.attack)))
    runs = []

    def scored(index: int, done: dict[str, Done]) -> None:
        (mid_lambda, seed), (target, attack) = grid[index], points[index]
        target_record, attack_record = done[target.key].record, done[attack.key].record
        attack_dir = engine.store.path("attacks", attack.key)
        queried = queried_mode(config.target.model.head, config.attack.view)
        runs.append({
            "lambda": mid_lambda, "seed": seed,
            "target_key": target.key, "model_path": str(engine.store.path("targets", target.key)),
            "attack_key": attack.key, "reconstructions_path": str(attack_dir),
            "grid_path": str(attack_dir / "reconstructions.png"),
            "test": target_record["test"]["deployed"], "test_by_mode": target_record["test"]["by_mode"],
            "queried_mode": queried, "test_queried": target_record["test"]["by_mode"][queried],
            "final_kl": target_record["history"][-1].get("kl"),
            "attack": attack_record["scores"], "attack_target_confidence": attack_record["target_confidence"],
            "timings": {**target_record["timings"], **attack_record["timings"]},
            "reused": {"target": done[target.key].reused, "attack": done[attack.key].reused},
        })
        if on_run:
            on_run(runs[-1])

    done = gather(executor, engine, {data_key(data.config): data}, points, scored, timings)
    judge_record = done[judge.key].record
    results = {
        "kind": "sweep", "config": to_dict(config), "config_hash": config_hash(config),
        "created": timestamp(), "data": data.summary(), "data_fingerprint": data.fingerprint,
        "class_names": data.images.names,
        "evaluator": {"key": judge.key, "heldout_accuracy": judge_record["heldout_accuracy"],
                      "real_image_distance": judge_record["real_image_distance"]},
        "runs": runs, "summary": summarise(runs, config.lambdas),
        "environment": environment(engine.device), "executor": executor.describe(), "units": units_done(done),
        "timings": dict(timings),
        "wall_s": round(time.perf_counter() - start, 3), "peak_memory_mb": peak_memory_mb(),
    }
    if panel:
        results = add_panel(results, engine)
    write_json_atomic(results_path(out_dir, results["config_hash"]), results)
    return results


def format_table(results: SweepResults) -> str:
    """The summary as a plain-text table: each figure as value [95% interval]."""

    def cell(figure: Estimate, digits: int = 2) -> str:
        return format_estimate(figure, digits, sep=",")

    queried = "queried_accuracy" in summary_labels(results.settings) and \
        all(r.queried_accuracy is not None for r in results.summary)
    header = ["lambda", "test acc", *(["acc. as queried"] if queried else []), "attack top-1", "attack top-5",
              "feat. dist", "confidence", "entropy"]
    lines = []
    for row in results.summary:
        lines.append([f"{row.lambda_:g}", cell(row.test_accuracy), *([cell(row.queried_accuracy)] if queried else []),
                      cell(row.attack_top1), cell(row.attack_top5), cell(row.feature_distance, 1),
                      cell(row.confidence), cell(row.entropy)])
    render = text_table(header, lines, right=True)
    render.append(accuracy_axis(results.settings))
    evaluator = results.evaluator
    # Files from before the distance was measured lack it (the schema allows that).
    distance = (f"; a real held-out photo lies at feature distance {cell(evaluator.real_image_distance, 1)} "
                "from its person's nearest training photo" if evaluator.real_image_distance is not None else "")
    render.append(f"judge held-out accuracy {cell(evaluator.heldout_accuracy)}{distance}")
    sinks = [(run, scores_sink(run.attack, results.data.identities)) for run in results.runs]
    flagged = [f"lambda {run.lambda_:g} seed {run.seed} ({check.count} of {check.n} to one person)"
               for run, check in sinks if check.flagged]
    render.append("sink check (docs/method.md): the judge's attack figures are unreliable at " + "; ".join(flagged)
                  if flagged else "sink check (docs/method.md): the judge spreads its answers fairly on every run")
    return "\n".join(render)
