"""Every file MID Lab reads is checked against its schema (core.result_types), with generated cases (Hypothesis):
valid files (a shipped sweep, comparison and study, a store record, the zoo manifest, an attack's tensors) are
mutated at random: a field dropped, a value of another type, deep nesting, the file cut short, a tensor of
another shape. Each loader either names the file and what is wrong (SchemaError, a refused entry, a skipped
file) or, for a harmless mutation, loads it, and what it loaded can be shown; never another exception, never a
hang (each case has a deadline)."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import shown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import save as save_safetensors
from streamlit.testing.v1 import AppTest

from core import gallery
from core.compare import format_comparison
from core.config import EvaluatorConfig
from core.errors import SchemaError
from core.files import write_json_atomic
from core.report import table_rows
from core.results import COMPARISONS_DIR, STUDIES_DIR, read_results, read_typed, results_path, summary_table
from core.store import RECORD, TENSORS, Expected, Store
from core.stored_config import from_dict
from core.study import format_study
from core.sweep import format_table
from tests.typed_sweeps import sweep_file

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
MANIFEST = json.loads((gallery.ZOO_DIR / gallery.MANIFEST).read_text())
SWEEP = {k: v for k, v in MANIFEST["sweeps"][0].items()}  # a zoo sweep is a results file's content
COMPARISON = json.loads(next(COMPARISONS_DIR.glob("comparison_*.json")).read_text())
STUDY = json.loads(next(STUDIES_DIR.glob("study_*.json")).read_text())
RECORD_PATH = next((ROOT / "assets" / "store" / "evaluators").glob("*/record.json"))
STORE_RECORD = json.loads(RECORD_PATH.read_text())
DEEP = "\0deep\0"  # a value replaced by deep nesting once the file is written as text
CASES = settings(max_examples=150, deadline=5000, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a parsed JSON document (lists: their first two items only, so that the
    cases spread over fields rather than over the items of long lists)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            found += paths(item, (*prefix, index))
    return found


OTHER_TYPES = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False),
                        st.text(max_size=8), st.lists(st.integers(), max_size=3),
                        st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


@st.composite
def mutated(draw: st.DrawFn, document: dict[str, Any]) -> bytes:
    """`document` as a file's bytes, with one random mutation."""
    mutation = draw(st.sampled_from(["drop", "retype", "nest", "truncate"]))
    content = copy.deepcopy(document)
    if mutation == "truncate":
        text = json.dumps(content).encode()
        return text[:draw(st.integers(0, len(text) - 1))]
    path = draw(st.sampled_from(paths(content)[1:]))
    parent = content
    for key in path[:-1]:
        parent = parent[key]
    if mutation == "drop":
        parent.pop(path[-1])
    elif mutation == "retype":
        parent[path[-1]] = draw(OTHER_TYPES.filter(lambda new: type(new) is not type(parent[path[-1]])))
    else:
        parent[path[-1]] = DEEP
    depth = draw(st.sampled_from([1, 50, 100_000]))
    return json.dumps(content).replace(json.dumps(DEEP), "[" * depth + "]" * depth).encode()


def written(folder: Path, name: str, content: bytes) -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


@given(st.sampled_from(["sweep", "comparison", "study"]).flatmap(
    lambda kind: st.tuples(st.just(kind), mutated({"sweep": SWEEP, "comparison": COMPARISON, "study": STUDY}[kind]))))
@CASES
def test_a_mutated_results_file_is_named_with_what_is_wrong_or_loads_and_shows(case):
    kind, content = case
    with tempfile.TemporaryDirectory() as folder:
        path = written(Path(folder), f"{kind}_0123456789abcdef.json", content)
        try:
            read_results(path, kind)  # both readers check the file
            typed = read_typed(path, kind)
        except SchemaError as error:
            assert str(path) in str(error)
            return
        # Loaded: every view of it works (a harmless mutation, such as an unknown key or a dropped optional one).
        {"sweep": lambda: (summary_table(typed), format_table(typed)),
         "comparison": lambda: (table_rows(typed), format_comparison(typed)),
         "study": lambda: format_study(typed)}[kind]()


@given(mutated(SWEEP))
@CASES
def test_a_mutated_sweep_is_skipped_on_the_page_with_one_message_and_the_rest_still_shows(content):
    with tempfile.TemporaryDirectory() as folder:
        path = written(Path(folder), results_path(Path(folder), "0123456789abcdef").name, content)
        sweeps, problems = gallery.available_sweeps(Path(folder), gallery.ZOO_DIR)
        zoo_keys = {sweep["config_hash"] for sweep in MANIFEST["sweeps"]}
        assert zoo_keys <= {key for sweep in sweeps for key in sweep.member_keys}
        assert len(problems) <= 1 and all(path.name in problem for problem in problems)
        for sweep in sweeps:
            assert sweep.label and sweep.lambdas


@given(mutated(MANIFEST))
@settings(CASES, max_examples=60)
def test_a_mutated_zoo_manifest_is_named_with_what_is_wrong_or_loads(content):
    with tempfile.TemporaryDirectory() as folder:
        written(Path(folder), gallery.MANIFEST, content)
        try:
            sweeps = gallery.read_zoo(Path(folder))
        except SchemaError as error:
            assert gallery.MANIFEST in str(error)
            return
        for sweep in sweeps:
            assert sweep.label and sweep.names and all(sweep.row(value) for value in sweep.lambdas)


@given(mutated(STORE_RECORD))
@CASES
def test_a_mutated_store_record_is_refused_with_why_or_served(content):
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder))
        key = RECORD_PATH.parent.name
        entry = store.path("evaluators", key)  # the record alone: reading it needs no tensors
        entry.mkdir(parents=True)
        written(entry, RECORD, content)
        expected = Expected(lambda record: from_dict(EvaluatorConfig, record["config"]), {})
        record = store.record("evaluators", key, expected)
        assert (record is None) == (("evaluators", key) in store.refused)
        if record is not None:  # served: the fields its readers use are there, of their types
            assert isinstance(record["heldout_accuracy"]["value"], int | float) and record["key"] == key


def reconstructions_sweep(folder: Path, tensors: dict[str, np.ndarray], people: int) -> gallery.Sweep:
    """A sweep of one run whose attack's tensors (checksummed in their record) are `tensors`."""
    data = save_safetensors(tensors)
    (folder / TENSORS).write_bytes(data)
    write_json_atomic(folder / RECORD, {"tensors_sha256": hashlib.sha256(data).hexdigest()})
    run = {"lambda": 0.0, "seed": 0, "reconstructions_path": str(folder)}
    results = sweep_file([{"lambda": 0.0}], [run]) | {"class_names": [f"p{i}" for i in range(people)]}
    return gallery.Sweep(results, "trained here")


SHAPES = st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple)


@given(images=SHAPES, frames=SHAPES, steps=SHAPES, confidence=SHAPES, people=st.integers(1, 4))
@CASES
def test_reconstructions_of_a_wrong_shape_are_named_never_shown(images, frames, steps, confidence, people):
    tensors = {"images": np.zeros(images, np.float32), "trajectory": np.zeros(frames, np.uint8),
               "steps": np.zeros(steps, np.int64), "target_confidence": np.zeros(confidence, np.float32)}
    with tempfile.TemporaryDirectory() as folder:
        sweep = reconstructions_sweep(Path(folder), tensors, people)
        try:
            faces = sweep.reconstructions(0.0)
            shown, step_numbers, target_confidence = sweep.trajectory(0.0)
        except gallery.GalleryError as error:
            assert TENSORS in str(error) and "shape" in str(error)
            return
        assert faces.shape[0] == people and shown.shape[:2] == (len(step_numbers), people)
        assert shown.shape[2:] == faces.shape[1:] and target_confidence.shape == (len(step_numbers), people)


@pytest.mark.parametrize("people", [1, 3])
def test_well_shaped_reconstructions_are_shown(tmp_path, people):
    tensors = {"images": np.full((people, 1, 8, 8), 0.5, np.float32),
               "trajectory": np.zeros((2, people, 1, 4, 4), np.uint8), "steps": np.array([0, 10]),
               "target_confidence": np.zeros((2, people), np.float32)}
    faces, (frames, steps, _) = (sweep := reconstructions_sweep(tmp_path, tensors, people)).reconstructions(0.0), \
        sweep.trajectory(0.0)
    assert faces.shape == (people, 8, 8) and frames.shape == (2, people, 8, 8) and steps == [0, 10]


def test_every_shipped_file_loads(caplog):
    with caplog.at_level(logging.WARNING, logger="midlab"):
        for path in [*COMPARISONS_DIR.glob("comparison_*.json"), *STUDIES_DIR.glob("study_*.json")]:
            read_results(path, path.name.split("_")[0])
        assert len(gallery.read_zoo()) == len(MANIFEST["sweeps"])
        for record in (ROOT / "assets" / "store").glob("*/*/record.json"):
            assert Store(ROOT / "assets" / "store").record(record.parent.parent.name, record.parent.name)
    assert not caplog.records


def test_deep_nesting_is_a_clear_error_not_a_recursion_error(tmp_path):
    path = written(tmp_path, "study_0.json", b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(SchemaError, match="nested too deeply"):
        read_results(path, "study")


PAGES = ("app_pages/explore.py", "app_pages/results.py", "app_pages/attack_lab.py", "app_pages/compare.py",
         "app_pages/findings.py")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_a_malformed_results_file_once_and_keeps_working_with_the_zoo(results_dir, page):
    """One results file of each kind with a mistyped field (valid JSON): each page names it once and shows the
    rest (the shipped zoo on Explore, the Results table and the Attack lab)."""
    results_dir.mkdir()
    bad = {"sweep": SWEEP, "comparison": COMPARISON, "study": STUDY}
    for kind, content in bad.items():
        broken = copy.deepcopy(content)
        broken["config_hash"] = 12  # a number where the hash's text belongs
        (results_dir / f"{kind}_0123456789abcdef.json").write_text(json.dumps(broken))
    app = AppTest.from_file(APP, default_timeout=60).run().switch_page(page).run()
    assert not app.exception
    warnings = [shown(w.value) for w in app.warning]
    named = {kind: [w for w in warnings if f"{kind}_0123456789abcdef.json" in w] for kind in bad}
    assert all(len(found) <= 1 for found in named.values())  # each bad file named once at most, ...
    shown_here = [found[0] for found in named.values() if found]  # ... and at least one on every page
    assert shown_here and all("config_hash: Input should be a valid string" in w for w in shown_here)
    if page in PAGES[:3]:  # the zoo's sweeps still show
        text = " ".join([*(m.value for m in app.markdown), *(o for box in app.selectbox for o in box.options)])
        assert any(sweep["config_hash"] in text for sweep in MANIFEST["sweeps"])
