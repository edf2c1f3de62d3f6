import math
import statistics

import numpy as np
import pytest
import torch

from core.metrics import nearest_distances, panel_scores, prediction_metrics
from core.results import sink_check
from core.stats import PROPORTION, mcnemar_p_value, mean_interval, paired_difference, wilson_interval


def test_wilson_interval_known_values():
    rate = wilson_interval(20, 40)
    assert rate["value"] == 0.5 and rate["n"] == 40
    assert rate["low"] == pytest.approx(0.3520, abs=1e-3) and rate["high"] == pytest.approx(0.6480, abs=1e-3)
    assert wilson_interval(0, 40)["low"] == 0.0 and wilson_interval(0, 40)["high"] == pytest.approx(0.0876, abs=1e-3)
    assert math.isnan(wilson_interval(0, 0)["value"])


def test_mean_interval_uses_student_t():
    summary = mean_interval([1.0, 2.0, 3.0])
    assert summary["value"] == 2.0 and summary["std"] == 1.0
    assert summary["high"] - summary["value"] == pytest.approx(4.303 / math.sqrt(3), rel=1e-4)
    assert math.isnan(mean_interval([5.0])["low"])


def test_an_interval_of_proportions_stays_within_0_and_1():
    """Three seeds at 1.00, 1.00 and 0.99: the t-interval reaches past 1, which no accuracy can."""
    free = mean_interval([1.0, 1.0, 0.99])
    bounded = mean_interval([1.0, 1.0, 0.99], PROPORTION)
    assert free["high"] > 1 and bounded["high"] == 1.0 and bounded["low"] == free["low"] > 0.97
    assert bounded["value"] == free["value"] and bounded["std"] == free["std"]
    assert mean_interval([0.0, 0.01, 0.0], PROPORTION)["low"] == 0.0
    assert math.isnan(mean_interval([0.5], PROPORTION)["low"])  # one value: still no interval


def test_prediction_metrics_confidence_and_entropy():
    log_p = torch.log(torch.tensor([[0.5, 0.5], [1.0, 1e-12]]))
    metrics = prediction_metrics(log_p, torch.tensor([1, 0]))
    assert metrics["accuracy"]["value"] == pytest.approx(0.5 if log_p[0].argmax() != 1 else 1.0)
    assert metrics["confidence"]["value"] == pytest.approx(0.75)
    assert metrics["entropy"]["value"] == pytest.approx(math.log(2) / 2, abs=1e-6)
    assert metrics["rank_mass"] == pytest.approx([0.75, 0.25])


def test_nearest_distances_only_within_identity():
    queries = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    references = torch.tensor([[0.0, 1.0], [10.0, 3.0], [0.0, 0.5]])
    distances = nearest_distances(queries, torch.tensor([0, 1]), references, torch.tensor([0, 1, 1]))
    assert distances.tolist() == pytest.approx([1.0, 3.0])


def test_a_mean_over_forty_values_has_the_t_interval_not_the_normal_one():
    """Over 40 people the t quantile is 2.023, not the normal's 1.96: an interval 3% wider."""
    from core.stats import mean_interval

    values = [float(v) for v in range(40)]
    figure = mean_interval(values)
    half = 2.0227 * statistics.stdev(values) / math.sqrt(40)
    assert figure["high"] - figure["value"] == pytest.approx(half, rel=1e-4)


def test_sweep_summary_over_seeds_uses_the_t_interval():
    from core.summaries import summarise

    def run(mid_lambda, seed, accuracy, top1):
        rate = {"value": top1, "low": 0.0, "high": 1.0, "n": 40}
        figure = {"value": 1.0, "low": 0.5, "high": 1.5, "n": 120}
        return {"lambda": mid_lambda, "seed": seed,
                "test": {"accuracy": {**figure, "value": accuracy}, "confidence": figure, "entropy": figure},
                "attack": {"top1": rate, "top5": rate, "feature_distance": figure}}

    runs = [run(0.0, 0, 0.9, 0.5), run(0.0, 1, 0.8, 0.6), run(0.0, 2, 0.7, 0.7), run(0.1, 0, 0.3, 0.2)]
    multi, single = summarise(runs, (0.0, 0.1))
    assert multi["seeds"] == 3 and multi["test_accuracy"]["value"] == pytest.approx(0.8)
    assert multi["test_accuracy"]["per_seed"] == [0.9, 0.8, 0.7]
    # t(0.975, 2 degrees of freedom) = 4.303, as any t table gives it to three decimals.
    assert multi["attack_top1"]["high"] - multi["attack_top1"]["value"] == pytest.approx(4.303 * 0.1 / math.sqrt(3),
                                                                                         rel=1e-4)
    assert single["seeds"] == 1 and single["attack_top1"] == runs[3]["attack"]["top1"]


def test_a_white_box_view_adds_the_queried_accuracy_and_the_table_names_both():
    """A mu-view sweep of MID models carries, per lambda, the test accuracy of the function the attacker queried,
    and its table names which accuracy is which; a deployed-view sweep's table shows the one accuracy."""
    from core.attack_config import AttackConfig
    from core.results import accuracy_axis, summary_table
    from core.stored_config import to_dict
    from core.sweep import format_table, summarise
    from core.sweep_config import SweepConfig
    from tests.typed_sweeps import typed_sweep

    figure = {"value": 0.33, "low": 0.25, "high": 0.41, "n": 120}
    run = {"lambda": 0.1, "seed": 0, "test": {"accuracy": figure, "confidence": figure, "entropy": figure},
           "attack": {"top1": figure, "top5": figure, "feature_distance": figure},
           "test_queried": {"accuracy": {**figure, "value": 0.79}}}
    old = {key: value for key, value in run.items() if key != "test_queried"}  # a results file from before it
    assert "queried_accuracy" not in summarise([old], (0.1,))[0]
    for view, shown in (("mu", True), ("sample", False)):
        config = SweepConfig(attack=AttackConfig(view=view))
        summary = summarise([run], (0.1,))
        assert summary[0]["queried_accuracy"]["value"] == 0.79
        typed = typed_sweep(summary, [], to_dict(config), evaluator={"real_image_distance": figure})
        table = format_table(typed)
        assert ("acc. as queried" in table) == shown and ("0.79" in table) == shown
        assert ("test accuracy as queried" in summary_table(typed)[0]) == shown
        assert accuracy_axis(config) in table and ("queried mu" in table) == shown


def test_paired_difference_of_two_attacks_on_the_same_identities():
    first, second = [True] * 43 + [False] * 19, [True] * 37 + [False] * 25  # second's hits are a subset
    forward, backward = paired_difference(first, second), paired_difference(second, first)
    assert forward["value"] == pytest.approx(6 / 62) and (forward["only_a"], forward["only_b"]) == (6, 0)
    assert forward["p_value"] == pytest.approx(2 / 2**6)  # exact McNemar: 6 discordant pairs, all one way
    assert forward["low"] > 0  # pairing separates them although their own Wilson intervals overlap
    assert wilson_interval(37, 62)["high"] > wilson_interval(43, 62)["low"]
    assert backward["low"] == pytest.approx(-forward["high"]) and backward["high"] == pytest.approx(-forward["low"])
    same = paired_difference(first, first)
    assert same["value"] == 0 and same["p_value"] == 1 and same["low"] <= 0 <= same["high"]


def test_mcnemar_p_value_is_scipys_exact_binomial_test():
    """core.stats counts the binomial tail itself (scipy.stats is slow to import); it must agree with scipy."""
    from scipy.stats import binomtest

    for discordant in range(1, 40):
        for only_a in range(discordant + 1):
            assert mcnemar_p_value(only_a, discordant) == pytest.approx(binomtest(only_a, discordant).pvalue, rel=1e-12)


def test_paired_difference_interval_covers_the_true_difference_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(1000):  # 62 identities; the two attacks succeed on correlated identities
        u = rng.random(62)
        v = np.where(rng.random(62) < 0.5, u, rng.random(62))
        result = paired_difference(list(u < 0.7), list(v < 0.6))
        covered += result["low"] <= 0.1 <= result["high"]
    assert 0.93 <= covered / 1000 <= 0.97


class _ConstantJudge(torch.nn.Module):
    """A judge that names class `sink` for every image: the extreme case of a sink class."""

    def __init__(self, classes: int, sink: int) -> None:
        super().__init__()
        self.logits = torch.nn.Parameter(torch.zeros(classes).index_fill(0, torch.tensor([sink]), 5.0))

    def forward(self, x):
        return self.logits.expand(len(x), -1)


class _TruthfulJudge(torch.nn.Module):
    """A judge that reads the person off the image (its first pixel holds the label)."""

    def forward(self, x):
        return torch.nn.functional.one_hot(x[:, 0, 0, 0].long(), 40).float() * 10


def test_the_sink_rule_flags_a_judge_that_puts_everything_in_one_class():
    labels = torch.arange(40)
    images = labels.float().view(40, 1, 1, 1).expand(40, 1, 4, 4).clone()
    judges = [("sink", "a", _ConstantJudge(40, 21), {}), ("fair", "b", _TruthfulJudge(), {})]
    panel = panel_scores(judges, images, labels, 40, torch.device("cpu"))
    sink, fair = panel["judges"]
    assert sink["sink"]["flagged"] and sink["sink"]["class"] == 21 and sink["sink"]["share"] == 1.0
    assert sink["top1"]["value"] == 1 / 40 and not fair["sink"]["flagged"] and fair["top1"]["value"] == 1.0
    assert panel["flagged"] == ["sink"] and panel["range"] == [1 / 40, 1.0] and panel["median"] == (1 / 40 + 1) / 2
    assert panel["identified_by_all"] == 1 and panel["identified_by_any"] == 40
    # The rule's threshold on 40 reconstructions of 40 people: 24 to one person (the ORL judge's s21) is a sink,
    # 6 is not (p = 0.016 after the correction for 40 classes), 7 is; so is no fair judge's spread.
    assert sink_check([21] * 24 + list(range(16)), 40)["flagged"]
    assert not sink_check([5] * 6 + list(range(6, 40)), 40)["flagged"]
    assert sink_check([5] * 7 + list(range(7, 40)), 40)["flagged"]
    random_names = np.random.default_rng(0).integers(0, 40, size=(200, 40))
    assert sum(sink_check(names.tolist(), 40)["flagged"] for names in random_names) <= 2  # about 1% at most


def test_the_interval_of_a_difference_and_the_noise_rule():
    from core.stats import difference_interval, within_noise

    a, b = {"value": 0.8, "low": 0.7, "high": 0.9}, {"value": 0.5, "low": 0.4, "high": 0.6}
    difference = difference_interval(a, b)
    assert difference["value"] == pytest.approx(0.3) and difference["low"] == pytest.approx(0.3 - math.sqrt(0.02))
    close = {"value": 0.75, "low": 0.65, "high": 0.85}
    assert not within_noise(difference) and within_noise(difference_interval(a, close))
    single = difference_interval(a, {"value": 0.5, "low": math.nan, "high": math.nan})  # one seed: no interval
    assert math.isnan(single["low"]) and within_noise(single)  # nothing to claim an effect on
