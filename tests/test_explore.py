"""The Explore page on the shipped zoo, driven by AppTest: slider, URL state, missing data, presenter mode."""

import json
from pathlib import Path

import pytest
from conftest import shown
from streamlit.testing.v1 import AppTest

from core.gallery import load_zoo
from dashboard.state import default_lambda

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 30


@pytest.fixture
def explore(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "no-results"))  # the zoo alone
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def tradeoff(app: AppTest) -> tuple[dict, dict]:
    """The tradeoff plot's figure and its ring (the highlight that follows the slider in the browser), as the
    live chart (dashboard/live_chart.py) receives them."""
    live, spread = app.get("bidi_component")  # the prediction spread, the other live chart, has no ring
    data = json.loads(live.proto.json)
    assert json.loads(spread.proto.json)["ring"] is None
    return json.loads(data["figure"]), data["ring"]


def metric_values(app: AppTest) -> list[str]:
    return [m.value for m in app.metric]


def test_first_screen_shows_faces_metrics_and_plots(explore):
    app = explore.run()
    assert not app.exception
    assert len(app.image) == 8 * 3  # original, lambda = 0 and chosen lambda for 8 people
    assert len(app.metric) == 4 and not app.get("plotly_chart") and len(app.get("bidi_component")) == 2
    assert "precomputed" in app.markdown[0].value or any("precomputed" in m.value for m in app.markdown)


def test_the_tradeoff_plot_has_one_curve_per_attack_and_the_attack_selector_switches(explore):
    app = explore.run()
    names = [trace.get("name") for trace in tradeoff(app)[0]["data"]]
    assert names[:3] == ["MI-Face (shown)", "GMI (GAN prior)", "inversion network (black-box)"]
    miface_images = [image.value for image in app.image]
    app.selectbox[0].set_value("gmi").run()
    assert not app.exception and app.query_params["attack"] in ("gmi", ["gmi"])
    names = [trace.get("name") for trace in tradeoff(app)[0]["data"]]
    assert names[0] == "GMI (GAN prior) (shown)" and "MI-Face" in names
    images = [image.value for image in app.image]
    assert images[0::3] == miface_images[0::3] and images[1::3] != miface_images[1::3]


def test_moving_lambda_changes_the_images_and_the_metrics(explore):
    app = explore.run()
    zoo = load_zoo()[0]
    assert app.select_slider[0].value == default_lambda(zoo) != zoo.lambdas[-1]
    before_images = [image.value for image in app.image]
    before_metrics = metric_values(app)
    app.select_slider[0].set_value(zoo.lambdas[-1]).run()
    after_images = [image.value for image in app.image]
    assert metric_values(app) != before_metrics
    assert after_images[0::3] == before_images[0::3] and after_images[1::3] == before_images[1::3]
    assert after_images[2::3] != before_images[2::3]
    expected = f"{zoo.row(zoo.lambdas[-1])['test_accuracy']['value']:.2f}"
    assert metric_values(app)[0] == expected


def test_url_state_round_trip(explore):
    zoo = load_zoo()[0]
    explore.query_params["lam"] = f"{zoo.lambdas[-1]:g}"
    explore.query_params["ids"] = "s3,s5,../../etc/passwd"
    app = explore.run()
    assert not app.exception
    assert app.select_slider[0].value == zoo.lambdas[-1]
    assert app.multiselect[0].value == ["s3", "s5"]
    assert len(app.image) == 2 * 3
    assert any("passwd" in toast.value for toast in app.toast)
    assert app.query_params["lam"] == [f"{zoo.lambdas[-1]:g}"] or app.query_params["lam"] == f"{zoo.lambdas[-1]:g}"
    app.select_slider[0].set_value(zoo.lambdas[1]).run()
    lam = app.query_params["lam"]
    assert (lam[0] if isinstance(lam, list) else lam) == f"{zoo.lambdas[1]:g}"


def test_nonsense_url_values_are_ignored_with_a_notice(explore):
    explore.query_params["lam"] = "nan"
    explore.query_params["view"] = "../secret"
    app = explore.run()
    assert not app.exception and app.select_slider[0].value == default_lambda(load_zoo()[0])
    notices = " ".join(toast.value for toast in app.toast)
    assert "lam" in notices and "secret" in notices


def test_without_the_dataset_the_reconstructions_still_show(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "no-results"))
    monkeypatch.setenv("MIDLAB_DATA", str(tmp_path / "no-data"))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not app.exception
    warning = shown(app.warning[0].value)  # the error is shown as plain text: Markdown-escaped
    assert "att_faces" in warning and "MIDLAB_DATA" in warning
    assert "`python -m core fetch orl`" in warning  # the data folder is the default: no --data
    assert len(app.image) == 8 * 2 and len(app.metric) == 4


def test_presenter_mode_hides_the_sidebar(explore):
    explore.query_params["presenter"] = "1"
    app = explore.run()
    assert not app.exception and len(app.image) == 24


def test_the_highlight_ring_follows_the_slider(explore):
    """The ring is the figure's last trace, labelled with the chosen lambda; the browser moves it to the point
    the ring data names for the slider's new value before the server answers, so those points must be the
    plotted ones, keyed by the slider's own text."""
    app = explore.run()
    zoo = load_zoo()[0]
    for value in (default_lambda(zoo), zoo.lambdas[-1]):
        app.select_slider[0].set_value(value).run()
        figure, ring = tradeoff(app)
        highlight = figure["data"][ring["trace"]]
        assert ring["trace"] == len(figure["data"]) - 1 and ring["slider"] == app.select_slider[0].label
        assert ring["shown"] == f"{value:g}" and highlight["text"] == [f"λ={value:g}"]
        assert [highlight["x"][0], highlight["y"][0]] == ring["points"][f"{value:g}"]
        shown = figure["data"][0]
        assert list(ring["points"]) == [f"{v:g}" for v in zoo.lambdas]
        assert [ring["points"][f"{v:g}"] for v in shown["customdata"]] == [list(p) for p in zip(shown["x"], shown["y"],
                                                                                                strict=True)]


def test_without_static_serving_the_tradeoff_plot_falls_back_to_plotly_chart(explore, monkeypatch):
    import streamlit as st

    from dashboard import live_chart

    live_chart.plotly_js_served.clear()
    option = st.get_option
    monkeypatch.setattr(st, "get_option", lambda name: False if name == "server.enableStaticServing" else option(name))
    app = explore.run()
    live_chart.plotly_js_served.clear()
    assert not app.exception and not app.get("bidi_component") and len(app.get("plotly_chart")) == 2


def test_learn_page(explore):
    app = explore.run()
    app.switch_page("app_pages/learn.py").run()
    assert not app.exception and len(app.get("latex")) >= 2


def test_attack_lab_replays_the_trajectory(explore):
    app = explore.run()
    app.switch_page("app_pages/attack_lab.py").run()
    assert not app.exception
    assert len(app.image) == 4 * 2 and len(app.get("plotly_chart")) == 1
    final = [image.value for image in app.image]
    assert "step 100" in app.image[0].captions[0]
    app.select_slider[1].set_value(0).run()
    assert "step 0" in app.image[0].captions[0]
    assert app.image[0].value != final[0] and app.image[1].value == final[1]  # the original stays
