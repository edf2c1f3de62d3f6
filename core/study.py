"""A regime study: does MID lower attack accuracy at equal test accuracy, and under which conditions?

Lambda is swept jointly with one regime factor (StudyConfig: images per identity, identities, width, depth,
bottleneck size k, epochs, attack, attacker view, and two controls: label smoothing of every model, and MID
models deployed predicting from mu), every other setting fixed and recorded with the results. Per level of the
factor: an undefended model and a MID model per lambda, each trained over at least three seeds, attacked and
scored by the regime's judge, pooled over seeds (mean with a 95% t-interval), and judged by `verdict`.
Everything is trained and attacked through the Engine, so a rerun reuses every stored model and attack.
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
    STAGES,
    Done,
    Executor,
    LocalExecutor,
    Unit,
    attack_unit,
    data_key,
    gather,
    judge_unit,
    schedule,
    target_unit,
    units_done,
)
from core.files import write_json_atomic
from core.panel import add_panel_to_study
from core.panel_claims import PANEL_CELL_LEGEND, judges_line, panel_cell
from core.result_types import StudyResults
from core.results import attack_sink, format_estimate, prune_grids, ship_grid, shipped_figures, text_table
from core.runtime import Timings, environment, peak_memory_mb, timestamp
from core.stored_config import config_hash, to_dict
from core.study_design import StudyConfig
from core.study_figures import mid_reference_line, panel_verdict_line
from core.summaries import ATTACK_ESTIMATES, compare_frontiers, frontier, summarise_rows
from core.sweep_config import SweepConfig
from core.verdicts import MID_REFERENCE, REFERENCE_NAMES, RULE, finding, reference_verdicts, row_label


def study_path(out_dir: Path, study_hash: str) -> Path:
    return Path(out_dir) / f"study_{study_hash}.json"


def run_study(config: StudyConfig, engine: Engine, out_dir: Path,
              on_point: Callable[[dict[str, Any]], None] | None = None,
              executor: Executor | None = None, panel: bool = False) -> dict[str, Any]:
    """Train (or load) and attack every model of every regime, here or on a cluster (`executor`; default: in
    this process), judge each regime and write the study file atomically; `on_point` sees each (regime, model,
    seed) point as soon as it is scored. With `panel`, every attack is also scored by the judge panel (core.panel,
    here, from the stored reconstructions)."""
    executor = executor or LocalExecutor()
    timings = Timings()
    start = time.perf_counter()
    prepared: dict[str, PreparedData] = {}
    regime_timings: list[Timings] = []
    plan: list[tuple[int, str, float | None, int, Unit, Unit]] = []  # (regime, defense, lambda, seed, target, attack)
    judges, classes = [], []
    for index, (_, regime) in enumerate(config.regimes()):
        regime_timings.append(Timings())
        key = data_key(regime.target.data)
        with timings.stage("load_data_s"), regime_timings[index].stage("load_data_s"):
            if key not in prepared:
                prepared[key] = PreparedData.load(regime.target.data, engine.data_root)
        classes.append(prepared[key].images.num_classes)
        judges.append(judge_unit(regime.evaluator))
        for seed in regime.seeds:
            models = [("none", None, *config.undefended(regime, seed)),
                      (MID_REFERENCE, 0.0, *config.mid_reference(regime, seed))]
            models += [("mid", value, regime.target_for(value, seed), regime.attack) for value in regime.lambdas]
            for defense, mid_lambda, target_config, attack in models:
                target = target_unit(target_config)
                plan.append((index, defense, mid_lambda, seed, target, attack_unit(target, judges[index], attack)))
    points: list[list[dict[str, Any]]] = [[] for _ in regime_timings]

    def scored(number: int, done: dict[str, Done]) -> None:
        index, defense, mid_lambda, seed, target, attack = plan[number]
        record, attack_record = done[target.key].record, done[attack.key].record
        points[index].append({
            "level": config.levels[index], "defense": defense, "lambda": mid_lambda, "seed": seed,
            "label": row_label(defense, mid_lambda), "target_key": target.key, "attack_key": attack.key,
            "model_path": str(engine.store.path("targets", target.key)),
            "grid_path": str(engine.store.path("attacks", attack.key) / "reconstructions.png"),
            "test": record["test"]["deployed"], "final_kl": record["history"][-1].get("kl"),
            "test_queried": record["test"]["by_mode"][queried_mode(target.config.model.head, attack.config.view)],
            "attack": {figure: attack_record["scores"][figure] for figure in ATTACK_ESTIMATES}
            | {"sink": attack_sink(attack_record["scores"], classes[index])},
            "reused": {"target": done[target.key].reused, "attack": done[attack.key].reused},
            # What computing them took when they were made, reused or not: a rerun's own time says little.
            "compute_s": {"target": _seconds(record), "attack": _seconds(attack_record)},
        })
        if on_point:
            on_point(points[index][-1])

    done = gather(executor, engine, prepared, [(target, attack) for *_, target, attack in plan], scored, timings)
    counted: set[str] = set()  # a unit two regimes share counts in the first one's timings
    for index, *_, attack in plan:
        for unit in schedule([attack]):
            if unit.key not in counted:
                counted.add(unit.key)
                regime_timings[index].add(STAGES[unit.kind], done[unit.key].seconds)
    regimes = []
    for index, (level, regime) in enumerate(config.regimes()):
        judge_record = done[judges[index].key].record
        regimes.append(judge_regime(config.factor, level, regime, points[index])
                       | {"data": prepared[data_key(regime.target.data)].summary(),
                          "timings": dict(regime_timings[index]),
                          "evaluator": {"key": judges[index].key, "heldout_accuracy": judge_record["heldout_accuracy"],
                                        "compute_s": _seconds(judge_record)}})
    results = {
        "kind": "study", "config": to_dict(config), "config_hash": config_hash(config), "created": timestamp(),
        "factor": config.factor, "levels": list(config.levels), "lambdas": list(config.base.lambdas),
        "seeds": list(config.base.seeds), "rule": RULE, "regimes": regimes,
        "verdicts": [{"level": r["level"], "verdict": r["verdict"]["verdict"],
                      "verdict_mid_reference": r["verdict_mid_reference"]["verdict"]} for r in regimes],
        "findings": [r["finding"] for r in regimes],
        "findings_mid_reference": [r["finding_mid_reference"] for r in regimes],
        "environment": environment(engine.device), "executor": executor.describe(), "units": units_done(done),
        "timings": dict(timings),
        "wall_s": round(time.perf_counter() - start, 3), "peak_memory_mb": peak_memory_mb(),
        "compute_s": compute_seconds(regimes),
    }
    if panel:
        results = add_panel_to_study(results, engine)
    write_json_atomic(study_path(out_dir, results["config_hash"]), results)
    return results


def _seconds(record: dict[str, Any]) -> float:
    return round(sum(v for v in record.get("timings", {}).values() if isinstance(v, (int, float))), 3)


def compute_seconds(regimes: list[dict[str, Any]]) -> float:
    """Seconds that computing the study's judges, models and attacks took when each was made, every one counted
    once however many regimes share it: the study's cost from an empty store, however much this run reused."""
    parts = {("judge", r["evaluator"]["key"]): r["evaluator"]["compute_s"] for r in regimes}
    for point in (p for r in regimes for p in r["points"]):
        parts[("target", point["target_key"])] = point["compute_s"]["target"]
        parts[("attack", point["attack_key"])] = point["compute_s"]["attack"]
    return round(sum(parts.values()), 1)


def ship(results: dict[str, Any], folder: Path) -> Path:
    """Copy a study into `folder` (assets/studies) with the reconstruction grids the Findings page shows (each
    row's first seed; the other seeds' figures stay, their grids do not ship), paths made relative and
    machine-specific store paths dropped, so the dashboard shows it on any machine. The judge panel ships pooled
    per row with its verdicts; each point's answers, judge by judge, stay in the results file."""
    key = results["config_hash"]
    first_seed = min(results["seeds"])
    regimes = []
    for regime in results["regimes"]:
        points = []
        for point in regime["points"]:
            kept = {k: v for k, v in point.items() if k not in ("model_path", "grid_path")}
            kept["attack"] = {k: v for k, v in point["attack"].items() if k != "panel"}
            if point["seed"] == first_seed:
                kept["grid_path"] = ship_grid(point["grid_path"], folder, key, point["attack_key"])
            points.append(kept)
        regimes.append({**regime, "points": points})
    path = study_path(folder, key)
    write_json_atomic(path, shipped_figures({**results, "regimes": regimes}), compact=True)
    prune_grids(folder, key, {point["grid_path"] for regime in regimes for point in regime["points"]
                              if "grid_path" in point})
    return path


def judge_regime(factor: str, level: Any, regime: SweepConfig, points: list[dict[str, Any]]) -> dict[str, Any]:
    """A regime's rows, MID's frontier against the undefended model, the verdict and its finding in words."""
    rows = summarise_rows(points)
    mid_rows = [r for r in rows if r["defense"] == "mid"]
    mid_xy, none_xy = _xy(mid_rows), _xy([r for r in rows if r["defense"] == "none"])
    judged, against_mid = reference_verdicts(rows)
    comparison = compare_frontiers(mid_xy, none_xy)
    return {
        "level": level, "sweep_hash": config_hash(regime), "points": points, "rows": rows,
        "frontier": [mid_rows[i]["label"] for i in frontier(mid_xy)],
        "frontier_comparison": {key: comparison.get(key) for key in ("verdict", "reach", "a_lower", "b_lower")},
        "verdict": judged, "finding": finding(factor, level, judged),
        "verdict_mid_reference": against_mid,
        "finding_mid_reference": finding(factor, level, against_mid, REFERENCE_NAMES[MID_REFERENCE]),
    }


def _xy(rows: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(r["test_accuracy"]["value"], r["attack_top1"]["value"]) for r in rows]


def format_study(results: StudyResults) -> str:
    """Per regime a plain-text table (value [95% interval]; with the judge panel, its median and range) with MID's
    frontier marked, then its finding."""
    render = [f"study of {results.factor} ({len(results.seeds)} seeds per point): {results.rule}"]
    for regime in results.regimes:
        panel = bool(regime.panel_judges)
        header = ["setting", "seeds", "test acc", "attack top-1", "attack top-5", *(["panel top-1"] if panel else []),
                  "frontier"]
        lines = [[row.label, str(row.seeds), format_estimate(row.test_accuracy, sep=","),
                  format_estimate(row.attack_top1, sep=","), format_estimate(row.attack_top5, sep=","),
                  *([panel_cell(row.panel)] if panel else []), "*" if row.label in regime.frontier else ""]
                 for row in regime.rows]
        render += ["", f"== {results.factor} = {regime.level} ==", *text_table(header, lines),
                   *([PANEL_CELL_LEGEND, judges_line(regime.panel_judges)] if panel else []),
                   f"verdict: {regime.verdict.verdict}. {regime.finding}", mid_reference_line(regime),
                   *([panel_verdict_line(regime)] if regime.panel_verdicts else [])]
    render += ["", "verdicts against the undefended model: "
               + ", ".join(f"{regime.level}: {regime.verdict.verdict}" for regime in results.regimes),
               "verdicts against the MID lambda=0 reference: "
               + ", ".join(f"{regime.level}: " + (regime.verdict_mid_reference.verdict if regime.verdict_mid_reference
                                                  else "not computed") for regime in results.regimes)]
    return "\n".join(render)
