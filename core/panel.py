"""The judge panel: every attack result scored by judges of different families, so no single judge's quirk
(a "sink" class it gives most reconstructions to) decides a figure.

The panel (core.config.panel_judges) is the sweep's own judge, a residual net trained the same way, and
Fisherfaces (PCA + LDA on the pixels). Reconstructions are stored as tensors, so a stored sweep is rescored
without re-running any attack: `python -m core panel --results FILE` adds the panel's figures to the file.
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
from core.results import read_results
from core.stored_config import sweep_from_dict

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
    """Per lambda: each judge's top-1 averaged over seeds, the panel's median and range of those, how many
    people every judge names (averaged over seeds), and the judges the sink rule flags in any seed."""
    rows = []
    for mid_lambda in lambdas:
        group = [run["panel"] for run in runs if run["lambda"] == mid_lambda and "panel" in run]
        if not group:
            continue
        names = [judge["name"] for judge in group[0]["judges"]]
        top1 = {name: float(np.mean([p["judges"][i]["top1"]["value"] for p in group])) for i, name in enumerate(names)}
        values = list(top1.values())
        rows.append({"lambda": mid_lambda, "seeds": len(group), "top1": top1, "median": float(np.median(values)),
                     "range": [min(values), max(values)],
                     "identified_by_all": float(np.mean([p["identified_by_all"] for p in group])),
                     "n": group[0]["n"], "flagged": sorted({name for p in group for name in p["flagged"]})})
    return rows


def stored_reconstructions(engine: Engine) -> Callable[[dict[str, Any]], torch.Tensor]:
    """A run's reconstructions as `engine`'s store holds them (an error saying where to look when it does not)."""
    def images(run: dict[str, Any]) -> torch.Tensor:
        loaded = engine.store.load("attacks", run["attack_key"])
        if loaded is None:
            raise StoreError(f"the store {engine.store.root} does not hold the reconstructions of attack "
                             f"{run['attack_key']} (lambda {run['lambda']:g}, seed {run['seed']}): point --store at "
                             "the store the sweep ran with, or run the sweep again")
        return loaded[0]["images"]
    return images


def add_panel(results: dict[str, Any], engine: Engine,
              reconstructions: Callable[[dict[str, Any]], torch.Tensor] | None = None) -> dict[str, Any]:
    """A sweep's results with the panel's figures for every run (`panel`) and per lambda (`panel_summary`), each
    run's reconstructions read by `reconstructions` (default: from the store): no attack runs again."""
    config = sweep_from_dict(results["config"])
    data = PreparedData.load(config.target.data, engine.data_root)
    judges = panel_for(engine, config.evaluator, data)
    images = reconstructions or stored_reconstructions(engine)
    runs = [{**run, "panel": score_with_panel(judges, images(run), data, engine.device)} for run in results["runs"]]
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
    return {"panel_summary": summarise_panel(runs, lambdas),
            "panel_judges": [{"name": name, "key": key, "heldout_accuracy": heldout}
                             for name, key, _, heldout in judges]}


def add_panel_to_file(path: Path, engine: Engine) -> dict[str, Any]:
    """Rescore a sweep's results file with the panel and rewrite it atomically (its hash is unchanged)."""
    try:
        results = read_results(path)
    except SchemaError as error:
        raise ReportError(str(error)) from None
    results = add_panel(results, engine)
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
