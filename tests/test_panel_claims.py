"""What MID does to an attack in the judge panel's terms (core/panel_claims.py): each judge's paired change from
lambda = 0, and the panel's word only when every judge says the same."""

from core.panel_claims import judges_text, panel_differences, panel_effect, panel_row
from core.result_types import PanelJudge, PanelRow
from core.stats import paired_difference
from core.study_figures import panel_effects
from tests.typed_sweeps import typed_sweep

PEOPLE = 40
JUDGE = {"key": "k", "heldout_accuracy": {"value": 0.9}, "top1": {"value": 0.0}}
SINK = {"class": 0, "count": 1, "n": PEOPLE, "share": 0.025, "uniform": 0.025, "p_value": 1.0}


def answers(right: int) -> list[int]:
    """A judge's answers that name the first `right` people and miss everyone else."""
    return [person if person < right else (person + 1) % PEOPLE for person in range(PEOPLE)]


def scored_sweep(before: dict[str, int], after: dict[str, int], flagged: tuple[str, ...] = ()):
    """A two-lambda sweep (0 and 0.03) whose panel judges name this many people at each lambda."""
    runs, panel = [], []
    for mid_lambda, named in ((0.0, before), (0.03, after)):
        judges = [{**JUDGE, "name": name, "predicted": answers(right), "top1": {"value": right / PEOPLE},
                   "sink": {**SINK, "flagged": name in flagged}} for name, right in named.items()]
        top1 = {name: right / PEOPLE for name, right in named.items()}
        runs.append({"lambda": mid_lambda, "panel": {
            "judges": judges, "median": 0.0, "range": [0.0, 0.0], "identified_by_all": 0, "identified_by_any": 0,
            "n": PEOPLE, "flagged": list(flagged)}})
        panel.append(PanelRow.model_validate({
            "lambda": mid_lambda, "seeds": 1, "top1": top1, "median": sorted(top1.values())[len(top1) // 2],
            "range": [min(top1.values()), max(top1.values())], "identified_by_all": 0, "n": PEOPLE,
            "flagged": list(flagged)}))
    results = typed_sweep([{"lambda": 0.0}, {"lambda": 0.03}], runs)
    return results.model_copy(update={"panel_summary": panel, "panel_judges": [
        PanelJudge.model_validate({"name": name, "key": name, "heldout_accuracy": {"value": 0.9}}) for name in before]})


def test_the_panel_says_mid_lowers_an_attack_only_when_every_judge_does():
    lowered = scored_sweep({"vgg": 30, "resnet": 28, "pca_lda": 32}, {"vgg": 5, "resnet": 6, "pca_lda": 4})
    effect = panel_effect(lowered, 0.03)
    assert effect.verdict == "lowers" and [judge.effect for judge in effect.judges] == ["lowers"] * 3
    assert effect.judges[0].change == paired_difference([p < 5 for p in range(PEOPLE)], [p < 30 for p in range(PEOPLE)])
    assert effect.text().startswith("MID lowers it for all 3 judges: vgg 0.75 -> 0.12")

    split = scored_sweep({"vgg": 30, "resnet": 28, "pca_lda": 10}, {"vgg": 5, "resnet": 27, "pca_lda": 30},
                         flagged=("pca_lda",))
    effect = panel_effect(split, 0.03)
    assert [judge.effect for judge in effect.judges] == ["lowers", "noise", "raises"] and effect.verdict == "split"
    assert effect.text().startswith("the judges disagree (MID lowers it: 1, within the noise: 1, the attack gains: 1)")
    assert "pca_lda! 0.25 -> 0.75" in effect.text()  # the sink rule's flag on the judge it marks

    steady = scored_sweep({"vgg": 20, "resnet": 20}, {"vgg": 21, "resnet": 19})
    assert panel_effect(steady, 0.03).verdict == "noise"
    # No lambda kept the test accuracy within reach (the default lambda is then 0): nothing to compare with.
    assert panel_effect(steady, 0.0) is None


def test_a_sweep_without_the_panel_has_no_panel_reading():
    plain = typed_sweep([{"lambda": 0.0}, {"lambda": 0.03}], [{"lambda": 0.0}, {"lambda": 0.03}])
    assert panel_effect(plain, 0.03) is None and panel_row(plain, 0.0) is None and panel_effects([plain]) == []


def test_each_judge_is_named_in_the_panels_order_with_its_flag():
    results = scored_sweep({"vgg": 30, "resnet": 28, "pca_lda": 10}, {"vgg": 5, "resnet": 27, "pca_lda": 30},
                           flagged=("resnet",))
    assert judges_text(results, panel_row(results, 0.0)) == "vgg 0.75, resnet 0.70!, pca_lda 0.25"


def test_two_attacks_are_compared_judge_by_judge_on_the_same_people():
    strong = scored_sweep({"vgg": 30, "resnet": 28}, {"vgg": 30, "resnet": 28})
    weak = scored_sweep({"vgg": 2, "resnet": 28}, {"vgg": 2, "resnet": 28})
    differences = dict(panel_differences(strong, weak, 0.0))
    assert differences["vgg"] == paired_difference([p < 30 for p in range(PEOPLE)], [p < 2 for p in range(PEOPLE)])
    assert differences["resnet"]["value"] == 0 and list(differences) == ["vgg", "resnet"]
    plain = typed_sweep([{"lambda": 0.0}], [{"lambda": 0.0}])
    assert panel_differences(strong, plain, 0.0) == []
