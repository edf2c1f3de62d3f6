"""Extending a sweep: results files of one template join into one sweep (core.results.join_results, through
core.gallery.join_sweeps), the zoo's models count as stored, and a model trained on the Train page shows in
Explore as a point of the sweep it extends."""

import copy
import dataclasses
import hashlib
import json
import shutil

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import gallery
from core.data import PreparedData
from core.engine import Engine
from core.files import write_json_atomic
from core.gallery import Sweep, attack_siblings, available_sweeps, join_sweeps, load_zoo
from core.result_types import Judge, SweepRow
from core.results import results_path, template_hash
from core.store import Store
from core.stored_config import config_hash, sweep_from_dict
from core.summaries import summarise
from core.sweep import run_sweep
from core.zoo import ZOO_ATTACKS
from dashboard.charts import OTHER_JUDGE, TRAINED_HERE, sweep_tradeoff
from tests.conftest import SHORT
from tests.test_explore import panel, tradeoff
from tests.test_train_page import APP, wait_until_finished

JOIN_TAGS = {"origin", "other_judge", "evaluator"}  # what a join adds to a summary row (core.result_types.JoinedRow)


def extension(base: dict, mid_lambda: float, seed: int = 0, evaluator: dict | None = None) -> dict:
    """A results file as the Train page writes it when it extends `base` at one lambda: `base`'s template, one
    run (base's run at its largest lambda, moved to `mid_lambda`, so its figures and files are real ones)."""
    results = copy.deepcopy(base)
    results.pop("zoo", None)
    run = {**results["runs"][-1], "lambda": mid_lambda, "seed": seed, "target_key": f"t{mid_lambda}-{seed}"}
    row = {**results["summary"][-1], "lambda": mid_lambda}
    results["config"] |= {"lambdas": [mid_lambda], "seeds": [seed]}
    results |= {"runs": [run], "summary": [row], "created": "2999-01-01T00:00:00",
                "config_hash": config_hash(sweep_from_dict(results["config"])),
                "evaluator": evaluator or results["evaluator"]}
    return results


def points(trace: dict) -> list[tuple[float, float, float]]:
    return sorted(zip(trace["customdata"], trace["x"], trace["y"], strict=True))


def test_template_hash_is_the_sweep_but_its_lambdas_seeds_and_judge():
    miface, gmi = load_zoo()[:2]  # ORL's sweeps come first
    config = miface.typed.settings
    assert config_hash(config) == miface.key  # the stored config hashes as the sweep did
    assert template_hash(config) == template_hash(sweep_from_dict(extension(miface.results, 0.05, 3)["config"]))
    assert template_hash(config) == template_hash(dataclasses.replace(
        config, evaluator=dataclasses.replace(config.evaluator, epochs=1)))
    assert template_hash(config) != template_hash(gmi.typed.settings)
    train = dataclasses.replace(config.target.train, epochs=1)
    assert template_hash(config) != template_hash(dataclasses.replace(
        config, target=dataclasses.replace(config.target, train=train)))


def test_an_extension_joins_the_shipped_sweep_as_its_points():
    zoo = load_zoo()
    sweeps = join_sweeps([*zoo, Sweep(extension(zoo[0].results, 0.05), TRAINED_HERE)])
    assert [s.key for s in sweeps] == [s.key for s in zoo]  # joined, not a fourth sweep
    joined = sweeps[0]
    assert joined.lambdas == sorted([*zoo[0].lambdas, 0.05]) and joined.origin == "precomputed"
    assert "+ 1 trained here" in joined.label and len(joined.member_keys) == 2
    for mid_lambda in zoo[0].lambdas:  # the shipped points as shipped
        assert joined.row(mid_lambda).model_dump(exclude=JOIN_TAGS) == zoo[0].row(mid_lambda).model_dump(
            exclude=JOIN_TAGS) and joined.row(mid_lambda).origin == "precomputed"
    assert joined.row(0.05).origin == TRAINED_HERE and not joined.row(0.05).other_judge
    assert joined.reconstructions(0.05).shape == zoo[0].reconstructions(0.1).shape
    assert [s.key for s in attack_siblings(joined, sweeps)] == [s.key for s in zoo[1:len(ZOO_ATTACKS)]]  # ORL's
    curve, added = sweep_tradeoff(joined).data[:2]
    assert len(curve.x) == 9 and added.name == TRAINED_HERE and list(added.customdata) == [0.05]


def test_a_point_scored_by_another_judge_is_marked_not_mixed_in():
    zoo = load_zoo()
    other = {**zoo[0].results["evaluator"], "heldout_accuracy": {"value": 0.5, "low": 0.4, "high": 0.6, "n": 120}}
    extended = [Sweep(extension(zoo[0].results, 0.05, evaluator=other), TRAINED_HERE),
                Sweep(extension(zoo[0].results, 0.1, seed=1, evaluator=other), TRAINED_HERE)]
    shipped_view, local_view = [s for s in join_sweeps([*zoo, *extended])
                                if s.typed.config["attack"]["attack"] == "miface" and s.typed.data.dataset == "orl"]
    assert shipped_view.key == zoo[0].key and shipped_view.lambdas == sorted([*zoo[0].lambdas, 0.05])
    marked = shipped_view.row(0.05)
    assert marked.other_judge and marked.evaluator == Judge.model_validate(other, strict=False)
    assert shipped_view.row(0.1).seeds == 1 and not shipped_view.row(0.1).other_judge  # the shipped judge's
    figure = sweep_tradeoff(shipped_view)
    assert 0.05 not in figure.data[0].customdata and figure.data[-1].name == OTHER_JUDGE
    assert list(figure.data[-1].customdata) == [0.05]
    # The other judge's own view: its points on its curve, the shipped ones it lacks marked.
    assert local_view.results["evaluator"] == other and local_view.row(0.05).other_judge is False
    assert local_view.row(0.0).other_judge and local_view.row(0.0).evaluator == zoo[0].typed.evaluator


def test_seeds_of_one_lambda_from_two_files_are_summarised_together():
    zoo = load_zoo()
    joined = join_sweeps([zoo[0], Sweep(extension(zoo[0].results, 0.1, seed=1), TRAINED_HERE)])[0]
    row = joined.row(0.1)
    runs = [r for r in joined.results["runs"] if r["lambda"] == 0.1]
    assert row.seeds == 2 and row.origin == TRAINED_HERE and len(runs) == 2
    pooled = SweepRow.model_validate(summarise(runs, (0.1,))[0], strict=False)
    assert row.model_dump(exclude=JOIN_TAGS) == pooled.model_dump()


def test_joining_leaves_the_shipped_files_untouched(tmp_path):
    def digests() -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in gallery.ZOO_DIR.rglob("*") if p.is_file()}

    before = digests()
    added = extension(load_zoo()[0].results, 0.05)
    write_json_atomic(results_path(tmp_path, added["config_hash"]), added)
    sweeps, problems = available_sweeps(tmp_path)
    assert not problems and sweeps[0].reconstructions(0.05).shape[0] == 40 and 0.05 in sweeps[0].lambdas
    assert digests() == before


@pytest.mark.slow
def test_the_zoos_models_and_attacks_count_as_stored(tiny_zoo, data_dir, tmp_path):
    zoo_dir, zoo_store = tiny_zoo
    shipped = load_zoo(zoo_dir)[0].results
    shutil.copytree(zoo_store / "evaluators", tmp_path / "store" / "evaluators")  # the judge that scored the zoo
    stages = []
    engine = Engine(Store(tmp_path / "store"), data_dir, torch.device("cpu"), zoo_dir=zoo_dir,
                    progress=lambda stage, done, total: stages.append(stage))
    results = run_sweep(dataclasses.replace(SHORT, lambdas=(1.0,)), engine, tmp_path / "results")
    run, zoo_run = results["runs"][0], shipped["runs"][1]
    assert run["reused"] == {"target": True, "attack": True} and run["target_key"] == zoo_run["target_key"]
    assert run["attack"] == zoo_run["attack"] and run["attack_key"] == zoo_run["attack_key"]
    assert not [stage for stage in stages if stage.startswith(("train lambda", "miface"))]  # only the judge trained
    assert Store(tmp_path / "store").record("targets", run["target_key"])["shipped"]["weights_file"]
    # The same judge config trained again elsewhere scores differently: the zoo's scores are not its own.
    judge = results["evaluator"]["key"]
    record = tmp_path / "other" / "evaluators" / judge / "record.json"
    shutil.copytree(zoo_store / "evaluators", record.parent.parent)
    write_json_atomic(record, {**json.loads(record.read_text()), "real_image_distance": {"value": 1.0}})
    other = Engine(Store(tmp_path / "other"), data_dir, torch.device("cpu"), zoo_dir=zoo_dir)
    expected = engine.expected("attacks", PreparedData.load(SHORT.target.data, data_dir), SHORT.attack)
    assert other.shipped.attack(run["attack_key"], run["target_key"], SHORT.attack, judge, expected) is None
    assert engine.shipped.attack(run["attack_key"], run["target_key"], SHORT.attack, judge, expected) is not None


@pytest.mark.slow
def test_a_model_trained_to_extend_the_shipped_sweep_joins_it_in_explore(tiny_zoo, monkeypatch, tmp_path):
    zoo_dir, store = tiny_zoo
    files = {p: p.read_bytes() for p in zoo_dir.rglob("*") if p.is_file()}
    monkeypatch.setattr(gallery, "ZOO_DIR", zoo_dir)
    monkeypatch.setenv("MIDLAB_STORE", str(store))  # the zoo's judge is stored there
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "results"))
    shipped = load_zoo(zoo_dir)[0]

    app = AppTest.from_file(APP, default_timeout=30).run()
    app.switch_page("app_pages/train.py").run()
    assert app.selectbox[0].value == shipped.key
    app.text_input[0].set_value("0.5")
    app.button[0].click().run()
    wait_until_finished(app)
    assert not app.exception and "Done: 1 model" in app.success[0].value, [e.value for e in app.error]
    train_plot = json.loads(app.get("plotly_chart")[0].proto.spec)["data"]

    explore = AppTest.from_file(APP, default_timeout=30)
    explore.query_params["lam"] = "0.5"
    explore.run()
    assert not explore.exception
    slider = explore.select_slider[0]
    assert slider.options == ["0", "0.5", "1"] and slider.value == 0.5
    assert any(f"[{TRAINED_HERE}]" in m.value for m in explore.markdown)
    assert all("vs λ=0" in card["delta"] for card in panel(explore)["cards"])  # lambda = 0 is the comparison
    figure, _ = tradeoff(explore)
    curve, added = figure["data"][:2]
    assert [p[0] for p in points(curve)] == [0.0, 0.5, 1.0] and added["name"] == TRAINED_HERE
    assert points(curve) == points(train_plot[0]) and points(added) == points(train_plot[1])  # the pages agree
    assert {p: p.read_bytes() for p in zoo_dir.rglob("*") if p.is_file()} == files  # the zoo is untouched


def test_explore_marks_a_point_scored_by_another_judge(tmp_path, monkeypatch, data_dir):
    zoo = load_zoo()[0].results
    other = {**zoo["evaluator"], "real_image_distance": {**zoo["evaluator"]["real_image_distance"], "value": 9.0}}
    added = extension(zoo, 0.05, evaluator=other)
    write_json_atomic(results_path(tmp_path, added["config_hash"]), added)
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path))
    app = AppTest.from_file(APP, default_timeout=30)
    app.query_params["data"], app.query_params["attack"], app.query_params["lam"] = "orl", "miface", "0.05"  # zoo[0]
    app.run()
    assert not app.exception and app.select_slider[0].value == 0.05
    assert any(f"[{OTHER_JUDGE}]" in m.value for m in app.markdown) and "9.00" in app.warning[0].value
    cards = panel(app)["cards"]
    assert "vs λ=0" in cards[0]["delta"] and [card["delta"] for card in cards[1:]] == [None] * 3  # test accuracy only
    assert panel(app)["sentence"] is None  # the attack's figures are not compared with lambda = 0's
    assert len(app.selectbox) == 4  # dataset, attack, view, and the sweep as each judge scored it
    figure, _ = tradeoff(app)
    assert [t["name"] for t in figure["data"]][:2] == ["MI-Face (shown)", OTHER_JUDGE]
