"""The judge panel: every attack result scored by judges of different families, so no single judge's quirk
(a "sink" class it gives most reconstructions to) decides a figure.

The panel (core.config.panel_judges) is the sweep's own judge, a residual net trained the same way, and
Fisherfaces (PCA + LDA on the pixels). Reconstructions are stored as tensors, so a stored sweep, comparison or
study is rescored without re-running any attack: `python -m core panel --results FILE` adds the panel's figures
to the file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core.attacks.base import from_uint8
from core.config import EvaluatorConfig, panel_judges
from core.data import PreparedData
from core.engine import Engine
from core.errors import ReportError, SchemaError, StoreError
from core.files import json_content, write_json_atomic
from core.gallery import MANIFEST, ZOO_DIR, read_zoo
from core.metrics import panel_scores
from core.results import read_results, typed_results
from core.stored_config import config_hash, sweep_from_dict
from core.summaries import compare_frontiers, setting, summarise_group
from core.verdicts import reference_verdicts

Judges = list[tuple[str, str, nn.Module, dict[str, float]]]


def panel_for(engine: Engine, evaluator: EvaluatorConfig, data: PreparedData) -> Judges:
    """The panel's judges for `evaluator`'s data, each trained (or fitted) once and stored like any judge:
    (family, key, judge, held-out accuracy)."""
    judges = []
    for config in panel_judges(evaluator):
        judge, record, _ = engine.evaluator(config, data)
        judges.append((config.arch, record["config_hash"], judge, record["heldout_accuracy"]))
    return judges


def score_with_panel(judges: Judges, reconstructions: torch.Tensor, data: PreparedData,
                     device: torch.device) -> dict[str, Any]:
    """Every judge's figures on one attack's reconstructions (one per identity, in label order)."""
    classes = data.images.num_classes
    return panel_scores(judges, reconstructions, torch.arange(len(reconstructions)), classes, device)


def summarise_panel(runs: list[dict[str, Any]], lambdas: tuple[float, ...]) -> list[dict[str, Any]]:
    """Per lambda that the panel scored: its scores over the seeds pooled (pool_panel)."""
    rows = []
    for mid_lambda in lambdas:
        group = [run["panel"] for run in runs if run["lambda"] == mid_lambda and "panel" in run]
        if group:
            rows.append({"lambda": mid_lambda, **pool_panel(group)})
    return rows


def pool_panel(group: list[dict[str, Any]]) -> dict[str, Any]:
    """The panel's scores of one setting's seeds: each judge's top-1 averaged over seeds, the panel's median and
    range of those, how many people every judge names (averaged over seeds), and the judges the sink rule flags in
    any seed."""
    names = [judge["name"] for judge in group[0]["judges"]]
    top1 = {name: float(np.mean([p["judges"][i]["top1"]["value"] for p in group])) for i, name in enumerate(names)}
    values = list(top1.values())
    return {"seeds": len(group), "top1": top1, "median": float(np.median(values)), "range": [min(values), max(values)],
            "identified_by_all": float(np.mean([p["identified_by_all"] for p in group])), "n": group[0]["n"],
            "flagged": sorted({name for p in group for name in p["flagged"]})}


def stored_reconstructions(engine: Engine) -> Callable[[str, str], torch.Tensor]:
    """An attack's reconstructions, by its key, as `engine`'s store holds them (an error naming the attack, as
    `what` describes it, and saying where to look when the store does not hold them)."""
    def images(attack_key: str, what: str) -> torch.Tensor:
        loaded = engine.store.load("attacks", attack_key)
        if loaded is None:
            raise StoreError(f"the store {engine.store.root} does not hold the reconstructions of attack "
                             f"{attack_key} ({what}): point --store at the store the results were made with, or "
                             "run them again")
        return loaded[0]["images"]
    return images


def add_panel(results: dict[str, Any], engine: Engine,
              reconstructions: Callable[[dict[str, Any]], torch.Tensor] | None = None) -> dict[str, Any]:
    """A sweep's results with the panel's figures for every run (`panel`) and per lambda (`panel_summary`), each
    run's reconstructions read by `reconstructions` (default: from the store): no attack runs again."""
    config = sweep_from_dict(results["config"])
    data = PreparedData.load(config.target.data, engine.data_root)
    judges = panel_for(engine, config.evaluator, data)
    if reconstructions is None:
        stored = stored_reconstructions(engine)

        def reconstructions(run: dict[str, Any]) -> torch.Tensor:
            return stored(run["attack_key"], f"lambda {run['lambda']:g}, seed {run['seed']}")
    runs = [{**run, "panel": score_with_panel(judges, reconstructions(run), data, engine.device)}
            for run in results["runs"]]
    return {**results, "runs": runs, **panel_fields(runs, config.lambdas, judges)}


def add_panel_to_zoo(engine: Engine, folder: Path = ZOO_DIR) -> dict[str, Any]:
    """Rescore every sweep of the shipped zoo with the panel, from its shipped 8-bit reconstructions (what a fresh
    clone's judges see), and rewrite its manifest atomically; nothing else in it changes."""
    path = folder / MANIFEST
    manifest = json_content(path)
    shipped = {sweep.key: sweep for sweep in read_zoo(folder)}  # checks the manifest and, per file, its SHA-256
    sweeps = []
    for results in manifest["sweeps"]:
        sweep = shipped[results["config_hash"]]
        sweeps.append(add_panel(results, engine, lambda run, sweep=sweep: from_uint8(
            torch.from_numpy(sweep.shipped(run["reconstructions_file"])["images"]))))
    manifest = {**manifest, "sweeps": sweeps}
    write_json_atomic(path, manifest, compact=True)
    return manifest


def panel_fields(runs: list[dict[str, Any]], lambdas: tuple[float, ...], judges: Judges) -> dict[str, Any]:
    """What a sweep's results file holds about its panel besides each run's `panel`: the summary per lambda and
    the judges with their held-out accuracy."""
    return {"panel_summary": summarise_panel(runs, lambdas), "panel_judges": judges_held_out(judges)}


def judges_held_out(judges: Judges) -> list[dict[str, Any]]:
    return [{"name": name, "key": key, "heldout_accuracy": heldout} for name, key, _, heldout in judges]


def add_panel_to_comparison(results: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """A comparison's results with the panel's figures for every attack of every point (`panel` beside its
    figures), pooled per defense setting in the summary, and the judges (`panel_judges`); reconstructions are read
    from the store, so no attack runs again."""
    sweep = typed_results(results).settings.sweep
    data = PreparedData.load(sweep.target.data, engine.data_root)
    judges = panel_for(engine, sweep.evaluator, data)
    images = stored_reconstructions(engine)
    points = [{**point, "attacks": {name: {**scores, "panel": score_with_panel(
        judges, images(scores["attack_key"], f"{name} on {point['label']}, seed {point['seed']}"), data,
        engine.device)} for name, scores in point["attacks"].items()}} for point in results["points"]]
    summary = [{**row, "attacks": {name: {**scores, "panel": pool_panel(
        [p["attacks"][name]["panel"] for p in points if setting(p) == setting(row)])}
        for name, scores in row["attacks"].items()}} for row in results["summary"]]
    frontiers = {attack: {**report, "panel": panel_frontiers(summary, attack, [name for name, *_ in judges])}
                 for attack, report in results["frontiers"].items()}
    return {**results, "points": points, "summary": summary, "frontiers": frontiers,
            "panel_judges": judges_held_out(judges)}


def panel_frontiers(summary: list[dict[str, Any]], attack: str, names: list[str]) -> dict[str, str]:
    """Per panel judge, the frontier comparison of MID and DP-SGD against `attack` (core.compare.frontier_report's
    verdict: 'a' MID dominates, 'b' DP-SGD dominates, 'mixed', 'tie', 'no overlap') with that judge's top-1."""
    def xy(defense: str, name: str) -> list[tuple[float, float]]:
        return [(row["test_accuracy"]["value"], row["attacks"][attack]["panel"]["top1"][name])
                for row in summary if row["defense"] == defense and attack in row["attacks"]]

    return {name: compare_frontiers(xy("mid", name), xy("dpsgd", name))["verdict"] for name in names}


def add_panel_to_study(results: dict[str, Any], engine: Engine) -> dict[str, Any]:
    """A study's results with the panel's figures for every point's attack (`panel` beside its figures), pooled
    per row of each regime, and each regime's judges (`panel_judges`): its own judge is the panel's first."""
    images = stored_reconstructions(engine)
    regimes = []
    loaded: dict[str, PreparedData] = {}
    panels: dict[str, Judges] = {}  # regimes mostly share their data and judge: each loaded once
    for regime, (_, config) in zip(results["regimes"], typed_results(results).settings.regimes(), strict=True):
        data_hash, judge_hash = config_hash(config.target.data), config_hash(config.evaluator)
        if data_hash not in loaded:
            loaded[data_hash] = PreparedData.load(config.target.data, engine.data_root)
        data = loaded[data_hash]
        if judge_hash not in panels:
            panels[judge_hash] = panel_for(engine, config.evaluator, data)
        judges = panels[judge_hash]
        points = [{**point, "attack": {**point["attack"], "panel": score_with_panel(
            judges, images(point["attack_key"], f"{point['label']}, seed {point['seed']}"), data, engine.device)}}
            for point in regime["points"]]
        of_row = {(row["defense"], row["lambda"]): [p for p in points if (p["defense"], p["lambda"]) ==
                                                     (row["defense"], row["lambda"])] for row in regime["rows"]}
        rows = [{**row, "panel": pool_panel([p["attack"]["panel"] for p in of_row[row["defense"], row["lambda"]]])}
                for row in regime["rows"]]
        regimes.append({**regime, "points": points, "rows": rows, "panel_judges": judges_held_out(judges),
                        "panel_verdicts": [judge_verdicts(name, index, rows, of_row)
                                           for index, (name, *_) in enumerate(judges)]})
    return {**results, "regimes": regimes}


def judge_verdicts(name: str, index: int, rows: list[dict[str, Any]],
                   of_row: dict[tuple[str, float | None], list[dict[str, Any]]]) -> dict[str, Any]:
    """The study's rule applied with one panel judge's top-1 (the `index`-th, pooled over seeds as the study's
    own figure is) in place of the regime judge's: its verdicts against both references."""
    path = ("attack", "panel", "judges", index, "top1")
    judged = [{**row, "attack_top1": summarise_group(of_row[row["defense"], row["lambda"]],
                                                     {"attack_top1": path})["attack_top1"]} for row in rows]
    against_none, against_mid = reference_verdicts(judged)
    return {"name": name, "verdict": against_none["verdict"], "verdict_mid_reference": against_mid["verdict"]}


ADD_PANEL = {"sweep": add_panel, "comparison": add_panel_to_comparison, "study": add_panel_to_study}


def add_panel_to_file(path: Path, engine: Engine) -> dict[str, Any]:
    """Rescore a sweep's, comparison's or study's results file with the panel and rewrite it atomically (its hash
    is unchanged)."""
    try:
        results = read_results(path, tuple(ADD_PANEL))
    except SchemaError as error:
        raise ReportError(str(error)) from None
    results = ADD_PANEL[results["kind"]](results, engine)
    write_json_atomic(path, results)
    return results


def format_panel(results: dict[str, Any]) -> str:
    """The panel's figures per lambda as plain text; a judge flagged by the sink rule is marked with '!'."""
    lines = []
    for row in results.get("panel_summary", []):
        judges = ", ".join(f"{name} {value:.2f}{'!' if name in row['flagged'] else ''}"
                           for name, value in row["top1"].items())
        lines.append(f"lambda {row['lambda']:<7g} panel top-1 median {row['median']:.2f} "
                     f"[range {row['range'][0]:.2f} to {row['range'][1]:.2f}]; {judges}; all judges name "
                     f"{row['identified_by_all']:g} of {row['n']}")
    held = ", ".join(f"{judge['name']} {judge['heldout_accuracy']['value']:.3f}"
                     for judge in results.get("panel_judges", []))
    if held:
        lines.append(f"panel judges' held-out accuracy: {held}; '!': the judge gives one person a share of the "
                     "reconstructions far above uniform (the sink rule, docs/method.md): its figure is unreliable")
    return "\n".join(lines)
