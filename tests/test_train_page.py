"""The Train page runs a small training in the background to completion, and its point appears."""

import time
from pathlib import Path

import pytest
from conftest import shown
from streamlit.testing.v1 import AppTest

from core.results import list_results, load_results

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
pytestmark = pytest.mark.slow


def wait_until_finished(app: AppTest, seconds: float = 180) -> AppTest:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.run()
        if app.success or app.error or app.warning:
            return app
        time.sleep(1)
    raise AssertionError("the training job did not finish in time")


def open_on_short_sweep(page: str, sweep, monkeypatch) -> AppTest:
    """A page showing the short test sweep, with its store (its judge is already trained there)."""
    _, results, root = sweep
    monkeypatch.setenv("MIDLAB_STORE", str(root / "store"))
    monkeypatch.setenv("MIDLAB_RESULTS", str(root / "results"))
    app = AppTest.from_file(APP, default_timeout=30).run()
    app.switch_page(page).run()
    assert not app.exception and "Nothing started" in app.info[-1].value
    return app.selectbox[0].set_value(results["config_hash"]).run()


def test_train_a_model_in_the_background(sweep, monkeypatch, data_dir):
    root = sweep[2]
    app = open_on_short_sweep("app_pages/train.py", sweep, monkeypatch)
    app.text_input[0].set_value("0.5")
    app.number_input[0].set_value(2)
    app.button[0].click().run()
    assert not app.exception
    wait_until_finished(app)
    assert not app.exception and "Done: 1 model" in app.success[0].value, [e.value for e in app.error]
    table = app.dataframe[0].value
    assert list(table["lambda"]) == [0.5] and list(table["seed"]) == [0]
    newest = load_results(list_results(root / "results")[0])
    assert newest["config"]["lambdas"] == [0.5] and newest["config"]["target"]["train"]["epochs"] == 2
    # The extension is judged by the sweep's own judge (its config comes back whole), not a second one trained.
    assert newest["evaluator"]["key"] == sweep[1]["evaluator"]["key"]
    assert len(app.get("plotly_chart")) == 1

    app.text_input[0].set_value("0.5, nan")
    app.button[0].click().run()
    assert "Not started" in app.error[0].value and "'nan' is not a number" in shown(app.error[0].value)


def test_attack_lab_runs_a_new_attack_with_other_steps(sweep, monkeypatch, data_dir):
    root = sweep[2]
    app = open_on_short_sweep("app_pages/attack_lab.py", sweep, monkeypatch)
    app.number_input[0].set_value(20)
    app.button[0].click().run()
    wait_until_finished(app)
    assert not app.exception and "Done: 1 model" in app.success[0].value, [e.value for e in app.error]
    assert list(app.dataframe[0].value["reused"]) == [True]  # the model was stored: only the attack ran
    newest = load_results(list_results(root / "results")[0])
    assert newest["config"]["attack"]["miface"]["steps"] == 20 and newest["runs"][0]["reused"]["target"]
    assert newest["evaluator"]["key"] == sweep[1]["evaluator"]["key"]
