"""GMI's two recipes side by side (core/recipes.py): sweeps are paired on the same targets, each person is a pair,
and each recipe's regime is judged by the study's rule against its own lambda = 0 model."""

from pathlib import Path

import pytest

from core import gallery
from core.recipes import compare_recipes, recipe_pairs
from core.result_types import SweepResults
from core.stats import wilson_interval
from tests.typed_sweeps import typed_sweep

PEOPLE, TESTS = 40, 120
FINDINGS = str(Path(__file__).resolve().parent.parent / "dashboard" / "app_pages" / "findings.py")


def gmi_sweep(recipe: str, named: dict[float, int], correct: dict[float, int], view: str = "sample",
              judge: str = "judge-a", dataset: str = "orl") -> SweepResults:
    """A one-seed GMI sweep whose attack names the first `named[lambda]` people at each lambda, on a target that
    gets `correct[lambda]` of the test photos right."""
    rows, runs = [], []
    for mid_lambda, count in named.items():
        top1 = wilson_interval(count, PEOPLE)
        accuracy = wilson_interval(correct[mid_lambda], TESTS)
        rows.append({"lambda": mid_lambda, "seeds": 1, "test_accuracy": accuracy, "attack_top1": top1})
        per_identity = [{"label": i, "predicted": i if i < count else (i + 1) % PEOPLE, "top1": i < count,
                         "top5": i < count} for i in range(PEOPLE)]
        attack = {"top1": top1, "per_identity": per_identity}
        if recipe == "paper":
            attack["any_restart"] = wilson_interval(min(PEOPLE, count + 2), PEOPLE)
        runs.append({"lambda": mid_lambda, "seed": 0, "test": {"accuracy": accuracy}, "attack": attack,
                     "attack_key": f"{recipe}-{mid_lambda:g}"})
    data = {"data": {"dataset": dataset}}
    config = {"target": data, "evaluator": data, "attack": {"attack": "gmi", "view": view, "gmi": {"recipe": recipe}}}
    return typed_sweep(rows, runs, config, evaluator={"key": judge})


ACCURATE = {0.0: 118, 0.01: 117, 0.1: 116}


def test_sweeps_pair_only_on_the_same_targets_view_and_judge():
    fast = gmi_sweep("fast", {0.0: 10, 0.1: 10}, ACCURATE)
    paper = gmi_sweep("paper", {0.0: 10, 0.1: 10}, ACCURATE)
    assert recipe_pairs([fast, paper]) == [(fast, paper)]
    assert recipe_pairs([gmi_sweep("fast", {0.0: 10}, ACCURATE, view="mu"), paper]) == []
    assert recipe_pairs([gmi_sweep("fast", {0.0: 10}, ACCURATE, judge="judge-b"), paper]) == []
    assert recipe_pairs([gmi_sweep("fast", {0.0: 10}, ACCURATE, dataset="lfw"), paper]) == []


def test_a_stronger_paper_recipe_shows_as_a_paired_gain_beyond_the_noise():
    fast = gmi_sweep("fast", {0.0: 5, 0.01: 5, 0.1: 5}, ACCURATE)
    paper = gmi_sweep("paper", {0.0: 30, 0.01: 29, 0.1: 5}, ACCURATE)
    compared = compare_recipes(fast, paper)
    assert compared["lambdas"] == [0.0, 0.01, 0.1]
    at_zero = compared["per_lambda"][0]["paper_minus_fast"]
    assert at_zero["value"] == 25 / 40 and at_zero["low"] > 0 and at_zero["only_a"] == 25 and at_zero["only_b"] == 0
    at_strongest = compared["per_lambda"][2]["paper_minus_fast"]
    assert at_strongest["value"] == 0 and at_strongest["low"] < 0 < at_strongest["high"]
    assert compared["per_lambda"][0]["paper_any_restart"].value == 32 / 40


def test_each_recipe_is_judged_by_the_study_rule_against_its_own_lambda_zero_model():
    # The paper recipe names 30 people at lambda = 0 and 2 at lambda = 0.1 with the accuracy kept: MID lowers it.
    paper = gmi_sweep("paper", {0.0: 30, 0.1: 2}, {0.0: 118, 0.1: 118})
    fast = gmi_sweep("fast", {0.0: 10, 0.1: 11}, {0.0: 118, 0.1: 118})
    fast_regime, paper_regime = compare_recipes(fast, paper)["regimes"]
    assert (fast_regime["recipe"], paper_regime["recipe"]) == ("fast", "paper")
    assert paper_regime["verdict"]["verdict"] == "yes"
    assert fast_regime["verdict"]["verdict"] == "inconclusive" and fast_regime["verdict"]["reason"] == "overlap"
    assert paper_regime["finding"].startswith("attack recipe=paper: yes")
    assert "MID lambda=0 reference" in paper_regime["finding"]
    # A MID model that loses the reference's accuracy is not a match: nothing measured at equal accuracy.
    lossy = gmi_sweep("paper", {0.0: 30, 0.1: 2}, {0.0: 118, 0.1: 40})
    assert compare_recipes(fast, lossy)["regimes"][1]["verdict"]["reason"] == "no_match"


@pytest.mark.slow
def test_the_findings_page_judges_a_real_tiny_pair_of_recipes_and_shows_their_faces(sweep, short_config, tmp_path,
                                                                                   monkeypatch):
    """Two real GMI sweeps of the short ORL config (the fast recipe, and the paper's loop cut to 6 steps) on the
    same targets and judge: the page pairs them, tabulates both recipes per lambda and judges each."""
    import dataclasses

    from streamlit.testing.v1 import AppTest

    from core.attack_config import AttackConfig, framed_for, paper_gmi
    from core.sweep import run_sweep

    engine, _, _ = sweep
    fast_attack = framed_for("orl", dataclasses.replace(short_config.attack, attack="gmi"))
    paper_attack = dataclasses.replace(fast_attack, gmi=dataclasses.replace(
        paper_gmi(AttackConfig().gmi), steps=6, restarts=2, record_every=3))
    monkeypatch.setattr(gallery, "ZOO_DIR", tmp_path / "no-zoo")  # the shipped paper recipe would show too
    results = tmp_path / "results"
    fast, paper = (SweepResults.model_validate(run_sweep(dataclasses.replace(short_config, attack=attack), engine,
                                                         results), strict=False)
                   for attack in (fast_attack, paper_attack))
    assert recipe_pairs([fast, paper]) == [(fast, paper)]
    monkeypatch.setenv("MIDLAB_RESULTS", str(results))
    monkeypatch.setenv("MIDLAB_STORE", str(engine.store.root))
    app = AppTest.from_file(FINDINGS, default_timeout=60).run()
    assert not app.exception
    header = f"Attack recipe: fast vs paper (ORL, {fast_attack.view} view)"
    assert header in [h.value for h in app.header]
    table = next(m.value for m in app.markdown if m.value.startswith("| lambda | test accuracy | fast top-1"))
    lines = table.splitlines()[2:]
    compared = compare_recipes(fast, paper)
    assert [line.split(" | ")[0].strip("| ") for line in lines] == [f"{v:g}" for v in compared["lambdas"]]
    findings = [i.value for i in app.info if "attack recipe=" in i.value]
    assert len(findings) == 2 and "attack recipe=fast" in findings[0] and "attack recipe=paper" in findings[1]
    # Faces: each shown person's original (when the data is there) and both recipes' reconstructions.
    captions = [caption for image in app.image for caption in image.captions]
    assert captions.count("fast recipe") == captions.count("paper recipe") >= 1


def test_the_findings_page_judges_the_shipped_pairs_of_recipes(results_dir):
    """The zoo ships ORL's and LFW's default GMI sweeps and the paper recipe on the same models: Findings pairs
    them, per lambda of each paper sweep, and judges each recipe by the study's rule; every figure is the zoo's."""
    from streamlit.testing.v1 import AppTest

    sweeps = [sweep.typed for sweep in gallery.load_zoo()]
    pairs = recipe_pairs(sweeps)
    assert [paper.settings.target.data.dataset for _, paper in pairs] == ["orl", "lfw"]
    app = AppTest.from_file(FINDINGS, default_timeout=60).run()
    assert not app.exception and not app.warning
    tables = [m.value for m in app.markdown if m.value.startswith("| lambda | test accuracy | fast top-1")]
    findings = [i.value for i in app.info if "attack recipe=" in i.value]
    assert len(tables) == len(pairs) and len(findings) == 2 * len(pairs)
    judged_pairs = zip(findings[::2], findings[1::2], strict=True)  # each pair's fast then paper finding
    for (fast, paper), table, judged in zip(pairs, tables, judged_pairs, strict=True):
        compared = compare_recipes(fast, paper)
        dataset = paper.settings.target.data.dataset.upper()
        assert f"Attack recipe: fast vs paper ({dataset}, {paper.settings.attack.view} view)" in [
            h.value for h in app.header]
        rows = [line.split(" | ") for line in table.splitlines()[2:]]
        assert [row[0].strip("| ") for row in rows] == [f"{v:g}" for v in paper.config["lambdas"]] == [
            f"{v:g}" for v in compared["lambdas"]]
        for row, run in zip(rows, sorted(paper.runs, key=lambda r: r.lambda_), strict=True):
            assert row[3].startswith(f"{run.attack.top1.value:.2f}")  # the paper recipe's top-1, as stored
        assert [r["finding"] for r in compared["regimes"]] == [f.split(" · ", 1)[1] for f in judged]
    captions = [caption for image in app.image for caption in image.captions]
    assert captions.count("fast recipe") == captions.count("paper recipe") >= len(pairs)
