"""A lambda sweep: per lambda and seed, train (or load) the target, attack it, score it; then summarise.

The results file holds every figure with its interval, the timings, and the store paths of each model and
reconstruction, so the dashboard and reports read one JSON file and never re-run anything.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import SweepConfig, config_hash, to_dict
from core.data import PreparedData
from core.engine import Engine
from core.files import write_json_atomic
from core.metrics import PROPORTION, mean_interval
from core.panel import panel_fields, panel_for, score_with_panel
from core.results import attack_sink, format_figure, results_path, text_table
from core.runtime import Timings, environment, peak_memory_mb, timestamp

# The figures summarised per lambda: a name and where it sits in a run's record.
FIGURES = {
    "test_accuracy": ("test", "accuracy"),
    "confidence": ("test", "confidence"),
    "entropy": ("test", "entropy"),
    "attack_top1": ("attack", "top1"),
    "attack_top5": ("attack", "top5"),
    "feature_distance": ("attack", "feature_distance"),
}


UNBOUNDED = ("entropy", "feature_distance")  # every other figure is an accuracy or a probability, in [0, 1]


def run_sweep(config: SweepConfig, engine: Engine, out_dir: Path,
              on_run: Callable[[dict[str, Any]], None] | None = None, panel: bool = True) -> dict[str, Any]:
    """Run (or reuse) everything the sweep needs and write its results file atomically; `on_run` sees each
    (lambda, seed) run as soon as it is scored, so a UI can plot points while the sweep goes on. With `panel`,
    every attack is also scored by the judge panel (core.panel), whose judges are trained once per dataset."""
    timings = Timings()
    with timings.stage("load_data_s"):
        data = PreparedData.load(config.target.data, engine.data_root)
    with timings.stage("evaluator_s"):
        judge, judge_record, _ = engine.evaluator(config.evaluator, data)
        judges = panel_for(engine, config.evaluator, data) if panel else []
    runs = []
    for mid_lambda in config.lambdas:
        for seed in config.seeds:
            target_config = config.target_for(mid_lambda, seed)
            target_key = config_hash(target_config)
            with timings.stage("train_s"):
                model, target_record, target_reused = engine.target(target_config, data)
            with timings.stage("attack_s"):
                reconstruction, attack_record, attack_reused = engine.attack(
                    model, target_key, config.attack, judge, judge_record["config_hash"], data)
            attack_dir = engine.store.path("attacks", attack_record["config_hash"])
            runs.append({
                "lambda": mid_lambda, "seed": seed,
                "target_key": target_key, "model_path": str(engine.store.path("targets", target_key)),
                "attack_key": attack_record["config_hash"], "reconstructions_path": str(attack_dir),
                "grid_path": str(attack_dir / "reconstructions.png"),
                "test": target_record["test"]["deployed"], "test_by_mode": target_record["test"]["by_mode"],
                "final_kl": target_record["history"][-1].get("kl"),
                "attack": attack_record["scores"], "attack_target_confidence": attack_record["target_confidence"],
                "timings": {**target_record["timings"], **attack_record["timings"]},
                "reused": {"target": target_reused, "attack": attack_reused},
            } | ({"panel": score_with_panel(judges, reconstruction.images, data, engine.device)} if judges else {}))
            if on_run:
                on_run(runs[-1])
            del model
    results = {
        "kind": "sweep", "config": to_dict(config), "config_hash": config_hash(config),
        "created": timestamp(), "data": data.summary(),
        "class_names": data.images.names,
        "evaluator": {"key": judge_record["config_hash"], "heldout_accuracy": judge_record["heldout_accuracy"],
                      "real_image_distance": judge_record["real_image_distance"]},
        "runs": runs, "summary": summarise(runs, config.lambdas), **(panel_fields(runs, config.lambdas, judges)
                                                                      if judges else {}),
        "environment": environment(engine.device), "timings": dict(timings), "peak_memory_mb": peak_memory_mb(),
    }
    write_json_atomic(results_path(out_dir, results["config_hash"]), results)
    return results


def _figure(run: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        run = run[key]
    return run


def summarise_group(group: list[dict[str, Any]], figures: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    """Runs of one setting: with one seed, each figure with its own interval; with several, the mean over
    seeds with its t-interval and spread (the seeds' values listed too)."""
    if len(group) == 1:
        return {name: _figure(group[0], path) for name, path in figures.items()}
    return {name: {**mean_interval(values, None if name in UNBOUNDED else PROPORTION), "per_seed": values}
            for name, path in figures.items() for values in [[_figure(r, path)["value"] for r in group]]}


def summarise(runs: list[dict[str, Any]], lambdas: tuple[float, ...]) -> list[dict[str, Any]]:
    """Per lambda, every figure over its seeds (see summarise_group)."""
    return [{"lambda": mid_lambda, "seeds": len(group), **summarise_group(group, FIGURES)}
            for mid_lambda in lambdas for group in [[r for r in runs if r["lambda"] == mid_lambda]]]


def format_table(results: dict[str, Any]) -> str:
    """The summary as a plain-text table: each figure as value [95% interval]."""

    def cell(figure: dict[str, Any], digits: int = 2) -> str:
        return format_figure(figure, digits, sep=",")

    header = ["lambda", "test acc", "attack top-1", "attack top-5", "feat. dist", "confidence", "entropy"]
    lines = []
    for row in results["summary"]:
        lines.append([f"{row['lambda']:g}", cell(row["test_accuracy"]), cell(row["attack_top1"]),
                      cell(row["attack_top5"]), cell(row["feature_distance"], 1), cell(row["confidence"]),
                      cell(row["entropy"])])
    render = text_table(header, lines, right=True)
    evaluator = results["evaluator"]
    render.append(
        f"judge held-out accuracy {cell(evaluator['heldout_accuracy'])}; a real held-out photo lies at feature "
        f"distance {cell(evaluator['real_image_distance'], 1)} from its person's nearest training photo"
    )
    classes = results["data"]["identities"]
    sinks = [(run, attack_sink(run["attack"], classes)) for run in results["runs"]]
    flagged = [f"lambda {run['lambda']:g} seed {run['seed']} ({check['count']} of {check['n']} to one person)"
               for run, check in sinks if check["flagged"]]
    render.append("sink check (docs/method.md): the judge's attack figures are unreliable at " + "; ".join(flagged)
                  if flagged else "sink check (docs/method.md): the judge spreads its answers fairly on every run")
    return "\n".join(render)
