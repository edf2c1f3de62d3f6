"""The Compare defenses page, driven by AppTest on a small hand-made comparison file with PNG grids."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import shown
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.attack_config import AttackConfig
from core.stored_config import to_dict
from core.sweep_config import ComparisonConfig, SweepConfig

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "dashboard" / "app_pages" / "compare.py")
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 30  # the page imports no torch, but a cold start on a busy 2-core machine can take seconds
SENTENCES = {"miface": "MID dominates DP-SGD (hand-written, MI-Face).",
             "inversion": "DP-SGD dominates MID (hand-written, inversion)."}
CONTROL = "DP-SGD's model alone is about as hard to attack (hand-written control)."
# label, defense, strength, epsilon, test accuracy, {attack: top-1}
SETTINGS = [
    ("no defense", "none", None, None, 0.95, {"miface": 0.9, "inversion": 0.6}),
    ("MID lambda=0.01", "mid", 0.01, None, 0.93, {"miface": 0.5, "inversion": 0.4}),
    ("MID lambda=0.1", "mid", 0.1, None, 0.85, {"miface": 0.3, "inversion": 0.3}),
    ("DP-SGD noise=1 (eps=47.3)", "dpsgd", 1.0, 47.3, 0.7, {"miface": 0.6, "inversion": 0.2}),
    ("DP-SGD noise=4 (eps=3.1)", "dpsgd", 4.0, 3.1, 0.4, {"miface": 0.4, "inversion": 0.1}),
    ("top-1 label only", "output", None, None, 0.95, {"inversion": 0.2}),
]


def figure(value: float) -> dict:
    return {"value": value, "low": max(0.0, value - 0.05), "high": min(1.0, value + 0.05), "n": 2}


def write_comparison(folder: Path, config_hash: str = "c0ffee", verdicts: tuple[str, str] = ("a", "b")) -> Path:
    """A comparison file in `folder` and its grids (one colour per setting and attack): the first defended
    setting's grids by a path relative to the file's folder, the others absolute."""
    (folder / "grids").mkdir(parents=True, exist_ok=True)
    summary, points = [], []
    for i, (label, defense, strength, epsilon, test, top1) in enumerate(SETTINGS):
        attacks, grids = {}, {}
        for j, (attack, value) in enumerate(top1.items()):
            name = f"grids/{i}_{attack}.png"
            Image.fromarray(np.full((128, 640, 3), 30 * i + 100 * j, dtype=np.uint8)).save(folder / name)
            attacks[attack] = {"top1": figure(value), "top5": figure(min(1.0, value + 0.2)),
                               "feature_distance": figure(40.0 * (1 - value))}
            grids[attack] = {**attacks[attack], "attack_key": f"attack{i}{j}",
                             "grid_path": name if label == "MID lambda=0.01" else str(folder / name)}
        summary.append({"defense": defense, "strength": strength, "label": label, "seeds": 2, "epsilon": epsilon,
                        "test_accuracy": figure(test), "confidence": figure(0.8), "entropy": figure(0.5),
                        "attacks": attacks})
        points.append({"defense": defense, "strength": strength, "seed": 0, "epsilon": epsilon, "label": label,
                       "target_key": f"target{i}",
                       "test": {"accuracy": figure(test), "confidence": figure(0.8), "entropy": figure(0.5)},
                       "spread": {"confidence": [0.5, 0.7, 0.9], "entropy": [0.2, 0.6, 1.1]}, "attacks": grids})
    frontiers = {attack: {"frontiers": {"mid": ["MID lambda=0.1"], "dpsgd": ["DP-SGD noise=4 (eps=3.1)"]},
                          "verdict": verdict, "sentence": SENTENCES[attack],
                          **({"control": CONTROL} if attack == "inversion" else {})}
                 for attack, verdict in zip(SENTENCES, verdicts, strict=True)}
    config = ComparisonConfig(sweep=SweepConfig(attack=AttackConfig(view="mu")))  # a white-box attacker
    results = {"kind": "comparison", "config": to_dict(config), "config_hash": config_hash,
               "created": "2025-01-01T00:00:00",
               "attacks": list(SENTENCES), "summary": summary, "points": points, "frontiers": frontiers,
               "data": {"dataset": "orl", "identities": 40, "train_images": 280, "test_images": 120},
               "evaluator": {"key": "judge", "heldout_accuracy": figure(0.97)}}
    path = folder / f"comparison_{config_hash}.json"
    path.write_text(json.dumps(results))
    return path


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def test_the_page_shows_sentence_plots_faces_and_table(results_dir):
    write_comparison(results_dir)
    app = page().run()
    assert not app.exception and not app.warning
    assert app.title[0].value == "Compare defenses"
    assert [s.value for s in app.info] == [f"**MI-Face.** {SENTENCES['miface']}"] and not app.error
    assert app.query_params["attack"] in ("miface", ["miface"])
    assert len(app.get("plotly_chart")) == 2
    assert "white-box, MID's noise stripped (mu view)" in app.caption[0].value
    tradeoff = json.loads(app.get("plotly_chart")[0].proto.spec)
    assert tradeoff["layout"]["yaxis"]["title"]["text"] == (
        "test accuracy → more useful<br><sup>of the deployed model (sample; the attacker queried mu)</sup>")
    assert app.selectbox[1].value == "MID lambda=0.01"
    captions = [image.captions[0] for image in app.image]  # no defense beside the chosen setting (a relative path)
    assert len(captions) == 2 and captions[0].startswith("no defense: test accuracy 0.95 [0.90, 1.00]")
    assert "attack top-1 0.50 [0.45, 0.55]" in captions[1] and "2 seed(s)" in captions[1]
    table = app.dataframe[0].value
    assert list(table["setting"]) == [row[0] for row in SETTINGS]
    assert list(table["epsilon"]) == ["-", "-", "-", "47.3", "3.1", "-"]
    assert table["miface top-1"].iloc[-1] == "-" and table["inversion top-1"].iloc[-1] == "0.20 [0.15, 0.25]"
    assert len(app.get("download_button")) == 2  # the plot as PNG, the table as CSV


def test_the_judge_panel_takes_a_column_per_attack_and_is_explained(results_dir):
    path = write_comparison(results_dir)
    results = json.loads(path.read_text())
    for row in results["summary"]:
        for name, scores in row["attacks"].items():
            value = scores["top1"]["value"]
            scores["panel"] = {"seeds": 2, "top1": {"vgg": value, "resnet": value / 2, "pca_lda": 0.05},
                               "median": value / 2, "range": [min(0.05, value / 2), max(0.05, value)],
                               "identified_by_all": 1, "n": 40, "flagged": ["pca_lda"] if name == "miface" else []}
    results["panel_judges"] = [{"name": name, "key": name, "heldout_accuracy": figure(held)}
                               for name, held in (("vgg", 0.97), ("resnet", 0.9), ("pca_lda", 0.95))]
    results["frontiers"]["miface"]["panel"] = {"vgg": "a", "resnet": "a", "pca_lda": "b"}
    results["frontiers"]["inversion"]["panel"] = {"vgg": "b", "resnet": "b", "pca_lda": "b"}
    path.write_text(json.dumps(results))
    app = page().run()
    assert not app.exception
    assert app.info[0].value == (f"**MI-Face.** {SENTENCES['miface']} By the judge panel: the judges disagree (vgg: "
                                 "MID dominates DP-SGD; resnet: MID dominates DP-SGD; pca_lda: DP-SGD dominates MID).")
    app.radio[0].set_value("inversion").run()
    assert app.info[0].value.endswith("By the judge panel: DP-SGD dominates MID for every judge (vgg, resnet, "
                                      "pca_lda).")
    table = app.dataframe[0].value
    assert list(table["inversion panel"]) == ["0.30 [0.05, 0.60]", "0.20 [0.05, 0.40]", "0.15 [0.05, 0.30]",
                                              "0.10 [0.05, 0.20]", "0.05 [0.05, 0.10]", "0.10 [0.05, 0.20]"]
    assert table["miface panel"].iloc[0] == "0.45 [0.05, 0.90]!" and table["miface panel"].iloc[-1] == "-"
    assert not any(name.startswith(("miface vgg", "miface panel median")) for name in table.columns)
    judged = "scored by a panel of 3 judges (held-out accuracy vgg 0.97, resnet 0.90, pca_lda 0.95)"
    assert judged in app.caption[0].value
    legend = next(c.value for c in app.caption if c.value.startswith("panel: the median"))
    assert "the median of the judges' top-1" in legend and "vgg 0.970, resnet 0.900, pca_lda 0.950" in legend
    captions = [image.captions[0] for image in app.image]
    # Inversion's, where no judge is flagged.
    assert "judge panel top-1 0.20 [0.05, 0.40], every judge names 1 of 40 (" in captions[1]


def test_switching_the_attack_changes_the_sentence_the_url_and_the_settings(results_dir):
    write_comparison(results_dir)
    app = page().run()
    assert "top-1 label only" not in app.selectbox[1].options  # output defenses face only the inversion network
    app.radio(key="compare_attack").set_value("inversion").run()
    assert not app.exception and not app.success
    assert [e.value for e in app.info] == [f"**inversion network (black-box).** {SENTENCES['inversion']}",
                                           f"**Control.** {CONTROL}"]
    assert app.query_params["attack"] in ("inversion", ["inversion"])
    assert "top-1 label only" in app.selectbox[1].options


@pytest.mark.parametrize("verdict", ["a", "b", "mixed", "tie"])
def test_every_verdict_is_shown_the_same_neutral_way(results_dir, verdict):
    write_comparison(results_dir, verdicts=(verdict, "a"))
    app = page().run()
    assert [e.value for e in app.info] == [f"**MI-Face.** {SENTENCES['miface']}"]
    assert not app.success and not app.error


def test_the_url_chooses_the_attack_and_nonsense_is_ignored(results_dir):
    write_comparison(results_dir)
    app = page()
    app.query_params["attack"] = "inversion"
    app.run()
    assert not app.exception and SENTENCES["inversion"] in app.info[0].value
    assert app.radio(key="compare_attack").value == "inversion"
    app = page()
    app.query_params["attack"] = "../etc/passwd"
    app.run()
    assert not app.exception and app.radio(key="compare_attack").value == "miface"
    assert any("Ignored attack='../etc/passwd'" in shown(toast.value) for toast in app.toast)


def test_picking_a_setting_changes_the_faces_and_their_figures(results_dir):
    write_comparison(results_dir)
    app = page().run()
    before = [image.value for image in app.image]
    app.selectbox[1].set_value("DP-SGD noise=4 (eps=3.1)").run()
    after = [image.value for image in app.image]
    assert not app.exception and after[0] == before[0] and after[1] != before[1]
    assert "epsilon 3.1" in app.image[1].captions[0] and "attack top-1 0.40 [0.35, 0.45]" in app.image[1].captions[0]


def test_a_missing_grid_is_a_warning_not_a_crash(results_dir):
    write_comparison(results_dir)
    (results_dir / "grids" / "1_miface.png").unlink()  # MID lambda=0.01, the first setting shown
    (results_dir / "grids" / "0_inversion.png").write_bytes(b"not a png")
    app = page().run()
    assert not app.exception
    assert len(app.warning) == 1 and str(results_dir / "grids" / "1_miface.png") in shown(app.warning[0].value)
    assert len(app.image) == 1 and app.image[0].captions[0].startswith("no defense")
    app.radio(key="compare_attack").set_value("inversion").run()
    assert not app.exception and len(app.warning) == 1 and "0_inversion.png" in shown(app.warning[0].value)


def test_without_comparisons_it_says_how_to_make_them(results_dir):
    results_dir.mkdir()
    (results_dir / "comparison_broken.json").write_text('{"kind": "comparison", "summary": [')
    app = page().run()
    assert not app.exception and "comparison_broken.json" in shown(app.warning[0].value)
    assert "`python -m core compare`" in app.info[0].value and "`python -m core report`" in app.info[0].value
    assert not app.radio and not app.get("plotly_chart")


def test_shipped_comparisons_come_first_and_the_choice_goes_to_the_url(results_dir, tmp_path):
    write_comparison(results_dir, "yours1")
    write_comparison(tmp_path / "shipped", "shipped1", verdicts=("b", "b"))
    app = page().run()
    assert app.selectbox[0].options[0].startswith("shipped · orl") and app.selectbox[0].value == "shipped1"
    assert SENTENCES["miface"] in app.info[0].value and app.query_params["comparison"] in ("shipped1", ["shipped1"])
    app.selectbox[0].set_value("yours1").run()
    assert not app.exception and SENTENCES["miface"] in app.info[0].value
    assert app.query_params["comparison"] in ("yours1", ["yours1"])


def test_the_page_is_in_the_navigation(results_dir):
    write_comparison(results_dir)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run().switch_page("app_pages/compare.py").run()
    assert not app.exception and app.title[0].value == "Compare defenses"
    assert SENTENCES["miface"] in app.info[0].value
