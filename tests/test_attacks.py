"""The GAN prior, the GMI-style attack and the black-box inversion network, on the real ORL target of the
session's short sweep (tests/conftest.py), with short settings."""

import dataclasses

import pytest
import torch

from core.attacks import attacker_query
from core.attacks.inversion import encode_vector
from core.config import (
    AttackConfig,
    GMIConfig,
    InversionConfig,
    MIFaceConfig,
    PriorConfig,
    config_hash,
    framed_for,
    hash_view,
    sweep_defaults,
)
from core.data import PreparedData
from core.engine import SHIPPED, AttackRun, Engine
from core.metrics import log_probs
from core.prior import GAN
from core.store import Store

pytestmark = pytest.mark.slow

QUICK_GMI = GMIConfig(steps=12, restarts=2, candidates=200, record_every=4)
QUICK_INVERSION = InversionConfig(width=8, epochs=4, images=1500)


def _target(sweep, short_config):
    engine, results, _ = sweep
    data = PreparedData.load(short_config.target.data, engine.data_root)
    judge, judge_record, _ = engine.evaluator(short_config.evaluator, data)
    model, _, _ = engine.target(short_config.target_for(0.0, 0), data)
    return engine, data, model, results["runs"][0]["target_key"], judge, judge_record["config_hash"]


def _chance_and_confidence(result, data) -> tuple[float, float]:
    return 1 / data.images.num_classes, float(result.target_confidence[-1].mean())


@pytest.mark.parametrize("dataset", ["lfw", "orl"])
def test_the_shipped_priors_load_and_draw_different_faces(dataset):
    config = framed_for(dataset, AttackConfig()).prior
    gan = GAN(config)
    record = SHIPPED.load_model("priors", config_hash(config), gan)
    assert record is not None, f"assets/store lacks the {dataset} prior: run `python -m core prior --dataset {dataset}`"
    assert record["config_hash"] == config_hash(config) and record["images"] == 10210
    with torch.no_grad():
        faces = gan.eval().generator(gan.sample_latent(16, torch.Generator().manual_seed(0)))
    assert faces.shape == (16, 1, 64, 64) and faces.min() >= 0 and faces.max() <= 1
    differences = (faces.unsqueeze(0) - faces.unsqueeze(1)).abs().flatten(2).mean(2)
    off_diagonal = differences[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.min() > 0.02, "the prior draws (nearly) the same image for different codes"


def test_the_shipped_lfw_judge_serves_an_empty_store(lfw_dir, tmp_path):
    """LFW's default judge ships (half an hour of CPU to train): an engine over an empty store loads it."""
    config = sweep_defaults("lfw").evaluator
    data = PreparedData.load(config.data, lfw_dir.parent)
    engine = Engine(Store(tmp_path / "store"), lfw_dir.parent, torch.device("cpu"))
    judge, record, reused = engine.evaluator(config, data)
    assert reused, "assets/store lacks LFW's default judge: run `python -m core judge`"
    assert record["config_hash"] == config_hash(config) and not (tmp_path / "store" / "evaluators").exists()
    assert record["heldout_accuracy"]["n"] == 650 and record["heldout_accuracy"]["value"] >= 0.85
    assert record["config"]["photometric"] is False
    # Its last stage saw every private photo, so it names the test photos' people almost without fail.
    test_x, test_y = data.test()
    assert (log_probs(judge, test_x, engine.device).argmax(1) == test_y).float().mean() > 0.95


def test_gmi_raises_the_targets_confidence_far_above_chance(sweep, short_config):
    engine, data, model, target_key, judge, judge_key = _target(sweep, short_config)
    attack = framed_for("orl", AttackConfig(attack="gmi", gmi=QUICK_GMI))
    result, record, reused = engine.attack(model, target_key, attack, judge, judge_key, data)
    chance, confidence = _chance_and_confidence(result, data)
    assert not reused
    assert result.images.shape == (40, 1, 64, 64)
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert confidence > 10 * chance
    assert result.steps == [0, 4, 8, 12]
    assert record["prior_key"] == config_hash(attack.prior)
    assert record["scores"]["top1"]["n"] == 40
    # Asked again, it is loaded, not recomputed.
    again, _, reused = engine.attack(model, target_key, attack, judge, judge_key, data)
    assert reused and torch.equal(again.images, result.images)


@pytest.mark.parametrize("view", ["sample", "mean"])
def test_gmi_works_with_every_attacker_view(sweep, short_config, view):
    engine, data, model, _, _, _ = _target(sweep, short_config)
    gan, _, _ = engine.prior(framed_for("orl", AttackConfig()).prior)
    from core.attacks import run_gmi

    query = attacker_query(model, view, 4)
    result = run_gmi(query, torch.arange(4), gan, dataclasses.replace(QUICK_GMI, steps=6))
    assert result.images.shape == (4, 1, 64, 64)
    assert float(result.target_confidence[-1].mean()) > 10 / data.images.num_classes


def test_gmi_keeps_its_codes_inside_the_latent_bound(sweep, short_config):
    """With a bound near zero every code is pinned near the origin, so every identity gets the generator's
    image of the origin, however hard the target pulls; without the bound the codes move away from it."""
    from core.attacks import run_gmi
    from core.models import frozen_for_queries

    engine, _, model, _, _, _ = _target(sweep, short_config)
    gan, _, _ = engine.prior(framed_for("orl", AttackConfig()).prior)
    query = attacker_query(model, "mu", 4)
    with torch.no_grad():
        origin = frozen_for_queries(gan).generator(torch.zeros(1, gan.config.latent_dim))
    quick = dataclasses.replace(QUICK_GMI, steps=4)
    pinned = run_gmi(query, torch.arange(4), gan, dataclasses.replace(quick, latent_bound=1e-4))
    free = run_gmi(query, torch.arange(4), gan, dataclasses.replace(quick, latent_bound=0.0))
    assert (pinned.images - origin).abs().max() < 0.01
    assert (free.images - origin).abs().amax((1, 2, 3)).min() > 0.1


def test_inversion_network_learns_and_inverts_from_outputs_only(sweep, short_config):
    engine, data, model, target_key, judge, judge_key = _target(sweep, short_config)
    attack = framed_for("orl", AttackConfig(attack="inversion", inversion=QUICK_INVERSION))
    result, record, _ = engine.attack(model, target_key, attack, judge, judge_key, data)
    losses = [epoch["mse"] for epoch in record["history"]]
    assert losses[-1] < losses[0] * 0.8, losses
    assert result.images.shape == (40, 1, 64, 64)
    assert result.images.min() >= 0 and result.images.max() <= 1
    chance, confidence = _chance_and_confidence(result, data)
    assert confidence > 5 * chance
    assert result.steps == list(range(QUICK_INVERSION.epochs + 1))
    assert record["public_images"] == QUICK_INVERSION.images


def test_truncation_keeps_only_the_top_k_entries():
    log_p = torch.log_softmax(torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 0.5, 4.0, 2.0]]), dim=1)
    kept = encode_vector(log_p, top_k=2)
    assert (kept > 0).sum(1).tolist() == [2, 2]
    assert kept[0, :2].gt(0).all() and kept[1, 2:].gt(0).all()
    assert torch.equal(encode_vector(log_p, 0) > 0, torch.ones_like(log_p, dtype=torch.bool))


def test_stored_priors_are_reused_not_retrained(tmp_path, data_dir):
    from core.engine import Engine
    from core.store import Store

    engine = Engine(Store(tmp_path), data_dir, torch.device("cpu"))
    tiny = PriorConfig(width=4, epochs=1, images=256, batch_size=64)
    gan, record, reused = engine.prior(tiny)
    assert not reused and record["images"] == 256 and len(record["history"]) == 1
    again, _, reused = engine.prior(tiny)
    assert reused
    assert all(torch.equal(a, b) for a, b in zip(gan.state_dict().values(), again.state_dict().values(), strict=True))


def test_only_the_chosen_attacks_knobs_name_a_result():
    miface, gmi = AttackConfig(), AttackConfig(attack="gmi")
    tuned_gmi = dataclasses.replace(miface, gmi=GMIConfig(steps=7), prior=PriorConfig(epochs=1))
    assert config_hash(AttackRun("t", "e", tuned_gmi)) == config_hash(AttackRun("t", "e", miface))
    assert "gmi" not in hash_view(miface) and "miface" not in hash_view(gmi) and "prior" in hash_view(gmi)
    assert config_hash(dataclasses.replace(gmi, gmi=GMIConfig(steps=7))) != config_hash(gmi)
    assert config_hash(dataclasses.replace(miface, miface=MIFaceConfig(steps=7))) != config_hash(miface)
    # GMI results stored before the latent bound existed were unbounded: that setting keeps their keys.
    assert "latent_bound" not in hash_view(GMIConfig(latent_bound=0.0)) and "latent_bound" in hash_view(GMIConfig())
