"""The regime study: its verdict rule on hand-made rows, the settings it adds (label smoothing, depth, identities)
leaving every stored hash alone, StudyConfig's regimes, and a tiny study on real ORL end to end."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from core.attack_config import AttackConfig
from core.config import DataConfig, EvaluatorConfig, ModelConfig, TargetConfig, TrainConfig
from core.data import DataError, load_dataset
from core.engine import Engine
from core.errors import ConfigError
from core.models import TargetNet
from core.panel import judge_verdicts
from core.presets import default_studies, sweep_defaults
from core.result_types import Regime
from core.results import typed_results
from core.store import Store
from core.stored_config import config_hash, from_dict, hash_view
from core.study import format_study, run_study, ship, study_path
from core.study_design import StudyConfig, parse_levels
from core.study_figures import panel_verdict_line
from core.sweep_config import SweepConfig
from core.train import mid_objective, smoothed_cross_entropy
from core.verdicts import finding, verdict
from tests.conftest import SHORT, run_cli
from tests.tiny_cli import shrink

# config_hash of the defaults, computed before the study's settings (label_smoothing, depth, identities) existed;
# the sweep's with the judge it had then (trained with photometric augmentation, no longer the default).
TARGET_HASH, SWEEP_HASH = "4d2b0ec60bfdac77", "18c4cd800a478195"


def figure(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "low": low, "high": high}


def row(label: str, test: tuple[float, float, float], attack: tuple[float, float, float]) -> dict:
    defense = "none" if label == "no defense" else "mid"
    return {"defense": defense, "label": label, "seeds": 3, "test_accuracy": figure(*test),
            "attack_top1": figure(*attack)}


UNDEFENDED = [row("no defense", (0.90, 0.85, 0.95), (0.80, 0.70, 0.90))]


def test_verdict_yes_when_a_matched_mid_model_is_clearly_less_attacked() -> None:
    mid = [row("MID lambda=0.001", (0.91, 0.88, 0.94), (0.78, 0.70, 0.86)),
           row("MID lambda=0.01", (0.87, 0.84, 0.90), (0.30, 0.20, 0.40)),  # within the undefended test interval
           row("MID lambda=0.1", (0.40, 0.30, 0.50), (0.02, 0.00, 0.05))]  # less attacked, but far less accurate
    judged = verdict(mid, UNDEFENDED)
    assert judged["verdict"] == "yes" and judged["reason"] == "lower" and judged["best"] == "MID lambda=0.01"
    assert judged["matched"] == ["MID lambda=0.01", "MID lambda=0.001"]
    sentence = finding("bottleneck", 8, judged)
    assert sentence.startswith("bottleneck=8: yes") and "do not overlap" in sentence


def test_verdict_no_when_every_matched_mid_model_is_clearly_more_attacked() -> None:
    mid = [row("MID lambda=0.001", (0.92, 0.90, 0.94), (0.97, 0.94, 1.00)),
           row("MID lambda=0.01", (0.86, 0.82, 0.90), (0.95, 0.92, 0.98)),
           row("MID lambda=0.1", (0.40, 0.30, 0.50), (0.02, 0.00, 0.05))]  # unmatched: does not count
    judged = verdict(mid, UNDEFENDED)
    assert judged["verdict"] == "no" and judged["reason"] == "higher"
    assert finding("epochs", 20, judged).startswith("epochs=20: no")


def test_verdict_inconclusive_when_the_intervals_overlap() -> None:
    mid = [row("MID lambda=0.01", (0.89, 0.85, 0.93), (0.72, 0.60, 0.84)),
           row("MID lambda=0.1", (0.40, 0.30, 0.50), (0.02, 0.00, 0.05))]
    judged = verdict(mid, UNDEFENDED)
    assert judged["verdict"] == "inconclusive" and judged["reason"] == "overlap"
    assert "intervals overlap" in finding("width", 16, judged)
    # One matched model clearly above and one overlapping: not every matched model is worse, so not 'no'.
    mixed = [row("MID lambda=0.001", (0.92, 0.90, 0.94), (0.97, 0.94, 1.00)), mid[0]]
    assert verdict(mixed, UNDEFENDED)["reason"] == "overlap"


def test_each_panel_judge_is_held_to_the_same_rule_and_a_split_is_said() -> None:
    """One judge names MID's reconstructions far less often than the references' (yes against both); the other
    gives seeds so spread that the intervals overlap (inconclusive): the regime's panel line says they disagree."""
    rows = [{"defense": "none", "lambda": None, "label": "no defense"},
            {"defense": "mid_reference", "lambda": 0.0, "label": "MID lambda=0 (reference)"},
            {"defense": "mid", "lambda": 0.01, "label": "MID lambda=0.01"}]
    rows = [{**r, "seeds": 3, "test_accuracy": figure(0.9, 0.85, 0.95), "attack_top1": figure(0.5, 0.4, 0.6)}
            for r in rows]
    seeds = {"no defense": ([0.50, 0.52, 0.48], [0.3, 0.5, 0.1]),
             "MID lambda=0 (reference)": ([0.49, 0.51, 0.50], [0.3, 0.5, 0.1]),
             "MID lambda=0.01": ([0.10, 0.12, 0.08], [0.2, 0.4, 0.3])}
    of_row = {(r["defense"], r["lambda"]): [{"attack": {"panel": {"judges": [
        {"top1": {"value": first[seed]}}, {"top1": {"value": second[seed]}}]}}} for seed in range(3)]
        for r in rows for first, second in [seeds[r["label"]]]}
    judged = [judge_verdicts(name, index, rows, of_row) for index, name in enumerate(("vgg", "pca_lda"))]
    assert judged == [{"name": "vgg", "verdict": "yes", "verdict_mid_reference": "yes"},
                      {"name": "pca_lda", "verdict": "inconclusive", "verdict_mid_reference": "inconclusive"}]
    regime = Regime.model_validate({"level": 8, "points": [], "rows": [], "finding": "",
                                    "verdict": {"verdict": "inconclusive"}, "panel_verdicts": judged})
    line = panel_verdict_line(regime)
    assert "vgg yes / yes, pca_lda inconclusive / inconclusive" in line
    assert line.endswith("Against the undefended model the judges disagree; against the MID reference the judges "
                         "disagree.")
    agreed = regime.model_copy(update={"panel_verdicts": regime.panel_verdicts[:1]})
    assert "Against the undefended model every judge says yes" in panel_verdict_line(agreed)


def test_verdict_inconclusive_when_no_mid_model_matches_the_accuracy() -> None:
    mid = [row("MID lambda=0.01", (0.80, 0.75, 0.85), (0.10, 0.05, 0.15)),
           row("MID lambda=0.1", (0.40, 0.30, 0.50), (0.02, 0.00, 0.05))]
    judged = verdict(mid, UNDEFENDED)
    assert judged["verdict"] == "inconclusive" and judged["reason"] == "no_match" and judged["matched"] == []
    assert "no MID model reaches" in finding("identities", 10, judged) and "MID lambda=0.01" in \
        finding("identities", 10, judged)
    no_interval = [row("MID lambda=0.01", (0.90, math.nan, math.nan), (0.1, math.nan, math.nan))]
    assert verdict(no_interval, UNDEFENDED)["reason"] == "no_interval"


def test_label_smoothing_at_zero_is_plain_cross_entropy_bit_for_bit() -> None:
    torch.manual_seed(0)
    logits, y = torch.randn(7, 5), torch.randint(0, 5, (7,))
    assert torch.equal(smoothed_cross_entropy(logits, y, 0.0), F.cross_entropy(logits, y))
    model = TargetNet(5, ModelConfig(width=2, bottleneck_dim=4), image_size=16).eval()
    x = torch.rand(6, 1, 16, 16)
    losses = []
    for objective in (mid_objective(0.1), mid_objective(0.1, 0.0)):
        torch.manual_seed(1)
        losses.append(objective(model, x, y[:6])[0])
    assert torch.equal(losses[0], losses[1])
    # Positive smoothing is F.cross_entropy's own.
    assert torch.allclose(smoothed_cross_entropy(logits, y, 0.1), F.cross_entropy(logits, y, label_smoothing=0.1))


def test_negative_label_smoothing_by_hand_on_three_classes() -> None:
    probs = [0.5, 0.3, 0.2]
    logits, y, a = torch.tensor([probs]).log(), torch.tensor([0]), -0.2
    expected = (1 - a) * -math.log(0.5) + a * -sum(math.log(p) for p in probs) / 3  # 0.598006...
    assert smoothed_cross_entropy(logits, y, a).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.598006, abs=1e-6)


def test_new_settings_leave_the_stored_hashes_alone_and_are_validated() -> None:
    assert config_hash(TargetConfig()) == TARGET_HASH
    # Stored before the deployed view became the default: the mu view, now explicit, keeps their hash.
    mu_sweep = SweepConfig(evaluator=EvaluatorConfig(photometric=True), attack=AttackConfig(view="mu"))
    assert config_hash(mu_sweep) == SWEEP_HASH
    assert config_hash(SweepConfig(evaluator=EvaluatorConfig(photometric=True))) != SWEEP_HASH
    plain = hash_view(TargetConfig())
    assert "label_smoothing" not in plain["train"] and "depth" not in plain["model"]
    assert "identities" not in plain["data"]
    for changed in (TargetConfig(train=TrainConfig(label_smoothing=-0.1)), TargetConfig(model=ModelConfig(depth=2)),
                    TargetConfig(data=DataConfig(identities=10))):
        assert config_hash(changed) != TARGET_HASH
    for bad in ({"label_smoothing": -0.6}, {"label_smoothing": 0.95}, {"label_smoothing": math.nan}):
        with pytest.raises(ConfigError, match="label smoothing"):
            TrainConfig(**bad)
    with pytest.raises(ConfigError, match="shrink a 16px image"):
        TargetConfig(data=DataConfig(image_size=16), model=ModelConfig(depth=4))
    with pytest.raises(ConfigError):
        DataConfig(identities=1)


def test_depth_sets_the_conv_blocks_and_depth_3_keeps_the_stored_layout() -> None:
    def convs(model: TargetNet) -> int:
        return sum(isinstance(m, torch.nn.Conv2d) for m in model.features.modules())

    for depth, size in ((1, 16), (2, 32), (5, 64)):
        model = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4, depth=depth), image_size=size)
        assert convs(model) == depth + 1 and model(torch.rand(2, 1, size, size)).shape == (2, 3)
    model = TargetNet(3, ModelConfig(width=2, bottleneck_dim=4), image_size=64)
    norm = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = {"features.0.0.weight", *(f"features.0.1.{n}" for n in norm)}
    for block in (1, 2, 3):
        expected |= {f"features.{block}.0.weight", *(f"features.{block}.1.{n}" for n in norm)}
    expected |= {"head.encode.weight", "head.encode.bias", "head.classify.weight", "head.classify.bias"}
    state = model.state_dict()
    assert set(state) == expected
    assert state["features.3.0.weight"].shape == (16, 8, 3, 3) and state["head.encode.weight"].shape == (8, 16 * 16)


def test_identities_keeps_a_nested_seeded_choice(data_dir: Path) -> None:
    ten = load_dataset(DataConfig(image_size=16, identities=10), data_dir)
    twenty = load_dataset(DataConfig(image_size=16, identities=20), data_dir)
    assert ten.num_classes == 10 and len(ten.labels) == 100 and set(ten.names) < set(twenty.names)
    assert sorted(set(ten.labels.tolist())) == list(range(10))
    with pytest.raises(DataError, match="cannot keep 41"):
        load_dataset(DataConfig(image_size=16, identities=41), data_dir)


def test_study_config_regimes_change_only_their_factor() -> None:
    base = SweepConfig(seeds=(0, 1, 2), lambdas=(0.01,))
    with pytest.raises(ConfigError, match="at least 3 training seeds"):
        StudyConfig(base=SweepConfig(seeds=(0, 1)))
    for bad in ((), (8, 8), (8.5,), (True,)):
        with pytest.raises(ConfigError):
            StudyConfig(base=base, factor="bottleneck", levels=bad)
    with pytest.raises(ConfigError, match="factor"):
        StudyConfig(base=base, factor="lambda", levels=(1,))
    study = StudyConfig(base=base, factor="bottleneck", levels=(8, 64))
    (_, small), (_, large) = study.regimes()
    assert small.target.model == dataclasses.replace(base.target.model, bottleneck_dim=8)
    assert dataclasses.replace(large, target=small.target) == small
    # The undefended model ignores k: one model serves every bottleneck regime.
    assert study.undefended(small, 0) == study.undefended(large, 0)
    assert study.undefended(small, 0)[0].model.head == "linear"
    smoothing = StudyConfig(base=base, factor="label_smoothing", levels=(-0.1, 0, 0.1))
    assert smoothing.levels == (-0.1, 0.0, 0.1)
    regimes = dict(smoothing.regimes())
    assert regimes[-0.1].target.train.label_smoothing == -0.1
    assert smoothing.undefended(regimes[0.0], 0)[0] == study.undefended(small, 0)[0]  # 0 is the base itself
    assert smoothing.undefended(regimes[-0.1], 0)[0].train.label_smoothing == -0.1
    mu = dict(StudyConfig(base=base, factor="predict_from_mu", levels=(False, True)).regimes())
    assert mu[True].target.model.predict_mode == "mu" and mu[False].target.model.predict_mode == "sample"
    # An attacker of the deployed model queries what each regime deploys; a white-box attacker keeps mu.
    assert (mu[True].attack.view, mu[False].attack.view) == ("mu", "sample")
    white_box = dataclasses.replace(base, attack=dataclasses.replace(base.attack, view="mu"))
    stripped = dict(StudyConfig(base=white_box, factor="predict_from_mu", levels=(False, True)).regimes())
    assert stripped[True].attack.view == stripped[False].attack.view == "mu"
    people = dict(StudyConfig(base=base, factor="identities", levels=(10, 20)).regimes())
    assert people[10].evaluator.data == people[10].target.data and people[10].target.data.identities == 10
    assert parse_levels("predict_from_mu", "false, true") == (False, True)
    assert parse_levels("attack", "miface,gmi") == ("miface", "gmi")
    with pytest.raises(ConfigError, match="integers"):
        parse_levels("width", "8,wide")


def test_cli_refuses_a_bad_factor_or_levels(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(capsys, "study", "--factor", "lambda", "--levels", "1")
    assert code == 2 and "invalid choice" in err
    code, _, err = run_cli(capsys, "study", "--factor", "width", "--levels", "8,x")
    assert code == 2 and "levels of width are integers" in err
    code, _, err = run_cli(capsys, "study", "--factor", "width", "--levels", "8", "--seeds", "0,1")
    assert code == 2 and "at least 3 training seeds" in err
    code, _, err = run_cli(capsys, "study", "--factor", "width")
    assert code == 2 and "--factor and --levels together" in err
    code, _, err = run_cli(capsys, "study", "--levels", "8,16")
    assert code == 2 and "--factor and --levels together" in err


def test_the_default_study_is_the_command_without_a_factor() -> None:
    from core.__main__ import build_parser, study_configs

    studies = default_studies()
    assert study_configs(build_parser().parse_args(["study"])) == studies
    assert [(s.factor, s.levels) for s in studies] == [
        ("attack", ("miface", "gmi", "inversion")), ("predict_from_mu", (False, True)),
        ("label_smoothing", (-0.1, 0.0, 0.1)), ("bottleneck", (8, 64))]
    base = studies[0].base
    assert all(s.base == base for s in studies) and base.seeds == (0, 1, 2) and base.lambdas == (0.003, 0.01, 0.03)
    assert base.target == sweep_defaults("orl").target and base.attack.attack == "miface"
    # The base regime is shared: each study's level equal to the base trains the same models.
    base_regimes = {config_hash(regime) for study in studies for level, regime in study.regimes()
                    if regime.target == base.target and regime.attack == base.attack}
    assert base_regimes == {config_hash(base)}


def tiny_study() -> StudyConfig:
    """Real ORL at 16 pixels, width-2 networks trained 2 epochs, 10 MI-Face steps; k in (2, 4), one lambda."""
    sweep = shrink(SHORT)
    sweep = dataclasses.replace(sweep, lambdas=(0.01,), seeds=(0, 1, 2),
                                target=dataclasses.replace(sweep.target, train=TrainConfig(epochs=2)))
    return StudyConfig(base=sweep, factor="bottleneck", levels=(2, 4))


def by_the_rule(mid_rows: list[dict], reference: dict) -> str:
    """core.verdicts.RULE, written again from its text (not from core.verdicts.verdict), for one reference row."""
    bounds = [r[figure][bound] for r in (reference, *mid_rows) for figure in ("test_accuracy", "attack_top1")
              for bound in ("low", "high")]
    if not all(b is not None and math.isfinite(b) for b in bounds):
        return "inconclusive"
    matched = [r for r in mid_rows if r["test_accuracy"]["value"] >= reference["test_accuracy"]["low"]]
    if not matched:
        return "inconclusive"
    best = min(matched, key=lambda r: (r["attack_top1"]["value"], -r["test_accuracy"]["value"]))
    if best["attack_top1"]["high"] < reference["attack_top1"]["low"]:
        return "yes"
    if all(r["attack_top1"]["low"] > reference["attack_top1"]["high"] for r in matched):
        return "no"
    return "inconclusive"


@pytest.mark.slow  # trains 18 models on real ORL: minutes on a busy 2-CPU machine
def test_tiny_study_on_real_orl_runs_end_to_end_and_reuses_everything(data_dir: Path, tmp_path: Path) -> None:
    config = tiny_study()
    engine = Engine(Store(tmp_path / "store"), data_dir, torch.device("cpu"))
    seen = []
    results = run_study(config, engine, tmp_path / "results", on_point=seen.append)
    path = study_path(tmp_path / "results", config_hash(config))
    assert path.is_file() and results["kind"] == "study" and results["factor"] == "bottleneck"
    assert len(seen) == 18 and [r["level"] for r in results["regimes"]] == [2, 4]
    for regime in results["regimes"]:
        assert [(r["label"], r["seeds"]) for r in regime["rows"]] == [
            ("no defense", 3), ("MID lambda=0 (reference)", 3), ("MID lambda=0.01", 3)]
        row = regime["rows"][1]
        assert row["test_accuracy"]["low"] <= row["test_accuracy"]["value"] <= row["test_accuracy"]["high"]
        assert len(row["attack_top1"]["per_seed"]) == 3
        rows = {r["label"]: r for r in regime["rows"]}
        assert regime["verdict"]["verdict"] == by_the_rule([rows["MID lambda=0.01"]], rows["no defense"])
        assert regime["finding"].startswith(f"bottleneck={regime['level']}")
        # The second reference: this regime's own MID architecture at lambda = 0, judged by the same rule.
        reference = regime["verdict_mid_reference"]
        assert reference["verdict"] == by_the_rule([rows["MID lambda=0.01"]], rows["MID lambda=0 (reference)"])
        assert reference["reference"] == "MID lambda=0 (reference)"
        assert "the MID lambda=0 reference" in regime["finding_mid_reference"] or reference["reason"] == "no_interval"
        assert regime["frontier"] == ["MID lambda=0.01"]
    none_keys = [[p["target_key"] for p in r["points"] if p["defense"] == "none"] for r in results["regimes"]]
    assert none_keys[0] == none_keys[1]  # the undefended model does not depend on k: trained once
    assert results["environment"]["torch"] and results["peak_memory_mb"] > 0 and results["rule"]
    text = format_study(typed_results(results))
    assert "== bottleneck = 2 ==" in text and "verdicts against the undefended model: 2: " in text
    assert "verdicts against the MID lambda=0 reference: 2: " in text
    # A model stored by an older version lacks balanced accuracy: it is completed on load, not retrained.
    record_file = Path(results["regimes"][0]["points"][0]["model_path"]) / "record.json"
    record = json.loads(record_file.read_text())
    for figures in [record["test"]["deployed"], *record["test"]["by_mode"].values()]:
        del figures["balanced_accuracy"]
    record_file.write_text(json.dumps(record))
    # Everything is stored: a second run trains and attacks nothing, and judges the same; with the judge panel
    # it scores every attack again from the stored reconstructions.
    again = run_study(config, engine, tmp_path / "results", panel=True)
    points = [p for r in again["regimes"] for p in r["points"]]
    assert all(p["reused"] == {"target": True, "attack": True} for p in points)
    assert again["verdicts"] == results["verdicts"]
    assert [[{k: v for k, v in row.items() if k != "panel"} for row in r["rows"]] for r in again["regimes"]] == \
        [r["rows"] for r in results["regimes"]]
    assert all(p["attack"]["panel"]["judges"][0]["top1"] == p["attack"]["top1"] for p in points)
    for regime in again["regimes"]:
        assert [judge["name"] for judge in regime["panel_judges"]] == ["vgg", "resnet", "pca_lda"]
        for row in regime["rows"]:
            seeds = [p["attack"]["panel"] for p in regime["points"] if p["label"] == row["label"]]
            assert row["panel"]["seeds"] == len(seeds) == 3
            assert row["panel"]["top1"]["vgg"] == pytest.approx(row["attack_top1"]["value"])
    assert "panel top-1" in format_study(typed_results(again))
    # The cost of computing it all once (shared models counted once) is kept, however fast the rerun was.
    assert again["compute_s"] == results["compute_s"] > 0
    assert sum(again["timings"].values()) < results["compute_s"]
    # Shipped: the first seed's grids beside the file, relative; no path into this machine's store.
    stale = tmp_path / "assets" / results["config_hash"] / "0123456789abcdef.png"  # an earlier run's grid
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"png")
    shipped = ship(again, tmp_path / "assets")
    assert not stale.exists()
    text = shipped.read_text()
    assert shipped == study_path(tmp_path / "assets", results["config_hash"]) and str(tmp_path / "store") not in text
    copy = json.loads(text)
    points = [p for r in copy["regimes"] for p in r["points"]]
    assert len(points) == 18 and all("model_path" not in p for p in points)
    grids = [p["grid_path"] for p in points if p["seed"] == 0]
    assert len(grids) == 6 and all(not Path(g).is_absolute() and (tmp_path / "assets" / g).is_file() for g in grids)
    assert all("grid_path" not in p for p in points if p["seed"] != 0)
    assert copy["verdicts"] == results["verdicts"]
    # Figures ship to 6 significant digits (assets/ has a budget); the config, and so the hash, exactly.
    assert copy["config"] == again["config"] and config_hash(from_dict(StudyConfig, copy["config"])) == \
        again["config_hash"]
    low = again["regimes"][0]["rows"][1]["test_accuracy"]["low"]
    assert copy["regimes"][0]["rows"][1]["test_accuracy"]["low"] == float(f"{low:.6g}") == pytest.approx(low, rel=1e-5)
    # The panel ships pooled per row, with its verdicts; each point's answers judge by judge stay at home.
    assert all("panel" not in p["attack"] for p in points)
    assert [r["panel_verdicts"] for r in copy["regimes"]] == [r["panel_verdicts"] for r in again["regimes"]]
    assert all(row["panel"]["seeds"] == 3 for r in copy["regimes"] for row in r["rows"])


def test_the_shipped_studies_are_the_default_study_and_complete() -> None:
    """assets/studies holds exactly the default study, so `python -m core study` reproduces what the Findings
    page shows; a change to the defaults that moves its hashes fails here until the study is rerun and shipped."""
    from core.results import STUDIES_DIR, load_results

    shipped = [load_results(path, "study") for path in sorted(STUDIES_DIR.glob("study_*.json"))]
    assert all(results is not None for results in shipped)
    assert {r["config_hash"] for r in shipped} == {config_hash(c) for c in default_studies()}
    for results in shipped:
        assert config_hash(from_dict(StudyConfig, results["config"])) == results["config_hash"]
        points = [p for regime in results["regimes"] for p in regime["points"]]
        assert len({p["seed"] for p in points}) >= 3 and all("model_path" not in p for p in points)
        grids = [p["grid_path"] for p in points if "grid_path" in p]
        assert grids and all((STUDIES_DIR / grid).is_file() for grid in grids)
        assert results["compute_s"] > 0 and results["environment"]["device"] == "cpu"
        # Scored by the judge panel: each regime's verdicts by every judge, and each row pooled over its seeds.
        for regime in results["regimes"]:
            assert [v["name"] for v in regime["panel_verdicts"]] == ["vgg", "resnet", "pca_lda"]
            assert all(row["panel"]["seeds"] == len(results["seeds"]) for row in regime["rows"])
