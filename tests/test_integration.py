"""End to end on the real ORL faces with short settings: train, attack, score, store, reuse."""

import json

import pytest
import torch

import core.attacks
import core.makers
from core.config import DataConfig
from core.data import PreparedData
from core.errors import TrainingDiverged
from core.results import load_results, results_path
from core.stored_config import config_hash
from core.sweep import run_sweep
from core.train import Trainer

pytestmark = pytest.mark.slow


def test_lambda_zero_learns_and_a_huge_lambda_destroys_utility_and_attack(sweep):
    _, results, _ = sweep
    free, squeezed = results["summary"]
    assert free["test_accuracy"]["value"] >= 0.85
    assert squeezed["test_accuracy"]["value"] <= 0.3
    assert free["attack_top1"]["value"] >= squeezed["attack_top1"]["value"] + 0.25
    assert free["attack_top5"]["value"] > squeezed["attack_top5"]["value"]
    assert squeezed["entropy"]["value"] > free["entropy"]["value"]


def test_results_file_records_everything(sweep, short_config):
    engine, results, root = sweep
    saved = load_results(results_path(root / "results", config_hash(short_config)))
    assert saved["config_hash"] == config_hash(short_config) == results["config_hash"]
    assert saved["evaluator"]["heldout_accuracy"]["n"] == 120
    assert saved["evaluator"]["real_image_distance"]["n"] == 120
    for run in saved["runs"]:
        assert (engine.store.path("targets", run["target_key"]) / "tensors.safetensors").exists()
        assert json.loads((engine.store.path("targets", run["target_key"]) / "record.json").read_text())["environment"]
        assert (root / "store" / "attacks" / run["attack_key"] / "reconstructions.png").exists()
        assert len(run["attack"]["per_identity"]) == 40
        for rate in ("top1", "top5"):
            figure = run["attack"][rate]
            assert figure["low"] <= figure["value"] <= figure["high"] and figure["n"] == 40
        assert set(run["test_by_mode"]) == {"sample", "mean", "mu"}
    assert {"train_s", "attack_s", "evaluator_s"} <= set(saved["timings"])


def test_miface_raises_the_target_confidence_and_records_its_trajectory(sweep):
    engine, results, _ = sweep
    tensors, _ = engine.store.load("attacks", results["runs"][0]["attack_key"])
    assert tensors["images"].shape == (40, 1, 64, 64)
    assert tensors["images"].min() >= 0.0 and tensors["images"].max() <= 1.0
    assert tensors["steps"].tolist() == [0, 10, 20, 30, 40, 50, 60]
    assert tensors["trajectory"].shape == (7, 40, 1, 64, 64) and tensors["trajectory"].dtype == torch.uint8
    confidence = tensors["target_confidence"]
    assert confidence[-1].mean() > 0.5  # chance is 1/40
    assert confidence[-1].mean() > confidence[0].mean() + 0.3


def test_a_stored_sweep_trains_and_attacks_nothing(sweep, short_config, monkeypatch):
    engine, results, root = sweep

    def refuse(*args, **kwargs):
        raise AssertionError("trained although everything was stored")

    monkeypatch.setattr(Trainer, "run", refuse)
    monkeypatch.setattr(core.attacks, "run_miface", refuse)  # what the registry's MI-Face calls
    again = run_sweep(short_config, engine, root / "results")
    assert all(run["reused"] == {"target": True, "attack": True} for run in again["runs"])
    assert again["summary"] == results["summary"]


def test_a_diverging_run_stores_nothing(sweep, short_config, monkeypatch):
    engine, _, _ = sweep
    original = core.makers.mid_objective

    def poisoned(mid_lambda, label_smoothing):
        objective = original(mid_lambda, label_smoothing)
        return lambda model, x, y: (objective(model, x, y)[0] * float("inf"), {})

    monkeypatch.setattr(core.makers, "mid_objective", poisoned)
    config = short_config.target_for(0.5, seed=7)
    data = PreparedData.load(DataConfig(), engine.data_root)
    with pytest.raises(TrainingDiverged):
        engine.target(config, data)
    assert not engine.store.path("targets", config_hash(config)).exists()
