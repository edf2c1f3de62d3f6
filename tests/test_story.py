"""What the dashboard says about stored results (core/story.py): the sentence under Explore's cards follows the
interval rule, and the Story page renders every step from the shipped results and from ORL alone."""

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import gallery
from core.gallery import attack_siblings, load_zoo
from core.result_types import SweepResults
from core.stats import wilson_interval
from core.story import attack_of, featured_index, lambda_changes, lambda_sentence, short_names, story_steps
from tests.typed_sweeps import typed_sweep

ROOT = Path(__file__).resolve().parent.parent
STORY = str(ROOT / "dashboard" / "app_pages" / "story.py")
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 30


def sweep_results(named: tuple[list[bool], list[bool]], correct: tuple[int, int], people: int = 40,
                  tests: int = 120) -> SweepResults:
    """A two-lambda sweep (0 and 0.01) with one seed: which people the attack names at each lambda, and how many
    of `tests` test photos the model gets right."""
    rows, runs = [], []
    for mid_lambda, hits, right in zip((0.0, 0.01), named, correct, strict=True):
        per_identity = [{"label": i, "predicted": i if hit else (i + 1) % people, "top1": hit, "top5": hit,
                         "evaluator_confidence": 0.9 if hit else 0.1, "feature_distance": 10.0 if hit else 20.0}
                        for i, hit in enumerate(hits)]
        figure = wilson_interval(sum(hits), people)
        rows.append({"lambda": mid_lambda, "seeds": 1, "test_accuracy": wilson_interval(right, tests),
                     "attack_top1": figure, "attack_top5": figure,
                     "feature_distance": {"value": 15.0, "low": 14.0, "high": 16.0, "n": people}})
        runs.append({"lambda": mid_lambda, "seed": 0, "attack": {"per_identity": per_identity}})
    return typed_sweep(rows, runs, data={"identities": people})


def test_a_change_inside_its_interval_is_said_to_be_within_the_noise():
    before = [i < 10 for i in range(40)]
    after = [i < 11 for i in range(40)]  # one more person named: far inside the paired interval
    results = sweep_results((before, after), (118, 117))
    change = lambda_changes(results, 0.01)["attack_top1"]
    assert change["low"] < 0 < change["high"]
    assert lambda_sentence(results, 0.01) == (
        "At lambda = 0.01 the model keeps 0.97 test accuracy (-0.01, within the noise); the attack still names "
        "0.28 of the 40 people (+0.03, within the noise).")


def test_a_change_outside_its_interval_is_stated_plainly():
    before = [i < 30 for i in range(40)]
    after = [i < 5 for i in range(40)]  # 25 fewer people named, none gained: outside the paired interval
    results = sweep_results((before, after), (118, 90))
    changes = lambda_changes(results, 0.01)
    assert changes["attack_top1"]["high"] < 0 and changes["test_accuracy"]["high"] < 0
    assert lambda_sentence(results, 0.01) == (
        "At lambda = 0.01 the model keeps 0.75 test accuracy (-0.23); the attack now names only 0.12 of the 40 "
        "people (-0.62).")
    assert lambda_sentence(results, 0.0) == ("At lambda = 0 (no MID) the model has 0.98 test accuracy and the "
                                             "attack names 0.75 of the 40 people.")


def test_every_number_in_the_story_comes_from_the_results():
    """Change one stored figure and the story's text changes with it: nothing is typed into the prose."""
    zoo = load_zoo()
    featured = zoo[featured_index([s.typed for s in zoo])]
    siblings = [s.typed for s in attack_siblings(featured, zoo)]
    steps = story_steps(featured.typed, siblings, [s.typed for s in zoo], [], [])
    assert 6 <= len(steps) <= 8
    assert (featured.typed.data.dataset, attack_of(featured.typed)) == ("lfw", "gmi")
    first = featured.typed.summary[0]
    assert f"{first.test_accuracy.value:.2f}" in steps[0].text
    lowered = first.model_copy(update={"test_accuracy": first.test_accuracy.model_copy(update={"value": 0.123})})
    changed = featured.typed.model_copy(update={"summary": [lowered, *featured.typed.summary[1:]]})
    assert "0.12" in story_steps(changed, siblings, [changed], [], [])[0].text
    assert not any(step.missing for step in steps[:3])  # LFW's sweeps ship


def test_the_first_screen_prefers_lfw_under_gmi_then_orl_under_gmi_then_the_first_sweep():
    def sweep(dataset: str, attack: str) -> SweepResults:
        return typed_sweep([], [], {"attack": {"attack": attack}}, {"dataset": dataset})

    assert featured_index([sweep("orl", "miface"), sweep("orl", "gmi"), sweep("lfw", "gmi")]) == 2
    assert featured_index([sweep("orl", "miface"), sweep("lfw", "miface"), sweep("orl", "gmi")]) == 2
    assert featured_index([sweep("mnist", "miface"), sweep("lfw", "inversion")]) == 0


@pytest.fixture
def orl_only(results_dir, data_dir, tmp_path, monkeypatch):
    """The shipped zoo's ORL sweeps alone: no LFW sweep, no shipped comparison or study, an empty results folder."""
    manifest = json.loads((gallery.ZOO_DIR / gallery.MANIFEST).read_text())
    manifest["sweeps"] = [sweep for sweep in manifest["sweeps"] if sweep["data"]["dataset"] == "orl"]
    folder = tmp_path / "orl_zoo"
    for name in {run[file] for sweep in manifest["sweeps"] for run in sweep["runs"]
                 for file in ("weights_file", "reconstructions_file")}:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(gallery.ZOO_DIR / name, folder / name)
    (folder / gallery.MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setattr(gallery, "ZOO_DIR", folder)
    return results_dir


def story_at(step: int) -> AppTest:
    app = AppTest.from_file(STORY, default_timeout=TIMEOUT)
    app.query_params["step"] = str(step)
    return app.run()


@pytest.mark.parametrize("step", range(1, 9))
def test_every_story_step_renders_from_the_shipped_results(step, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "no-results"))
    app = story_at(step)
    assert not app.exception
    assert app.title[0].value.startswith(f"{step}. ")
    assert not app.toast
    if step == 3:  # LFW's people under GMI, as shipped
        assert "of the 62 people" in app.markdown[0].value and not app.info
    if step == 7:  # the shipped comparisons: ORL's and LFW's
        assert "**ORL**" in app.markdown[0].value and "**LFW**" in app.markdown[0].value
    if step == 8:  # the shipped studies
        assert "regime studies" in app.markdown[0].value


def test_every_story_step_renders_from_orl_alone(orl_only):
    missing = {}
    for step in range(1, 9):
        app = story_at(step)
        assert not app.exception and app.title[0].value.startswith(f"{step}. ")
        missing[step] = " ".join(info.value for info in app.info)
    assert "python -m core sweep --dataset lfw --attack gmi" in missing[3]
    assert "python -m core compare" in missing[7] and "python -m core study" in missing[8]


def test_the_buttons_and_the_url_step_through_the_story(orl_only):
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    app.switch_page("app_pages/story.py").run()
    assert not app.exception and app.title[0].value.startswith("1. ")
    assert app.button(key="story-prev").disabled
    app.button(key="story-next").click().run()
    assert app.title[0].value.startswith("2. ") and app.query_params["step"] in ("2", ["2"])
    app.button(key="story-prev").click().run()
    assert app.title[0].value.startswith("1. ")
    app = story_at(99)
    assert app.title[0].value.startswith("1. ") and "step" in app.toast[0].value


def test_short_names_fit_a_caption_and_stay_distinct():
    assert short_names(["Arnold_Schwarzenegger", "George_W_Bush", "Laura_Bush", "s1", "Doe, Jane"]) == [
        "Schwarzenegger", "George W Bush", "Laura Bush", "s1", "Doe, Jane"]
