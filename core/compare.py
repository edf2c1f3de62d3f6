"""Defenses compared on equal terms: the same data, judge and attacks against no defense, MID (a lambda grid),
DP-SGD (a noise grid, epsilon from Opacus' accountant) and output-side defenses of the undefended model's API.

For each attack, each defense's frontier is the best privacy it buys at each level of utility: the lowest
attack accuracy among its models whose test accuracy is at least that level. Two frontiers are compared at
every test accuracy both defenses reach, and the result is said in words, whichever way it comes out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.attack_config import OutputDefenseConfig
from core.attacks.base import queried_mode
from core.config import TargetConfig
from core.data import PreparedData
from core.engine import Engine
from core.executor import (
    Done,
    Executor,
    LocalExecutor,
    Unit,
    attack_unit,
    data_key,
    gather,
    judge_unit,
    target_unit,
    units_done,
)
from core.files import write_json_atomic
from core.metrics import prediction_spread
from core.panel import add_panel_to_comparison
from core.panel_claims import PANEL_CELL_LEGEND, judges_line, panel_cell
from core.result_types import ComparisonResults
from core.results import attack_sink, format_estimate, prune_grids, ship_grid, shipped_figures, text_table
from core.runtime import Timings, environment, peak_memory_mb, timestamp
from core.stored_config import config_hash, to_dict
from core.study_figures import panel_frontier_text
from core.summaries import (
    ATTACK_ESTIMATES,
    DEFENSE_NAMES,
    compare_frontiers,
    frontier,
    point_label,
    summarise_points,
)
from core.sweep_config import ComparisonConfig


def comparison_path(out_dir: Path, comparison_hash: str) -> Path:
    return Path(out_dir) / f"comparison_{comparison_hash}.json"


def run_comparison(config: ComparisonConfig, engine: Engine, out_dir: Path,
                   on_point: Callable[[dict[str, Any]], None] | None = None,
                   executor: Executor | None = None, panel: bool = False) -> dict[str, Any]:
    """Train (or load) every defended target, attack each with every attack, score them with one judge, here
    or on a cluster (`executor`; default: in this process), and write the comparison file atomically;
    `on_point` sees each model's point as soon as it is scored. With `panel`, every attack is also scored by the
    judge panel (core.panel, here, from the stored reconstructions)."""
    executor = executor or LocalExecutor()
    timings = Timings()
    start = time.perf_counter()
    with timings.stage("load_data_s"):
        data = PreparedData.load(config.sweep.target.data, engine.data_root)
    judge = judge_unit(config.sweep.evaluator)
    # Per point: (defense, strength, seed, target config, the output defense or None, its attacks by name).
    plan: list[tuple[str, float | None, int, TargetConfig, OutputDefenseConfig | None, dict[str, Unit]]] = []
    for defense, strength, seed, target_config in config.targets():
        target = target_unit(target_config)
        plan.append((defense, strength, seed, target_config, None,
                     {name: attack_unit(target, judge, config.attack(name)) for name in config.attacks}))
        if defense == "none" and "inversion" in config.attacks:  # the API's outputs, for the black-box attack
            plan += [(defense, strength, seed, target_config, output, {"inversion": attack_unit(
                target, judge, dataclasses.replace(config.attack("inversion"), output=output))})
                for output in config.outputs]
    points: list[dict[str, Any]] = []
    by_target: dict[str, dict[str, Any]] = {}

    def attacked(done: Done) -> dict[str, Any]:
        folder = engine.store.path("attacks", done.unit.key)
        return {**{figure: done.record["scores"][figure] for figure in ATTACK_ESTIMATES}, "attack_key": done.unit.key,
                "sink": attack_sink(done.record["scores"], data.images.num_classes),
                "grid_path": str(folder / "reconstructions.png"), "reused": done.reused}

    def scored(index: int, done: dict[str, Done]) -> None:
        defense, strength, seed, target_config, output, attacks = plan[index]
        target_key = config_hash(target_config)
        scores = {name: attacked(done[unit.key]) for name, unit in attacks.items()}
        if output is not None:
            point = {**by_target[target_key], "defense": "output", "output": to_dict(output), "label": output.label(),
                     "attacks": scores}
        else:
            record = done[target_key].record
            privacy = record.get("privacy")
            epsilon = privacy["epsilon"] if privacy else None
            model = engine.target(target_config, data)[0]
            point = by_target[target_key] = {
                "defense": defense, "strength": strength, "seed": seed, "epsilon": epsilon, "privacy": privacy,
                "label": point_label(defense, strength, epsilon), "target_key": target_key,
                "model_path": str(engine.store.path("targets", target_key)), "reused": done[target_key].reused,
                "test": record["test"]["deployed"],
                "spread": prediction_spread(model, target_config, data, engine.device),
                "test_queried": record["test"]["by_mode"][queried_mode(target_config.model.head,
                                                                       config.sweep.attack.view)],
                "attacks": scores,
            }
        points.append(point)
        if on_point:
            on_point(point)

    done = gather(executor, engine, {data_key(data.config): data},
                  [(target_unit(target_config), *attacks.values()) for _, _, _, target_config, _, attacks in plan],
                  scored, timings)
    judge_record = done[judge.key].record
    summary = summarise_points(points)
    results = {
        "kind": "comparison", "config": to_dict(config), "config_hash": config_hash(config), "created": timestamp(),
        "data": data.summary(), "attacks": list(config.attacks),
        "evaluator": {"key": judge.key, "heldout_accuracy": judge_record["heldout_accuracy"],
                      "real_image_distance": judge_record["real_image_distance"]},
        "points": points, "summary": summary,
        "frontiers": {name: frontier_report(summary, name) for name in config.attacks},
        "environment": environment(engine.device), "executor": executor.describe(), "units": units_done(done),
        "timings": dict(timings),
        "wall_s": round(time.perf_counter() - start, 3), "peak_memory_mb": peak_memory_mb(),
    }
    if panel:
        results = add_panel_to_comparison(results, engine)
    write_json_atomic(comparison_path(out_dir, results["config_hash"]), results)
    return results


def frontier_report(summary: list[dict[str, Any]], attack: str, a: str = "mid", b: str = "dpsgd") -> dict[str, Any]:
    """Each defense's frontier for `attack` (indexes into its rows) and the plain-words comparison of a and b."""
    def rows_of(defense: str) -> list[dict[str, Any]]:
        return [r for r in summary if r["defense"] == defense and attack in r["attacks"]]

    def xy(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
        return [(r["test_accuracy"]["value"], r["attacks"][attack]["top1"]["value"]) for r in rows]

    rows_a, rows_b = rows_of(a), rows_of(b)
    comparison = compare_frontiers(xy(rows_a), xy(rows_b))
    return {
        "frontiers": {d: [rows_of(d)[i]["label"] for i in frontier(xy(rows_of(d)))] for d in (a, b)},
        "verdict": comparison["verdict"], "sentence": frontier_sentence(comparison, rows_a, rows_b, attack, a, b),
        "control": control_sentence(rows_of("dpmodel"), rows_b, attack),
    }


def control_sentence(control: list[dict[str, Any]], private: list[dict[str, Any]], attack: str) -> str:
    """What the control says: is DP-SGD's most accurate model harder to attack than the same model trained
    without DP (noise, clipping) beyond the 95% intervals? If not, its model, not DP, explains its privacy."""
    if not control or not private:
        return ""
    plain, noisy = control[0], max(private, key=lambda r: r["test_accuracy"]["value"])
    plain_top, noisy_top = plain["attacks"][attack]["top1"], noisy["attacks"][attack]["top1"]
    figures = (f"{noisy['label']}: test accuracy {format_estimate(noisy['test_accuracy'])}, attack top-1 "
               f"{format_estimate(noisy_top)}; the same model and schedule without DP: test accuracy "
               f"{format_estimate(plain['test_accuracy'])}, attack top-1 {format_estimate(plain_top)}")
    if noisy_top["high"] < plain_top["low"]:
        return f"DP-SGD's noise lowers attack accuracy beyond what its model alone does ({figures})."
    return (f"DP-SGD's model alone, trained without DP, is about as hard to attack as DP-SGD's most accurate model "
            f"(95% intervals overlap or lower: {figures}): its model and schedule, not the noise, carry that part "
            "of its privacy here.")


def frontier_sentence(comparison: dict[str, Any], rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]],
                      attack: str, a: str, b: str) -> str:
    """The comparison in one or two plain sentences, with the widest gap as the example and whether the 95%
    intervals of the two models behind it overlap."""
    name_a, name_b = DEFENSE_NAMES[a], DEFENSE_NAMES[b]
    if comparison["verdict"] == "no overlap":
        return f"{name_a} and {name_b} cannot be compared: one of them has no models here."
    reach = comparison["reach"]
    top_a, top_b = (max(r["test_accuracy"]["value"] for r in rows) for rows in (rows_a, rows_b))
    beyond = (f" Above test accuracy {reach:.2f} only {name_a if top_a > top_b else name_b} has models (up to "
              f"{max(top_a, top_b):.2f}), so nothing is compared there." if max(top_a, top_b) > reach + 1e-9 else "")
    return _frontier_verdict(comparison, rows_a, rows_b, attack, name_a, name_b) + beyond


def _frontier_verdict(comparison: dict[str, Any], rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]],
                      attack: str, name_a: str, name_b: str) -> str:
    reach = comparison["reach"]
    if comparison["verdict"] == "tie":
        return f"Up to test accuracy {reach:.2f}, {name_a} and {name_b} reach the same lowest attack accuracy."
    widest = max(comparison["levels"], key=lambda r: abs(r["a_attack"] - r["b_attack"]))
    top_a, top_b = rows_a[widest["a"]]["attacks"][attack]["top1"], rows_b[widest["b"]]["attacks"][attack]["top1"]
    lower, higher = (top_a, top_b) if widest["a_attack"] < widest["b_attack"] else (top_b, top_a)
    clear = lower["high"] < higher["low"]
    overlap = "do not overlap" if clear else "overlap"
    example = (f"at test accuracy >= {widest['level']:.2f}, {name_a} {format_estimate(top_a)} vs {name_b} "
               f"{format_estimate(top_b)} attack top-1 (the 95% intervals {overlap})")
    if comparison["verdict"] == "mixed":
        return (f"Neither dominates: of the {len(comparison['levels'])} test-accuracy levels both reach (up to "
                f"{reach:.2f}), {name_a}'s lowest attack accuracy is lower at {len(comparison['a_lower'])} and "
                f"{name_b}'s at {len(comparison['b_lower'])}; widest gap {example}.")
    winner, loser = (name_a, name_b) if comparison["verdict"] == "a" else (name_b, name_a)
    return (f"{winner} dominates {loser}: at every test accuracy both reach (up to {reach:.2f}), {winner}'s lowest "
            f"attack accuracy is lower or equal; widest gap {example}.")


def format_comparison(results: ComparisonResults) -> str:
    """The comparison as a plain-text table (value [95% interval]; with the judge panel, its median and range per
    attack) followed by each attack's frontier sentence."""
    panel = bool(results.panel_judges)
    header = ["setting", "epsilon", "test acc"]
    for attack in results.attacks:
        header += [f"{attack} top-1", *([f"{attack} panel"] if panel else [])]
    lines = []
    for row in results.summary:
        cells = []
        for attack in results.attacks:
            scores = row.attacks.get(attack)
            cells.append(format_estimate(scores.top1, sep=",") if scores else "-")
            if panel:
                cells.append(panel_cell(scores.panel if scores else None))
        epsilon = f"{row.epsilon:.3g}" if row.epsilon is not None else "-"
        lines.append([row.label, epsilon, format_estimate(row.test_accuracy, sep=","), *cells])
    render = text_table(header, lines)
    if panel:
        render += [PANEL_CELL_LEGEND, judges_line(results.panel_judges)]
    render += [f"{attack}: {report.sentence} {report.control} {panel_frontier_text(report)}".rstrip()
               for attack, report in results.frontiers.items()]
    return "\n".join(render)


def ship(results: dict[str, Any], folder: Path) -> Path:
    """Copy a comparison into `folder` (assets/comparisons) with its reconstruction grids beside it, paths made
    relative and machine-specific store paths dropped, so the dashboard shows it on any machine. The judge panel
    ships pooled per setting (the summary's); each point's answers, judge by judge, stay in the results file."""
    key = results["config_hash"]
    points = []
    for point in results["points"]:
        attacks = {}
        for name, scores in point["attacks"].items():
            attacks[name] = {**{k: v for k, v in scores.items() if k != "panel"},
                             "grid_path": ship_grid(scores["grid_path"], folder, key, scores["attack_key"])}
        points.append({k: v for k, v in point.items() if k != "model_path"} | {"attacks": attacks})
    path = comparison_path(folder, key)
    write_json_atomic(path, shipped_figures({**results, "points": points}), compact=True)
    prune_grids(folder, key, {scores["grid_path"] for point in points for scores in point["attacks"].values()})
    return path
