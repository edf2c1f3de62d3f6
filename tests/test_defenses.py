"""Defense baselines: DP-SGD through Opacus with its epsilon, output-side defenses, frontiers, and a tiny
comparison on real ORL written out as a report."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import pytest
import torch
from opacus.accountants import RDPAccountant

from core.attack_config import AttackConfig, InversionConfig, OutputDefenseConfig
from core.attacks.base import defend_output
from core.compare import format_comparison, frontier_report, run_comparison
from core.config import ModelConfig, PrivacyConfig, TargetConfig, TrainConfig
from core.engine import Engine
from core.errors import ConfigError
from core.models import TargetNet
from core.results import typed_results
from core.store import Store
from core.stored_config import config_hash, hash_view
from core.summaries import compare_frontiers, frontier
from core.sweep_config import ComparisonConfig
from core.train import Trainer, TrainerConfig, cross_entropy_objective
from tests.conftest import SHORT, run_cli
from tests.tiny_cli import shrink


def private_run(noise: float, epochs: int = 2) -> Trainer:
    """DP-SGD on 96 random 32x32 images of 4 classes: seconds."""
    generator = torch.Generator().manual_seed(0)
    x, y = torch.rand(96, 1, 32, 32, generator=generator), torch.arange(96) % 4
    model = TargetNet(4, ModelConfig(head="linear", norm="group", width=4), image_size=32)
    trainer = Trainer(model, cross_entropy_objective, TrainerConfig(
        epochs=epochs, batch_size=16, lr=1e-2, privacy=PrivacyConfig(noise_multiplier=noise, max_grad_norm=1.0)))
    trainer.run(x, y, torch.device("cpu"))
    return trainer


def test_dp_sgd_reports_finite_epsilon_that_falls_as_noise_grows() -> None:
    spent = [private_run(noise).privacy for noise in (0.5, 1.0, 2.0)]
    epsilons = [s["epsilon"] for s in spent]
    assert all(math.isfinite(e) and e > 0 for e in epsilons)
    assert epsilons[0] > epsilons[1] > epsilons[2]
    assert all(s["steps"] == 2 * 6 and s["delta"] == 1e-5 for s in spent)  # 2 epochs of 96 / 16 batches


def test_epsilon_agrees_with_opacus_accountant_called_directly() -> None:
    spent = private_run(1.3, epochs=3).privacy
    accountant = RDPAccountant()
    accountant.history = [(1.3, 16 / 96, 3 * 6)]  # noise, sample rate (batch / examples), steps
    assert spent["sample_rate"] == pytest.approx(16 / 96)
    assert spent["epsilon"] == pytest.approx(accountant.get_epsilon(delta=1e-5), rel=1e-9)


def test_dp_sgd_trains_every_weight_and_leaves_no_opacus_hooks() -> None:
    trainer = private_run(1.0)
    model = trainer.model
    assert not any(hasattr(p, "grad_sample") for p in model.parameters())
    assert all(len(m._forward_hooks) == 0 and len(m._backward_hooks) == 0 for m in model.modules())
    state = model.state_dict()
    assert all(not k.startswith("_module") for k in state)  # stored like any target


def test_dp_sgd_needs_group_norm_and_sane_settings() -> None:
    with pytest.raises(ConfigError, match="norm to 'group'"):
        TargetConfig(train=TrainConfig(privacy=PrivacyConfig(noise_multiplier=1.0)))
    for bad in ({"noise_multiplier": -1}, {"noise_multiplier": math.nan}, {"max_grad_norm": 0}, {"delta": 1.0}):
        with pytest.raises(ConfigError):
            PrivacyConfig(**bad)


def test_new_settings_at_their_old_value_leave_every_stored_hash_alone() -> None:
    """Fields added for the defenses are left out of a config's dict while they hold the value that reproduces
    earlier behaviour, so models stored before them keep their names; set, they change the hash."""
    plain = TargetConfig()
    assert "norm" not in hash_view(plain)["model"] and "privacy" not in hash_view(plain)["train"]
    assert "output" not in hash_view(AttackConfig())
    private = TargetConfig(model=ModelConfig(norm="group"),
                           train=TrainConfig(privacy=PrivacyConfig(noise_multiplier=1.0)))
    assert config_hash(private) != config_hash(plain)
    assert hash_view(private)["train"]["privacy"]["noise_multiplier"] == 1.0


@pytest.mark.parametrize("output", [OutputDefenseConfig("label"), OutputDefenseConfig("round", decimals=1),
                                    OutputDefenseConfig("round", decimals=0), OutputDefenseConfig("noise")])
def test_output_defenses_keep_the_top1_label(output: OutputDefenseConfig) -> None:
    generator = torch.Generator().manual_seed(0)
    log_p = torch.log_softmax(3 * torch.randn(500, 10, generator=generator), dim=1)
    log_p[0] = torch.log(torch.tensor([0.44, 0.44, 0.12] + [0.0] * 7).clamp_min(1e-12))  # a tie after rounding
    shown = defend_output(log_p, output).exp()
    assert torch.equal(shown.argmax(1), log_p.argmax(1))
    assert (shown >= 0).all()


def test_output_defenses_change_the_vector_as_specified() -> None:
    log_p = torch.log(torch.tensor([[0.62, 0.27, 0.11], [0.03, 0.17, 0.80]]))
    assert torch.equal(defend_output(log_p, OutputDefenseConfig("label")).exp(),
                       torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    rounded = defend_output(log_p, OutputDefenseConfig("round", decimals=1)).exp()
    assert torch.allclose(rounded, torch.tensor([[0.6, 0.3, 0.1], [0.0, 0.2, 0.8]]), atol=1e-6)
    torch.manual_seed(0)
    noisy = defend_output(log_p, OutputDefenseConfig("noise", noise_std=0.1)).exp()
    assert not torch.allclose(noisy, log_p.exp(), atol=1e-3)
    assert torch.equal(defend_output(log_p, OutputDefenseConfig()), log_p)


def test_output_defenses_are_for_the_black_box_attack_only() -> None:
    with pytest.raises(ConfigError, match="white-box"):
        AttackConfig(attack="miface", output=OutputDefenseConfig("label"))
    AttackConfig(attack="inversion", output=OutputDefenseConfig("label"))


def test_frontier_keeps_only_points_nobody_beats() -> None:
    # (test accuracy, attack accuracy): the defender wants the first high and the second low.
    points = [(0.95, 0.80), (0.90, 0.85), (0.90, 0.50), (0.70, 0.50), (0.60, 0.20), (0.30, 0.25)]
    assert frontier(points) == [4, 2, 0]
    assert frontier([(0.5, 0.5)]) == [0]


def test_compare_frontiers_on_clear_win_loss_tie_and_mixed() -> None:
    low = [(0.9, 0.3), (0.6, 0.1)]
    high = [(0.9, 0.6), (0.6, 0.4)]
    assert compare_frontiers(low, high)["verdict"] == "a"
    assert compare_frontiers(high, low)["verdict"] == "b"
    assert compare_frontiers(low, list(low))["verdict"] == "tie"
    crossing = [(0.9, 0.2), (0.6, 0.3)]
    result = compare_frontiers(crossing, [(0.9, 0.5), (0.6, 0.05)])
    assert result["verdict"] == "mixed" and result["a_lower"] == [0.9] and result["b_lower"] == [0.6]
    # Only levels both reach are compared: b never gets above 0.5 test accuracy.
    only_low = compare_frontiers([(0.95, 0.9), (0.5, 0.4)], [(0.5, 0.3)])
    assert only_low["reach"] == 0.5 and only_low["verdict"] == "b"
    assert compare_frontiers([], low)["verdict"] == "no overlap"


def tiny_comparison() -> ComparisonConfig:
    """Real ORL at 32 pixels, tiny networks, MI-Face and a one-epoch inversion network; DP-SGD at two noises."""
    sweep = shrink(SHORT)
    data = dataclasses.replace(sweep.target.data, image_size=32)
    attack = dataclasses.replace(sweep.attack, inversion=InversionConfig(images=96, epochs=1, width=4))
    sweep = dataclasses.replace(sweep, lambdas=(0.01,), attack=attack,
                                target=dataclasses.replace(sweep.target, data=data,
                                                           train=TrainConfig(epochs=2)),
                                evaluator=dataclasses.replace(sweep.evaluator, data=data))
    return ComparisonConfig(sweep=sweep, attacks=("miface", "inversion"), noise_multipliers=(0.5, 2.0),
                            dp_model=ModelConfig(head="linear", norm="group", width=2),
                            dp_train=TrainConfig(epochs=2, batch_size=64, lr=1e-2),
                            outputs=(OutputDefenseConfig("label"),))


def test_tiny_comparison_on_real_orl_runs_end_to_end_and_writes_a_report(data_dir: Path, tmp_path: Path) -> None:
    from core.report import write_report
    from core.results import read_typed

    config = tiny_comparison()
    engine = Engine(Store(tmp_path / "store"), data_dir, torch.device("cpu"))
    seen = []
    results = run_comparison(config, engine, tmp_path / "results", on_point=seen.append)
    assert [p["defense"] for p in results["points"]] == ["none", "output", "dpmodel", "mid", "dpsgd", "dpsgd"]
    assert len(seen) == 6 and (tmp_path / "results" / f"comparison_{results['config_hash']}.json").is_file()
    dp = [p for p in results["points"] if p["defense"] == "dpsgd"]
    assert dp[0]["epsilon"] > dp[1]["epsilon"] > 0 and dp[0]["privacy"]["accountant"] == "rdp"
    control = results["points"][2]
    assert control["privacy"] is None and control["epsilon"] is None  # the same model, trained without DP
    output, none = results["points"][1], results["points"][0]
    assert list(output["attacks"]) == ["inversion"] and output["test"] == none["test"]
    assert output["attacks"]["inversion"]["attack_key"] != none["attacks"]["inversion"]["attack_key"]
    assert all(Path(p["attacks"][a]["grid_path"]).is_file() for p in results["points"] for a in p["attacks"])
    assert len(none["spread"]["confidence"]) == results["data"]["test_images"]
    assert set(results["frontiers"]) == {"miface", "inversion"}
    assert all(r["sentence"] for r in results["frontiers"].values())
    assert "DP-SGD noise=0.5 (eps=" in format_comparison(typed_results(results))
    # Everything is stored: a second run trains and attacks nothing; with the judge panel it scores every attack
    # again from the stored reconstructions.
    again = run_comparison(config, engine, tmp_path / "results", panel=True)
    assert all(p["reused"] and all(a["reused"] for a in p["attacks"].values()) for p in again["points"])
    assert [judge["name"] for judge in again["panel_judges"]] == ["vgg", "resnet", "pca_lda"]
    for point in again["points"]:
        for scores in point["attacks"].values():
            # The comparison's own judge is the panel's first: the same images give it the same figure.
            assert scores["panel"]["judges"][0]["top1"] == scores["top1"]
            assert scores["panel"]["n"] == results["data"]["identities"]
    for row in again["summary"]:
        for name, scores in row["attacks"].items():
            seeds = [p["attacks"][name]["panel"] for p in again["points"] if p["label"] == row["label"]]
            assert scores["panel"]["seeds"] == len(seeds) == 1
            assert scores["panel"]["top1"]["pca_lda"] == seeds[0]["judges"][2]["top1"]["value"]
    # The comparison's own judge, first in the panel, reads the frontiers as the comparison does.
    assert all(report["panel"]["vgg"] == report["verdict"] and set(report["panel"]) == {"vgg", "resnet", "pca_lda"}
               for report in again["frontiers"].values())
    text = format_comparison(typed_results(again))
    assert "miface panel" in text and "panel judges (held-out accuracy): vgg " in text and "By the judge panel" in text
    stored = read_typed(tmp_path / "results" / f"comparison_{results['config_hash']}.json", "comparison")
    written = {p.name for p in write_report(stored, tmp_path / "report", png=False)}
    assert {"comparison.csv", "comparison.md", "tradeoff_miface.html", "spread_entropy.html"} <= written
    markdown = (tmp_path / "report" / "comparison.md").read_text()
    assert "| DP-SGD | DP-SGD noise=2 (eps=" in markdown and results["frontiers"]["miface"]["sentence"] in markdown
    assert "### Judge panel: MI-Face" in markdown
    assert "| setting | vgg top-1 | resnet top-1 | pca_lda top-1 |" in markdown


def test_figures_are_drawn_as_png_on_the_server() -> None:
    """Kaleido with the machine's Chromium (CI installs Debian's): the report's and the dashboard's PNGs."""
    from core.figures import figure_png, png_export_available

    if not png_export_available():
        (pytest.fail if os.environ.get("CI") else pytest.skip)("no Chrome or Chromium on this machine")
    png = figure_png({"data": [{"type": "scatter", "x": [0, 1], "y": [1, 0]}]})
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_cli_refuses_bad_defense_settings_and_a_missing_comparison(capsys: pytest.CaptureFixture,
                                                                   tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "compare", "--noise-multipliers", "0,1")
    assert code == 2 and "noise_multiplier must be in (0, 100]" in err
    code, _, err = run_cli(capsys, "compare", "--attacks", "miface,deepinversion")
    assert code == 2 and "choose from miface, gmi, inversion" in err
    code, _, err = run_cli(capsys, "report", "--results", str(tmp_path))
    assert code == 2 and "python -m core compare" in err
    (tmp_path / "comparison_broken.json").write_text("{not json")
    code, _, err = run_cli(capsys, "report", str(tmp_path / "comparison_broken.json"))
    assert code == 2 and "comparison_broken.json is unreadable" in err


def test_frontier_sentence_names_the_winner_and_what_was_not_compared() -> None:
    def row(defense: str, label: str, test: float, attack: float) -> dict:
        figure = {"value": test, "low": test - 0.03, "high": test + 0.03}
        top1 = {"value": attack, "low": attack - 0.05, "high": attack + 0.05}
        return {"defense": defense, "label": label, "test_accuracy": figure, "attacks": {"miface": {"top1": top1}}}

    summary = [row("mid", "MID lambda=0", 0.95, 0.70), row("mid", "MID lambda=0.1", 0.50, 0.60),
               row("dpsgd", "DP-SGD noise=1", 0.55, 0.20), row("dpsgd", "DP-SGD noise=2", 0.30, 0.10)]
    report = frontier_report(summary, "miface")
    assert report["verdict"] == "b" and report["frontiers"]["mid"] == ["MID lambda=0.1", "MID lambda=0"]
    assert report["sentence"].startswith("DP-SGD dominates MID: at every test accuracy both reach (up to 0.55)")
    assert "(the 95% intervals do not overlap)" in report["sentence"]
    assert report["sentence"].endswith("Above test accuracy 0.55 only MID has models (up to 0.95), so nothing is "
                                       "compared there.")
    assert report["control"] == ""  # no control model in this summary
