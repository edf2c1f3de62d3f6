"""The Explore page on the shipped zoo, driven by AppTest: slider, URL state, missing data, presenter mode."""

import json
from pathlib import Path

import pytest
from conftest import shown
from streamlit.testing.v1 import AppTest

from core.figures import ATTACK_NAMES
from core.gallery import attack_siblings, load_zoo
from core.panel_claims import panel_effect, panel_row
from core.stats import within_noise
from core.story import default_lambda, featured_index, lambda_changes, lambda_sentence

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 30


@pytest.fixture
def explore(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "no-results"))  # the zoo alone
    return AppTest.from_file(APP, default_timeout=TIMEOUT)


def featured():
    """The sweep Explore opens on: GMI on the zoo's LFW models."""
    zoo = load_zoo()
    return zoo[featured_index([s.typed for s in zoo])]


def components(app: AppTest) -> list[dict]:
    """The data of the page's browser-side components: the faces that follow the slider and the two live charts."""
    return [json.loads(c.proto.json) for c in app.get("bidi_component")]


def live_faces(app: AppTest) -> dict:
    [faces] = [json.loads(data["json"]) for data in components(app) if "json" in data]
    return faces


def tradeoff(app: AppTest) -> tuple[dict, dict]:
    """The tradeoff plot's figure and its ring (the highlight that follows the slider in the browser), as the
    live chart (dashboard/live_chart.py) receives them."""
    live, spread = [data for data in components(app) if "figure" in data]
    assert spread["ring"] is None  # the prediction spread, the other live chart, has no ring
    return json.loads(live["figure"]), json.loads(live["ring"])


def panel(app: AppTest) -> dict:
    """The metric cards and the sentence the page shows: the live component draws those of the slider's value."""
    return live_faces(app)["panels"][f"{app.select_slider[0].value:g}"]


def metric_values(app: AppTest) -> list[str]:
    return [card["value"] for card in panel(app)["cards"]]


def test_first_screen_shows_faces_metrics_and_plots(explore):
    app = explore.run()
    assert not app.exception
    assert len(app.image) == 8 * 3  # original, lambda = 0 and chosen lambda for 8 people
    # four cards by the sweep's judge, a fifth by the judge panel that scored the zoo
    assert len(metric_values(app)) == 5 and not app.get("plotly_chart") and len(app.get("bidi_component")) == 3
    assert any("precomputed" in m.value for m in app.expander[0].markdown)  # hashes in the details, not up top
    assert app.query_params["attack"] in ("gmi", ["gmi"]) and app.query_params["data"] in ("lfw", ["lfw"])
    assert app.multiselect[0].value == featured().names[:8]  # the first eight by name (labels in natural order)


def test_the_tradeoff_plot_has_one_curve_per_attack_and_the_attack_selector_switches(explore):
    app = explore.run()
    names = [trace.get("name") for trace in tradeoff(app)[0]["data"]]
    others = [ATTACK_NAMES[s.typed.config["attack"]["attack"]] for s in attack_siblings(featured(), load_zoo())]
    assert names[:1 + len(others)] == ["GMI (GAN prior) (shown)", *others] and "MI-Face" in others
    gmi_images = [image.value for image in app.image]
    assert app.selectbox[0].label == "Dataset" and app.selectbox[1].label == "Attack"
    app.selectbox[1].set_value("miface").run()
    assert not app.exception and app.query_params["attack"] in ("miface", ["miface"])
    names = [trace.get("name") for trace in tradeoff(app)[0]["data"]]
    assert names[0] == "MI-Face (shown)" and "GMI (GAN prior)" in names
    images = [image.value for image in app.image]
    assert images[0::3] == gmi_images[0::3] and images[1::3] != gmi_images[1::3]


def test_moving_lambda_changes_the_images_and_the_metrics(explore):
    app = explore.run()
    zoo = featured()
    assert app.select_slider[0].value == default_lambda(zoo.typed) != zoo.lambdas[-1]
    before_images = [image.value for image in app.image]
    before_metrics = metric_values(app)
    app.select_slider[0].set_value(zoo.lambdas[-1]).run()
    after_images = [image.value for image in app.image]
    assert metric_values(app) != before_metrics
    assert after_images[0::3] == before_images[0::3] and after_images[1::3] == before_images[1::3]
    assert after_images[2::3] != before_images[2::3]
    expected = f"{zoo.row(zoo.lambdas[-1]).test_accuracy.value:.2f}"
    assert metric_values(app)[0] == expected


def test_url_state_round_trip(explore):
    zoo = featured()
    explore.query_params["lam"] = f"{zoo.lambdas[-1]:g}"
    explore.query_params["ids"] = f"{zoo.names[2]},{zoo.names[4]},../../etc/passwd"
    app = explore.run()
    assert not app.exception
    assert app.select_slider[0].value == zoo.lambdas[-1]
    assert app.multiselect[0].value == [zoo.names[2], zoo.names[4]]
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
    assert not app.exception and app.select_slider[0].value == default_lambda(featured().typed)
    notices = " ".join(toast.value for toast in app.toast)
    assert "lam" in notices and "secret" in notices


def test_without_the_dataset_the_reconstructions_still_show(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "no-results"))
    monkeypatch.setenv("MIDLAB_DATA", str(tmp_path / "no-data"))
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not app.exception
    warning = shown(app.warning[0].value)  # the error is shown as plain text: Markdown-escaped
    assert "lfw_gray" in warning and "MIDLAB_DATA" in warning
    assert "`python -m core fetch lfw`" in warning  # the data folder is the default: no --data
    assert len(app.image) == 8 * 2 and len(metric_values(app)) == 5


def test_presenter_mode_hides_the_sidebar(explore):
    explore.query_params["presenter"] = "1"
    app = explore.run()
    assert not app.exception and len(app.image) == 24


def test_the_highlight_ring_follows_the_slider(explore):
    """The ring is the figure's last trace, labelled with the chosen lambda; the browser moves it to the point
    the ring data names for the slider's new value before the server answers, so those points must be the
    plotted ones, keyed by the slider's own text."""
    app = explore.run()
    zoo = featured()
    for value in (default_lambda(zoo.typed), zoo.lambdas[-1]):
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
    assert not app.exception and len(app.get("plotly_chart")) == 2
    assert not [data for data in components(app) if "figure" in data]


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


def test_the_sentence_and_the_card_colours_follow_the_interval_rule(explore):
    """At the first screen's default lambda and at the sweep's strongest, a card whose change from lambda = 0 lies
    inside its 95% interval is gray (no alarm) and every other card is coloured; the sentence under them says
    'within the noise' exactly when the test accuracy's or the attack's change is. Between the two lambdas both
    kinds of card are shown. (core/story.py's unit tests cover both cases of the sentence.)"""
    app = explore.run()
    zoo = featured()
    cards = ("test_accuracy", "attack_top1", "attack_top5", "feature_distance")
    shown_colours = []
    for value in (app.select_slider[0].value, zoo.lambdas[-1]):
        app.select_slider[0].set_value(value).run()
        changes = lambda_changes(zoo.typed, value)
        colours = [card["colour"] for card in panel(app)["cards"][:len(cards)]]  # the panel's card: below
        assert [colour == "gray" for colour in colours] == [within_noise(changes[name]) for name in cards]
        sentence = lambda_sentence(zoo.typed, value)
        noise = within_noise(changes["test_accuracy"]) or within_noise(changes["attack_top1"])
        assert ("within the noise" in sentence) == noise and panel(app)["sentence"] == sentence
        shown_colours += colours
    assert "gray" in shown_colours and "red" in shown_colours  # accuracy falls at the strongest lambda: an alarm


def test_the_faces_of_every_lambda_are_sent_once(explore):
    """The browser swaps in the shown people's faces for the slider's new lambda; that data is the same whatever
    lambda is chosen (so Streamlit sends it once), and it holds the images the server shows."""
    app = explore.run()
    zoo = featured()
    faces = live_faces(app)
    assert faces["slider"] == app.select_slider[0].label
    assert list(faces["sources"]) == list(faces["captions"]) == [f"{v:g}" for v in zoo.lambdas]
    assert faces["targets"] == [f"chosen-face-{i}" for i in range(8)]
    assert all(len(sources) == 8 and all(s.startswith("data:image/png;base64,") for s in sources)
               for sources in faces["sources"].values())
    chosen = app.select_slider[0].value
    # The browser sets its captions as text; the server's are Markdown-escaped (dashboard.text.plain): one text.
    assert faces["captions"][f"{chosen:g}"] == [shown(image.captions[0]) for image in app.image[2::3]]
    app.select_slider[0].set_value(zoo.lambdas[-1]).run()
    assert live_faces(app) == faces
    assert faces["captions"][f"{zoo.lambdas[-1]:g}"] == [shown(image.captions[0]) for image in app.image[2::3]]


def test_the_cards_and_sentence_of_every_lambda_are_sent_with_the_page(explore):
    """The browser swaps the cards and the sentence with the faces: the page sends, once, every lambda's card values,
    their colours by the interval rule (a change inside its 95% interval is gray, one outside is green or red by
    its direction) and the server's sentence; moving the slider sends the same data."""
    app = explore.run()
    zoo = featured()
    panels = live_faces(app)["panels"]
    assert list(panels) == [f"{v:g}" for v in zoo.lambdas]
    cards = (("test_accuracy", 2, 1), ("attack_top1", 2, -1), ("attack_top5", 2, -1), ("feature_distance", 1, 1))
    colours = set()
    for value in zoo.lambdas:
        row, base, shown = zoo.row(value), zoo.row(zoo.lambdas[0]), panels[f"{value:g}"]
        shown = {**shown, "cards": shown["cards"][:len(cards)]}  # the judge panel's card: its own test
        assert [card["value"] for card in shown["cards"]] == [f"{getattr(row, name).value:.{digits}f}"
                                                              for name, digits, _ in cards]
        assert shown["sentence"] == lambda_sentence(zoo.typed, value)
        if value == zoo.lambdas[0]:
            assert all(card["delta"] is None and card["colour"] is None for card in shown["cards"])
            continue
        changes = lambda_changes(zoo.typed, value)
        for card, (name, digits, better) in zip(shown["cards"], cards, strict=True):
            delta, change = getattr(row, name).value - getattr(base, name).value, changes[name]
            assert card["delta"] == f"{delta:+.{digits}f} vs λ=0"
            inside = change["low"] <= 0 <= change["high"]
            rising = not card["delta"].startswith("-")
            assert card["colour"] == ("gray" if inside else "green" if rising == (better > 0) else "red"), (value, name)
            colours.add("inside" if inside else "outside")
    assert colours == {"inside", "outside"}  # the sweep exercises both sides of the rule
    app.select_slider[0].set_value(zoo.lambdas[-1]).run()
    assert live_faces(app)["panels"] == panels


def test_the_judge_panels_card_gives_its_median_and_every_judges_reading(explore):
    """The fifth card is the judge panel's: the median of its judges' top-1 at each lambda, its change from
    lambda = 0 coloured only when every judge sees a change outside its paired 95% interval the same way, and
    each judge's figure (the sink rule's flag included) in its help."""
    app = explore.run()
    zoo = featured()
    panels = live_faces(app)["panels"]
    verdicts = set()
    for value in zoo.lambdas:
        card = panels[f"{value:g}"]["cards"][-1]
        row, base = panel_row(zoo.typed, value), panel_row(zoo.typed, zoo.lambdas[0])
        assert card["label"] == "Judge panel top-1" and card["value"] == f"{row.median:.2f}"
        assert all(f"{name} {top1:.2f}" in card["help"] for name, top1 in row.top1.items())
        assert all(f"{name} {row.top1[name]:.2f} (UNRELIABLE" in card["help"] for name in row.flagged)
        if value == zoo.lambdas[0]:
            assert card["delta"] is None and card["colour"] is None
            continue
        effect = panel_effect(zoo.typed, value)
        assert card["delta"] == f"{row.median - base.median:+.2f} vs λ=0" and effect.text() in card["help"]
        assert card["colour"] == {"lowers": "green", "raises": "red"}.get(effect.verdict, "gray")
        verdicts.add(effect.verdict)
    assert {"noise", "lowers"} <= verdicts  # LFW under GMI: within the noise until lambda = 0.1, then lower


def test_a_card_inside_its_interval_is_no_alarm():
    from dashboard.lambda_cards import delta_colour

    assert delta_colour("-0.10 vs λ=0", "normal", noise=False) == "red"  # accuracy fell beyond its interval
    assert delta_colour("-0.10 vs λ=0", "inverse", noise=False) == "green"  # the attack fell beyond its interval
    assert delta_colour("+0.05 vs λ=0", "inverse", noise=True) == "gray"  # inside the interval: no alarm
    assert delta_colour("+0.05 vs λ=0", "inverse", noise=False) == "red"
