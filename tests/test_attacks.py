"""The GAN prior, the GMI-style attack and the black-box inversion network, on the real ORL target of the
session's short sweep (tests/conftest.py), with short settings."""

import dataclasses

import pytest
import torch

from core.attack_config import (
    AttackConfig,
    GMIConfig,
    InversionConfig,
    MIFaceConfig,
    PriorConfig,
    framed_for,
    paper_gmi,
    with_gmi_recipe,
)
from core.attacks import attacker_query
from core.attacks.inversion import encode_vector
from core.data import PreparedData
from core.engine import Engine
from core.entries import AttackRun
from core.metrics import log_probs
from core.presets import sweep_defaults
from core.prior import GAN
from core.shipped import SHIPPED
from core.store import Store
from core.stored_config import config_hash, hash_view

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


def test_the_paper_recipe_is_its_own_result_and_fast_keeps_every_key():
    fast = AttackConfig(attack="gmi")
    paper = with_gmi_recipe(fast, "paper")
    assert paper.gmi == paper_gmi(fast.gmi) and (paper.gmi.steps, paper.gmi.restarts, paper.gmi.lr) == (1500, 5, 0.02)
    assert with_gmi_recipe(fast, "fast") == fast and with_gmi_recipe(paper, "fast") == fast
    assert config_hash(paper) != config_hash(fast)
    # The fast recipe's hash view is what it was before recipes existed: no new key, and no paper-only knob.
    assert not {"recipe", "momentum", "identity_weight", "loss_batch"} & hash_view(fast)["gmi"].keys()
    assert not {"candidates", "jitter", "log_odds"} & hash_view(paper)["gmi"].keys()
    tuned = dataclasses.replace(paper, gmi=dataclasses.replace(paper.gmi, candidates=7, jitter=0))
    assert config_hash(tuned) == config_hash(paper)


QUICK_PAPER = dataclasses.replace(paper_gmi(GMIConfig()), steps=6, restarts=2, record_every=3)


def test_the_paper_recipe_on_real_orl_keeps_every_restart_and_scores_any_of_them(sweep, short_config):
    engine, data, model, target_key, judge, judge_key = _target(sweep, short_config)
    attack = framed_for("orl", AttackConfig(attack="gmi", gmi=QUICK_PAPER))
    result, record, reused = engine.attack(model, target_key, attack, judge, judge_key, data)
    assert not reused and result.steps == [0, 3, 6]
    assert result.restart_images.shape == (40, 2, 1, 64, 64) and set(result.chosen_restart.tolist()) <= {0, 1}
    assert torch.equal(result.images, result.restart_images[torch.arange(40), result.chosen_restart])
    # Its codes stay in [-1, 1], so every image is one the generator draws from such a code.
    per_identity = record["scores"]["per_identity"]
    assert all(entry["any_restart"] for entry in per_identity if entry["top1"])
    assert record["scores"]["any_restart"]["value"] >= record["scores"]["top1"]["value"]
    assert [entry["chosen_restart"] for entry in per_identity] == result.chosen_restart.tolist()
    # The target's trust in its chosen restarts grows under the official loss.
    assert float(result.target_confidence[-1].mean()) > float(result.target_confidence[0].mean())
    key = config_hash(AttackRun(target_key, judge_key, attack))
    assert not (engine.store.path("attacks", key) / "checkpoint.safetensors").exists()
    again, _, reused = engine.attack(model, target_key, attack, judge, judge_key, data)
    assert reused and torch.equal(again.restart_images, result.restart_images)


def test_an_interrupted_paper_recipe_attack_resumes_to_the_same_result(sweep, short_config, tmp_path):
    """Stopped after a checkpoint and run again, the attack continues from it and ends exactly where an
    uninterrupted run ends, in the 'sample' view, whose random draws the checkpoint must carry too."""
    from core.attacks import run_gmi

    engine, _, model, _, _, _ = _target(sweep, short_config)
    gan, _, _ = engine.prior(framed_for("orl", AttackConfig()).prior)
    labels, checkpoint = torch.arange(3), tmp_path / "checkpoint.safetensors"
    config = dataclasses.replace(QUICK_PAPER, steps=7)

    def run(on_step=None):
        torch.manual_seed(0)
        return run_gmi(attacker_query(model, "sample", 4), labels, gan, config, on_step, checkpoint, checkpoint_every=2)

    whole = run()
    checkpoint.unlink()

    def stop(done, total):
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(stop)
    assert checkpoint.exists()
    steps_done = []
    resumed = run(lambda done, total: steps_done.append(done))
    assert steps_done == [5, 6, 7]  # continued after the checkpoint at step 4
    for name in ("images", "trajectory", "target_confidence", "restart_images", "chosen_restart"):
        assert torch.equal(getattr(resumed, name), getattr(whole, name)), name
    assert resumed.steps == whole.steps
