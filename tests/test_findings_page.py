"""The Findings page, driven by AppTest: a hand-made study file with PNG grids (two regimes, one reproduced, one
inconclusive), no study at all, and a tiny real study on ORL end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shown
from PIL import Image
from streamlit.testing.v1 import AppTest

from core import gallery
from core.__main__ import build_parser, study_config
from core.results import read_typed
from core.stored_config import config_hash, to_dict
from core.study_figures import study_command
from dashboard import loaders
from tests.test_compare_page import write_comparison

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "dashboard" / "app_pages" / "findings.py")
APP = str(ROOT / "dashboard" / "app.py")
TIMEOUT = 30  # the page imports no torch, but a cold start on a busy 2-core machine can take seconds
ARGV = ["study", "--factor", "bottleneck", "--levels", "8,64", "--lambdas", "0.01,0.1"]
COMMAND = ("python -m core study --dataset orl --factor bottleneck --levels 8,64 --lambdas 0.01,0.1 --seeds 0,1,2 "
           "--attack miface --view sample")
FINDINGS = {8: "bottleneck=8: yes, hand-written finding of the small bottleneck.",
            64: "bottleneck=64: inconclusive, hand-written finding of the large bottleneck."}
# label, defense, lambda, test accuracy, attack top-1, entropy
ROWS = [("no defense", "none", None, 0.9, 0.8, 1.0), ("MID lambda=0.01", "mid", 0.01, 0.88, 0.5, 1.5),
        ("MID lambda=0.1", "mid", 0.1, 0.6, 0.2, 2.5)]


def figure(value: float, seeds: int = 3) -> dict:
    return {"value": value, "low": value - 0.05, "high": value + 0.05, "std": 0.02, "n": seeds,
            "per_seed": [value] * seeds}


def write_study(folder: Path, verdicts: tuple[str, str] = ("yes", "inconclusive"), environment: dict | None = None,
                ) -> Path:
    """A study file in `folder` as `python -m core study ARGV` writes it, with a grid per model and seed (one
    colour each; the first MID setting's grids by a path relative to the file's folder, the others absolute)."""
    config = study_config(build_parser().parse_args(ARGV))
    (folder / "grids").mkdir(parents=True, exist_ok=True)
    regimes = []
    for r, ((level, sentence), word) in enumerate(zip(FINDINGS.items(), verdicts, strict=True)):
        rows, points = [], []
        for i, (label, defense, mid_lambda, test, top1, entropy) in enumerate(ROWS):
            rows.append({"defense": defense, "lambda": mid_lambda, "label": label, "seeds": 3,
                         "test_accuracy": figure(test), "attack_top1": figure(top1), "attack_top5": figure(top1),
                         "feature_distance": figure(0.1), "confidence": figure(0.5), "entropy": figure(entropy),
                         "balanced_accuracy": figure(test)})
            for seed in (1, 0, 2):  # not in seed order: the faces shown are seed 0's
                name = f"grids/{level}_{i}_{seed}.png"
                Image.fromarray(np.full((16, 48, 3), 40 * i + 10 * seed + r, dtype=np.uint8)).save(folder / name)
                points.append({"level": level, "defense": defense, "lambda": mid_lambda, "seed": seed, "label": label,
                               "target_key": f"target{i}{seed}", "attack_key": f"attack{i}{seed}",
                               "test": {"accuracy": figure(test), "confidence": figure(0.5),
                                        "entropy": figure(entropy)},
                               "attack": {"top1": figure(top1), "top5": figure(top1), "feature_distance": figure(0.1)},
                               "grid_path": name if label == "MID lambda=0.01" else str(folder / name)})
        regimes.append({"level": level, "rows": rows, "points": points,
                        "frontier": ["MID lambda=0.01", "MID lambda=0.1"],
                        "verdict": {"verdict": word, "reason": "hand-written"}, "finding": sentence,
                        "data": {"dataset": "orl", "identities": 40, "train_images": 280, "test_images": 120},
                        "evaluator": {"key": "judge", "heldout_accuracy": figure(0.97)},
                        "timings": {"train_s": 1.0, "attack_s": 2.0}})
    results = {"kind": "study", "config": to_dict(config), "config_hash": config_hash(config),
               "created": "2025-01-01T00:00:00+0000", "factor": "bottleneck", "levels": [8, 64],
               "lambdas": [0.01, 0.1], "seeds": [0, 1, 2], "rule": "A hand-written rule.", "regimes": regimes,
               "verdicts": [{"level": r["level"], "verdict": r["verdict"]["verdict"]} for r in regimes],
               "findings": list(FINDINGS.values()),
               "environment": environment or {"device": "cpu", "torch_threads": 2},
               "timings": {"train_s": 2.0, "attack_s": 4.0}, "peak_memory_mb": 512.0}
    path = folder / f"study_{results['config_hash']}.json"
    path.write_text(json.dumps(results))
    return path


@pytest.fixture(autouse=True)
def no_zoo(tmp_path, monkeypatch):
    """The studies alone: the shipped zoo's attack-recipe comparison is tested in test_recipes.py."""
    monkeypatch.setattr(gallery, "ZOO_DIR", tmp_path / "no-zoo")


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT)


def claims_table(app: AppTest) -> str:
    return next(m.value for m in app.markdown if m.value.startswith("| The paper's claim"))


def test_the_page_shows_each_finding_with_its_status_plot_command_and_faces(results_dir):
    write_study(results_dir, environment={"device": "cuda:0", "gpu": "NVIDIA H200", "torch_threads": 16})
    app = page().run()
    assert not app.exception and not app.warning
    assert app.title[0].value == "Findings"
    assert [info.value for info in app.info] == [f"**reproduced** · {FINDINGS[8]}",
                                                 f"**inconclusive** · {FINDINGS[64]}"]
    assert not app.success and not app.error  # the same neutral style whatever the verdict
    assert len(app.get("plotly_chart")) == 2
    assert [code.value for code in app.code] == [COMMAND]
    assert any("reruns exactly this study" in c.value for c in app.caption)  # the command reproduces the file's hash
    assert any("GPU NVIDIA H200 (cuda:0)" in m.value and "6.0 s" in m.value for m in app.markdown)
    assert app.expander and any(m.value == "A hand-written rule." for m in app.markdown)
    table = claims_table(app)
    assert ("2 distinct regime(s) of 1 study: against the undefended model, reproduced in 1, not reproduced in 0, "
            "inconclusive in 1") in table
    assert "Against the MID lambda=0 reference: not computed in any stored study" in table
    assert "above the undefended model's in 2 of 2, with non-overlapping 95% intervals in 2" in table
    assert "not measured yet (a study has no DP-SGD): `python -m core compare`" in table
    captions = [image.captions[0] for image in app.image]  # no defense beside the first MID setting, seed 0
    assert len(captions) == 2 and captions[0].startswith("no defense: test accuracy 0.90 [0.85, 0.95]")
    assert captions[1].startswith("MID lambda=0.01") and "faces of seed 0" in captions[1]


def test_picking_a_regime_and_setting_changes_the_faces(results_dir):
    write_study(results_dir)
    app = page().run()
    before = [image.value for image in app.image]
    app.selectbox[1].set_value("MID lambda=0.1").run()
    after = [image.value for image in app.image]
    assert not app.exception and after[0] == before[0] and after[1] != before[1]
    assert app.image[1].captions[0].startswith("MID lambda=0.1: test accuracy 0.60")
    app.selectbox[0].set_value(1).run()  # bottleneck = 64: other grids
    assert not app.exception and app.image[0].value != before[0]


@pytest.mark.parametrize(("verdict", "word"), [("yes", "reproduced"), ("no", "not reproduced"),
                                               ("inconclusive", "inconclusive")])
def test_every_verdict_is_shown_the_same_neutral_way(results_dir, verdict, word):
    write_study(results_dir, verdicts=(verdict, "inconclusive"))
    app = page().run()
    assert app.info[0].value == f"**{word}** · {FINDINGS[8]}"
    assert not app.success and not app.error and not app.exception


def test_a_missing_grid_is_a_warning_not_a_crash(results_dir):
    write_study(results_dir)
    (results_dir / "grids" / "8_1_0.png").unlink()  # MID lambda=0.01, seed 0: the first setting shown
    app = page().run()
    assert not app.exception and len(app.warning) == 1
    assert str(results_dir / "grids" / "8_1_0.png") in shown(app.warning[0].value)
    assert len(app.image) == 1 and app.image[0].captions[0].startswith("no defense")


def test_without_studies_it_says_how_to_make_them(results_dir):
    results_dir.mkdir()
    (results_dir / "study_broken.json").write_text('{"kind": "study", "regimes": [')
    app = page().run()
    assert not app.exception and "study_broken.json" in shown(app.warning[0].value)
    assert "Run `python -m core study` (the default study" in app.info[0].value
    assert not app.get("plotly_chart") and not app.code
    assert claims_table(app).count("not measured yet") == 4


def test_the_dp_claim_reads_the_newest_comparison(results_dir):
    write_study(results_dir)
    write_comparison(results_dir, verdicts=("b", "mixed"))
    app = page().run()
    assert not app.exception
    expected = ("comparison c0ffee (orl): MI-Face: DP-SGD dominates MID; inversion network (black-box): neither "
                "dominates")
    assert expected in claims_table(app)


def test_a_study_made_in_code_says_its_command_is_only_the_nearest(tmp_path):
    results = read_typed(write_study(tmp_path), "study")
    assert study_command(results) == (COMMAND, True)
    results.config["base"]["target"]["data"]["image_size"] = 16  # no option sets it
    command, exact = study_command(results)
    assert command == COMMAND and not exact
    results.config["factor"], results.config["levels"] = "label_smoothing", [-0.1, 0.0]  # refused today
    assert study_command(results) == (COMMAND.replace("--factor bottleneck --levels 8,64",
                                                      "--factor label_smoothing --levels=-0.1,0"), False)


def test_a_shipped_study_shows_without_any_results_folder(results_dir, tmp_path):
    """A study shipped in assets/studies (relative grid paths, only the first seed's grids) shows on any machine."""
    shipped = write_study(tmp_path / "shipped_studies")
    results = json.loads(shipped.read_text())
    for regime in results["regimes"]:
        for point in regime["points"]:
            grid = Path(point.pop("grid_path"))
            if point["seed"] == 0:
                point["grid_path"] = str(grid.relative_to(shipped.parent) if grid.is_absolute() else grid)
    shipped.write_text(json.dumps(results))
    app = page().run()
    assert not app.exception and not app.warning and not results_dir.exists()
    assert app.info[0].value == f"**reproduced** · {FINDINGS[8]}"
    assert len(app.image) == 2 and all("faces of seed 0" in image.captions[0] for image in app.image)
    glance = next(m.value for m in app.markdown if m.value.startswith("| Study | Regime |"))
    assert f"| bottleneck = 8 | **reproduced** | {FINDINGS[8]} | not computed |" in glance
    assert f"| bottleneck = 64 | **inconclusive** | {FINDINGS[64]} |" in glance


def test_the_page_is_in_the_navigation(results_dir):
    write_study(results_dir)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT).run().switch_page("app_pages/findings.py").run()
    assert not app.exception and app.title[0].value == "Findings"
    assert app.info[0].value == f"**reproduced** · {FINDINGS[8]}"


@pytest.mark.slow
def test_a_tiny_real_study_on_orl_renders(data_dir, tmp_path, monkeypatch):
    """tests/test_study.py's tiny study (16-pixel ORL, width-2 networks, 3 seeds), then the page on its file."""
    from core.engine import Engine
    from core.store import Store
    from core.study import run_study
    from tests.test_study import tiny_study

    results = run_study(tiny_study(), Engine(Store(tmp_path / "store"), data_dir, torch.device("cpu")),
                        tmp_path / "results")
    monkeypatch.setattr(loaders, "COMPARISONS_DIR", tmp_path / "shipped")
    monkeypatch.setattr(loaders, "STUDIES_DIR", tmp_path / "shipped_studies")
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "results"))
    app = page().run()
    assert not app.exception and not app.warning
    infos = [info.value for info in app.info]
    assert len(infos) == 2 and all(finding in info for finding, info in zip(results["findings"], infos, strict=True))
    assert len(app.get("plotly_chart")) == 2 and len(app.image) == 2
    assert "--factor bottleneck --levels 2,4" in app.code[0].value
    assert any("no command-line option sets" in c.value for c in app.caption)  # 16-pixel faces, width-2 networks
    assert any("**Ran on** CPU" in m.value and "**from an empty store**" in m.value for m in app.markdown)


def test_a_study_report_has_each_regime_plot_table_and_finding(tmp_path, capsys):
    """`python -m core report` on the newest results file, here a study: per regime an offline HTML plot, the
    findings and verdicts in Markdown, one CSV row per regime and setting."""
    import csv

    from core.__main__ import main

    write_comparison(tmp_path / "results")
    study = write_study(tmp_path / "results")
    assert main(["report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "r"), "--no-png"]) == 0
    assert f"wrote {tmp_path / 'r' / 'study.md'}" in capsys.readouterr().out
    written = {p.name for p in (tmp_path / "r").iterdir()}
    assert written == {"study.csv", "study.md", "regime_8.html", "regime_64.html", "plotly.min.js"}
    assert 'src="plotly.min.js"' in (tmp_path / "r" / "regime_8.html").read_text()  # opens offline
    text = (tmp_path / "r" / "study.md").read_text()
    assert all(sentence in text for sentence in FINDINGS.values())
    assert "## bottleneck = 8: reproduced" in text and "## bottleneck = 64: inconclusive" in text
    assert f"`{COMMAND}`" in text and "ran on CPU, 2 torch thread(s)" in text
    with open(tmp_path / "r" / "study.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["bottleneck"], r["setting"]) for r in rows] == [(str(level), label) for level in (8, 64)
                                                                 for label, *_ in ROWS]
    assert rows[1]["attack top-1"] == "0.5" and rows[1]["on MID's frontier"] == "True" and rows[0]["verdict"] == "yes"
    # Named explicitly, the older comparison is reported instead.
    comparison = next((tmp_path / "results").glob("comparison_*.json"))
    assert main(["report", str(comparison), "--out", str(tmp_path / "c"), "--no-png"]) == 0
    assert (tmp_path / "c" / "comparison.md").is_file() and study.is_file()


def test_the_shipped_default_study_renders(tmp_path, monkeypatch):
    """The real assets/studies: every regime's sentence, plot and the faces, with no warning."""
    from core.presets import default_studies

    monkeypatch.setattr(loaders, "COMPARISONS_DIR", tmp_path / "shipped")
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "results"))
    app = page().run()
    assert not app.exception and not app.warning
    regimes = sum(len(study.levels) for study in default_studies())
    assert len(app.get("plotly_chart")) == regimes and len(app.info) == regimes
    # Registered with an attacker of the deployed model: the page says so, and which accuracy each plot's axis shows.
    assert sum("attacker: the deployed answers (sample view)" in c.value for c in app.caption) == len(
        default_studies())
    axes = [json.loads(chart.proto.spec)["layout"]["yaxis"]["title"]["text"] for chart in app.get("plotly_chart")]
    # Every regime's attacker queries what its models deploy: sampled answers, but mu where predict_from_mu = true.
    assert sum("(deployed model, sample: as attacked)" in axis for axis in axes) == regimes - 1
    assert sum("(deployed model, mu: as attacked)" in axis for axis in axes) == 1
    assert len(app.code) == len(default_studies()) and len(app.image) >= 2 * len(default_studies())
    # Each regime's verdicts by every judge of the panel, and its figures in the panel's terms.
    panel = [c.value for c in app.caption if c.value.startswith("Judge panel · ")]
    assert len(panel) == regimes and all("pca_lda" in line and "Attack top-1 by the panel" in line for line in panel)
    glance = next(m.value for m in app.markdown if m.value.startswith("| Study | Regime |"))
    assert glance.count("\n") == regimes + 1
    # In the default study's order whatever the files' times; its shared base regime is counted once.
    assert [h.value.split(":")[0] for h in app.header] == [f"Study of {s.factor}" for s in default_studies()]
    distinct = len({config_hash(regime) for study in default_studies() for _, regime in study.regimes()})
    assert f"{distinct} distinct regime(s) of 4 studies" in claims_table(app) and distinct == regimes - 3
    # One judge (PCA + LDA) dissents in one regime, against the MID reference, on the inversion network.
    assert (f"every judge gives the regime's verdicts against both references in {distinct - 1}, not every judge "
            "in 1") in claims_table(app)
