"""Issue 21, classes 5 to 8: what a user types, names or links is checked before anything runs, and shown as
written. Numbers outside what a machine can do (5), names from folders and links (6), text from links shown as
Markdown (7) and Ctrl-C at any moment (8). Each property is checked on cases Hypothesis generates.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import re
import signal
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_faces, shown
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import core.__main__ as cli
from core.attack_config import GMIConfig, InversionConfig
from core.config import DataConfig, ModelConfig, PrivacyConfig, TrainConfig
from core.data import load_identity_folders
from core.errors import ConfigError
from core.limits import LIMITS, parse_number
from core.stored_config import config_hash
from core.sweep_config import SweepConfig
from dashboard.state import people_from_link
from dashboard.text import plain

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run_main(*argv: str) -> tuple[int, str]:
    """`python -m core ARGV` in this process: (exit status, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            pytest.raises(SystemExit) as exit_info:
        cli.main(list(argv))
    return exit_info.value.code, err.getvalue()


def bounded_options() -> list[tuple[str, str, argparse.Action]]:
    """(command, option, action) for every option of every command that takes a value of its own type."""
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [(name, action.option_strings[0], action) for name, parser in commands.choices.items()
            for action in parser._actions if action.type is not None and action.option_strings]


# ---- 5. numbers outside what a machine can do -------------------------------------------------------------

def test_every_numeric_option_is_bounded_and_its_help_states_the_bounds():
    options = bounded_options()
    assert len(options) >= 20, options  # sweep, compare and study each have a dozen
    for command, option, action in options:
        if option == "--attacks":  # names, not numbers
            continue
        limit = getattr(action.type, "limit", None)
        assert limit is not None, f"{command} {option} takes a number without a stated range"
        assert str(limit) in " ".join(action.help.split()), (command, option, action.help)


def test_the_pages_number_inputs_use_the_same_bounds():
    """The Train page and the Attack lab read their bounds from LIMITS, not from numbers of their own."""
    for page, names in (("train.py", ("epochs", "bottleneck")), ("attack_lab.py", ("attack_steps",))):
        text = (ROOT / "dashboard" / "app_pages" / page).read_text()
        for name in names:
            assert f'LIMITS["{name}"].low' in text and f'LIMITS["{name}"].high' in text, (page, name)


OPTION_LIMITS = {"--epochs": "epochs", "--bottleneck": "bottleneck", "--seeds": "seed", "--lambdas": "lambda",
                 "--top-k": "top_k", "--public-identities": "public_identities", "--latent-bound": "latent_bound",
                 "--max-per-identity": "max_per_identity"}


def outside(limit) -> st.SearchStrategy:
    """Numbers just beyond each end of a range and far beyond it, written as the CLI would receive them."""
    step = 1 if limit.integer else 1e-6
    values = st.one_of(st.integers(int(limit.high) + 1, 10**30), st.integers(-(10**30), int(limit.low) - 1))
    if not limit.integer:
        values = st.one_of(values, st.floats(limit.high + step, 1e300), st.floats(-1e300, limit.low - step))
    return values.map(repr)


@SETTINGS
@given(data=st.data())
def test_any_number_outside_an_options_range_is_refused_in_one_line_before_anything_runs(data, tmp_path):
    option = data.draw(st.sampled_from(sorted(OPTION_LIMITS)))
    text = data.draw(outside(LIMITS[OPTION_LIMITS[option]]))
    # A data folder that does not exist: reaching the data would exit 1, so exit 2 proves nothing ran.
    code, err = run_main("sweep", f"{option}={text}", "--data", str(tmp_path / "nowhere"), "--store",
                         str(tmp_path / "store"), "--out", str(tmp_path / "results"), "--quiet")
    assert code == 2, (option, text, err)
    assert err.count("\n") == 1 and "Traceback" not in err and f"argument {option}" in err, err
    assert not (tmp_path / "store").exists() and not (tmp_path / "results").exists()


@SETTINGS
@given(data=st.data())
def test_any_number_inside_an_options_range_is_taken_as_written(data):
    option = data.draw(st.sampled_from(sorted(OPTION_LIMITS)))
    limit = LIMITS[OPTION_LIMITS[option]]
    value = data.draw(st.integers(int(limit.low), int(limit.high)) if limit.integer
                      else st.floats(limit.low, limit.high))
    args = cli.build_parser().parse_args(["sweep", f"{option}={value!r}"])
    parsed = getattr(args, option[2:].replace("-", "_"))
    assert (parsed[0] if isinstance(parsed, tuple) else parsed) == value


def plain_numbers() -> st.SearchStrategy:
    """Numbers as people write them: integers and decimals, signs, exponents."""
    return st.one_of(st.integers(-(10**12), 10**12).map(str),
                     st.floats(allow_nan=False, allow_infinity=False).map(repr),
                     st.from_regex(r"[+-]?[0-9]{1,6}(\.[0-9]{0,4})?([eE][+-]?[0-9]{1,2})?", fullmatch=True))


@SETTINGS
@given(text=plain_numbers(), where=st.integers(0, 50))
def test_digit_group_underscores_are_refused_where_python_would_take_them(text, where):
    digits = [i for i in range(1, len(text)) if text[i - 1].isdigit() and text[i].isdigit()]
    if not digits:
        return
    grouped = text[:digits[where % len(digits)]] + "_" + text[digits[where % len(digits)]:]
    with contextlib.suppress(ValueError):
        float(grouped)  # Python itself takes most of them
    with pytest.raises(ConfigError, match="is not a number"):
        parse_number(grouped)


@SETTINGS
@given(text=st.text(max_size=12))
def test_only_plainly_written_numbers_are_numbers(text):
    """Anything parse_number takes is ASCII digits with a sign, point and exponent, and means what float() says;
    nan, infinity, other scripts' digits and underscores never pass."""
    try:
        value = parse_number(text)
    except ConfigError:
        return
    word = text.strip()
    assert set(word) <= set(string.digits + "+-.eE") and value == float(word)
    assert not (value == 0 and str(value).startswith("-"))  # -0 is 0


@pytest.mark.parametrize("zero", ["-0", "-0.0", "+0", "0.000", "-0e5", "0"])
def test_every_way_of_writing_zero_is_one_lambda_with_one_hash(zero):
    args = cli.build_parser().parse_args(["sweep", f"--lambdas={zero},0.1"])
    assert config_hash(cli.sweep_config(args)) == config_hash(cli.sweep_config(
        cli.build_parser().parse_args(["sweep", "--lambdas=0,0.1"])))
    assert str(TrainConfig(mid_lambda=-0.0).mid_lambda) == "0.0"
    assert config_hash(SweepConfig(lambdas=(-0.0,))) == config_hash(SweepConfig(lambdas=(0.0,)))


CONFIG_FIELDS = [  # where each limited setting lives, and how to make a config with it
    ("epochs", lambda v: TrainConfig(epochs=v)), ("seed", lambda v: TrainConfig(seed=v)),
    ("seed", lambda v: SweepConfig(seeds=(v,))), ("bottleneck", lambda v: ModelConfig(bottleneck_dim=v)),
    ("width", lambda v: ModelConfig(width=v)), ("depth", lambda v: ModelConfig(depth=v)),
    ("max_per_identity", lambda v: DataConfig(max_per_identity=v)),
    ("public_identities", lambda v: DataConfig(public_identities=v)),
    ("identities", lambda v: DataConfig(identities=v)), ("top_k", lambda v: InversionConfig(top_k=v)),
    ("attack_steps", lambda v: GMIConfig(steps=v)), ("latent_bound", lambda v: GMIConfig(latent_bound=v)),
    ("noise_multiplier", lambda v: PrivacyConfig(noise_multiplier=v)),
    ("clip", lambda v: PrivacyConfig(max_grad_norm=v)), ("label_smoothing", lambda v: TrainConfig(label_smoothing=v)),
    ("lambda", lambda v: TrainConfig(mid_lambda=v)),
]


@SETTINGS
@given(data=st.data())
def test_configs_refuse_what_the_cli_refuses_so_no_page_or_file_can_pass_it(data):
    name, build = data.draw(st.sampled_from(CONFIG_FIELDS))
    value = data.draw(outside(LIMITS[name]).map(lambda text: parse_number(text, integer=LIMITS[name].integer)))
    with pytest.raises(ConfigError, match=re.escape(str(LIMITS[name]))):
        build(value)


@pytest.mark.parametrize("where", ["--out", "--store", "report --out"])
def test_an_output_folder_that_cannot_be_written_is_refused_before_any_work(tmp_path, where):
    """A path under a file cannot be made, even by root (CI runs as root, where permissions stop nothing)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    folder = str(blocker / "results")
    if where == "report --out":
        argv = ["report", str(tmp_path / "no-such-comparison.json"), "--out", folder]
    else:
        argv = ["sweep", "--data", str(tmp_path / "nowhere"), "--store", str(tmp_path / "store"),
                "--out", str(tmp_path / "results"), "--quiet"]
        argv[argv.index(where) + 1] = folder
    code, err = run_main(*argv)
    assert code == 2 and err.count("\n") == 1 and f"{where.split()[-1]} {folder}" in err and "not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


# ---- 6. names from folders and links ---------------------------------------------------------------------

FOLDER_NAME = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1,
                      max_size=10).filter(lambda name: not name.startswith(".") and len(name.encode()) < 200)


def write_identities(root: Path, names: list[str]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=(2, 8, 8), dtype=np.uint8)
    for name in names:
        (root / name).mkdir(parents=True)
        for index, image in enumerate(pixels):
            Image.fromarray(image).save(root / name / f"{index}.png")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(FOLDER_NAME, min_size=2, max_size=4, unique=True))
def test_identity_folders_of_any_name_load_in_one_order(names, tmp_path_factory):
    root = tmp_path_factory.mktemp("names")
    write_identities(root, names)
    first = load_identity_folders(root, 16)
    assert sorted(first.names) == sorted(names) and first.num_classes == len(names)
    assert np.bincount(first.labels).tolist() == [2] * len(names)
    assert load_identity_folders(root, 16).names == first.names  # the order does not depend on the disk's


def test_natural_order_still_puts_s2_before_s10_and_names_not_in_utf8_load(tmp_path):
    write_identities(tmp_path, ["s10", "s2", "s1", "²", "٣"])
    os.mkdir(os.fsencode(tmp_path) + b"/caf\xe9")  # Latin-1, as an old archive may hold
    write_identities(tmp_path / "x", [])  # nothing: an empty folder is skipped
    for index in range(2):
        Image.new("L", (8, 8)).save(os.fsencode(tmp_path) + f"/caf\xe9/{index}.png".encode("latin-1"))
    names = load_identity_folders(tmp_path, 16).names
    assert [name for name in names if name.startswith("s")] == ["s1", "s2", "s10"]
    assert {"caf\\xe9", "²", "٣"} <= set(names)


LINK_NAME = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)


@SETTINGS
@given(names=st.lists(LINK_NAME, min_size=1, max_size=8, unique=True), data=st.data())
def test_a_link_names_each_person_once_whatever_their_name_holds(names, data):
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=12))
    strangers = data.draw(st.lists(LINK_NAME.filter(lambda n: n not in names and "," not in n), max_size=3))
    wanted, unknown = people_from_link(chosen + strangers, names)
    assert wanted == list(dict.fromkeys(chosen))  # in the link's order, each once
    assert unknown == list(dict.fromkeys(strangers))


@SETTINGS
@given(names=st.lists(LINK_NAME.filter(lambda n: "," not in n), min_size=1, max_size=8, unique=True),
       data=st.data())
def test_older_comma_separated_links_still_work(names, data):
    chosen = data.draw(st.lists(st.sampled_from(names), min_size=1, max_size=8))
    assert people_from_link([",".join(chosen)], names)[0] == list(dict.fromkeys(chosen))


# ---- 7. text from links shown as Markdown ----------------------------------------------------------------

@SETTINGS
@given(text=st.text(st.sampled_from(string.printable + "²٣éλ·")) | st.text())
def test_plain_text_shows_exactly_as_written_and_carries_no_markup(text):
    markdown = plain(text)
    assert shown(markdown) == " ".join(text.split())
    # Every ASCII punctuation character, the only ones Markdown reads, comes escaped: no link, image, emphasis,
    # code, HTML, heading, list, table or directive can start.
    unescaped = re.sub(r"\\.", "", markdown)
    assert not set(unescaped) & set(string.punctuation), markdown
    assert "\n" not in markdown


MARKDOWN_CALLS = re.compile(r"\b(?:st|column|card|left|right|middle|png|html)\.(markdown|caption|info|warning|error|"
                            r"success|toast)\(")


def test_no_page_passes_a_raw_error_or_name_to_markdown():
    """The spots that showed user text raw (errors quoting paths, folder names, link values) go through plain."""
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if MARKDOWN_CALLS.search(line):
                assert not re.search(r"\{(error|problem|path|job\.error|wanted\w*|params\[[^]]*\]|sweep\.names"
                                     r"\[[^]]*\]|names\[[^]]*\])(!r)?\}|"
                                     r"(markdown|caption|info|warning|error|success|toast)\((str\()?error\b", line), (
                    f"{path.relative_to(ROOT)}:{number}: {line.strip()}")


HOSTILE_NAMES = ["Doe, Jane", "[prize](https:evil.example)", "![x](http:evil.example?p.png)", "<b>s10</b>"]
MARKUP = re.compile(r"(?<!\\)(\]\(|!\[|<[A-Za-z/])")  # a link, an image or an HTML tag left unescaped


@pytest.mark.slow
def test_a_crafted_link_over_hostile_folder_names_shows_each_person_once_and_no_markup(tmp_path, monkeypatch):
    """A real sweep over folders named like Markdown links, images, HTML and with commas; a link that names them
    (repeated, as an older comma list, and unknown Markdown values): every notice and label is plain text."""
    import torch
    from streamlit.testing.v1 import AppTest
    from tiny_cli import tiny_config

    from core import gallery
    from core.engine import Engine
    from core.results import load_results
    from core.store import Store
    from core.sweep import run_sweep

    pixels = np.random.default_rng(0).integers(0, 256, size=(len(HOSTILE_NAMES), 5, 16, 16), dtype=np.uint8)
    for name, images in zip(HOSTILE_NAMES, pixels, strict=True):
        (tmp_path / "faces" / name).mkdir(parents=True)
        for index, image in enumerate(images):
            Image.fromarray(image).save(tmp_path / "faces" / name / f"{index}.png")
    config, _ = tiny_config(["--dataset", "folder", "--folder", str(tmp_path / "faces"), "--public",
                             "heldout_identities", "--public-identities", "1", "--lambdas", "0,0.1", "--epochs", "3"])
    run_sweep(config, Engine(Store(tmp_path / "store"), tmp_path, torch.device("cpu")), tmp_path / "results")
    names = load_results(next((tmp_path / "results").glob("sweep_*.json")))["class_names"]
    monkeypatch.setenv("MIDLAB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MIDLAB_DATA", str(tmp_path))
    monkeypatch.setattr(gallery, "ZOO_DIR", tmp_path / "no-zoo")
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    app.query_params.update({"ids": [names[1], names[1], names[0], "[click](https:evil.example)"],
                             "view": "![img](http:evil.example?v.png)", "lam": "1_0"})
    app.run()
    assert not app.exception
    assert app.multiselect[0].value == [names[1], names[0]]  # each person once, in the link's order
    assert app.query_params["ids"] == [names[1], names[0]]  # written back one parameter per person
    texts = [e.value for kind in ("markdown", "caption", "toast", "warning", "error", "info", "success")
             for e in app.get(kind)] + [caption for image in app.image for caption in image.captions]
    written = [text for text in texts if any(plain(n) in text for n in names) or "evil" in text]
    assert len(written) >= 4, texts  # the two people's captions, the notices about the link's values
    for text in written:
        assert not MARKUP.search(text), text
        raw = [value for value in [*names, "[click](https:evil.example)"] if value in text and plain(value) != value]
        assert not raw, (text, raw)  # each user value appears escaped only
    assert any(text.startswith(plain(names[1])) for text in texts)  # the person's photo, captioned by name
    # An older link's comma-separated list still opens the same screen, except for a name holding a comma.
    plain_names = [n for n in names if "," not in n]
    again = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    again.query_params["ids"] = ",".join(reversed(plain_names))
    assert again.run().multiselect[0].value == list(reversed(plain_names))


# ---- 8. interrupts -----------------------------------------------------------------------------------------

INTERRUPTED = "interrupted: everything finished so far is stored and will be reused\n"


def read_stderr(process: subprocess.Popen, lines: list[str], handled: threading.Event) -> None:
    """Collect a child's stderr as it comes (so it never blocks on a full pipe); set `handled` once it has imported
    core.interrupts (or ended)."""
    for line in process.stderr:
        lines.append(line)
        if line.rsplit("|", 1)[-1].strip() == "core.interrupts":  # "import time: self | cumulative |   name"
            handled.set()
    handled.set()


@pytest.mark.slow
def test_ctrl_c_at_any_moment_gives_one_line_status_130_and_nothing_half_written(tmp_path):
    """SIGINT at random moments of a real `python -m core sweep`: importing, parsing, reading the faces, training
    the judge and the targets, attacking. Python's own start-up, before it runs any of MID Lab, is left out."""
    make_faces(tmp_path / "faces", identities=4, per_identity=5, size=(16, 16))
    argv = [sys.executable, "-m", "core", "sweep", "--dataset", "folder", "--folder", str(tmp_path / "faces"),
            "--public", "heldout_identities", "--public-identities", "1", "--lambdas", "0,0.1", "--epochs", "1000",
            "--data", str(tmp_path), "--store", str(tmp_path / "store"), "--out", str(tmp_path / "results"),
            "--quiet"]
    chance = random.Random(21)  # one generator: a fresh one per draw gave ten times the same moment
    moments = sorted(chance.uniform(0.1, 6.0) for _ in range(10))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for moment in [0.1, *moments]:
        # Each moment counts from when MID Lab handles SIGINT (`-X importtime` reports core.interrupts imported),
        # not from Python's own start-up, which the guarantee leaves out and a loaded machine stretches to seconds.
        process = subprocess.Popen([sys.executable, "-X", "importtime", *argv[1:]], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines, handled = [], threading.Event()
        reader = threading.Thread(target=read_stderr, args=(process, lines, handled))
        reader.start()
        assert handled.wait(timeout=60)
        time.sleep(moment)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        reader.join()
        err = "".join(line for line in lines if not line.startswith("import time:"))
        assert (process.returncode, err) == (130, INTERRUPTED), (moment, process.returncode, err)
        assert not list(tmp_path.rglob("*.tmp")), moment  # a file being written was removed, not left half-written
    from test_interruptions import assert_store_valid

    from core.store import Store

    assert_store_valid(Store(tmp_path / "store"))
