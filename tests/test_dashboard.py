"""The Results table page, driven by Streamlit's AppTest against real, broken and missing results."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import gallery

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
TIMEOUT = 30  # the pages import no torch, but a cold start on a busy 2-core machine can take seconds


def results_page(app: AppTest) -> AppTest:
    return app.run().switch_page("app_pages/results.py").run()


def test_without_any_results_it_says_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "empty"))
    monkeypatch.setattr(gallery, "ZOO_DIR", tmp_path / "no-zoo")
    app = results_page(AppTest.from_file(APP, default_timeout=TIMEOUT))
    assert not app.exception
    assert "python -m core sweep" in app.info[0].value


def test_a_broken_results_file_is_reported_and_the_zoo_still_shows(tmp_path, monkeypatch):
    (tmp_path / "sweep_0000.json").write_text('{"kind": "sweep", "runs": [')
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path))
    app = results_page(AppTest.from_file(APP, default_timeout=TIMEOUT))
    assert not app.exception and "unreadable" in app.warning[0].value
    assert len(app.dataframe[0].value) == len(gallery.load_zoo()[0].lambdas)


@pytest.mark.slow
def test_results_table_csv_and_reconstructions(sweep, monkeypatch):
    _, results, root = sweep
    monkeypatch.setenv("MIDLAB_RESULTS", str(root / "results"))
    app = results_page(AppTest.from_file(APP, default_timeout=TIMEOUT))
    assert not app.exception
    app.selectbox[0].set_value(results["config_hash"]).run()
    table = app.dataframe[0].value
    assert list(table["lambda"]) == ["0", "1"]
    assert table["attack top-1"][0].startswith(f"{results['summary'][0]['attack_top1']['value']:.2f}")
    assert results["runs"][0]["target_key"] in app.image[0].captions[0]
    first_image = app.image[0].value
    app.select_slider[0].set_value(1.0).run()
    assert results["runs"][1]["target_key"] in app.image[0].captions[0]
    assert app.image[0].value != first_image
