from pathlib import Path

import pytest
from conftest import run_cli

from core.paths import data_root, results_root, store_root


@pytest.mark.parametrize(("argv", "expected"), [
    (["--lambdas", "0,nan"], "'nan' is not a number"),
    (["--lambdas", "-1"], "lambda must be in [0, 1000]"),
    (["--lambdas", "1e9"], "lambda must be in [0, 1000]"),
    (["--lambdas", "0,abc"], "--lambdas"),
    (["--epochs", "0"], "epochs must be in 1..1000"),
    (["--bottleneck", "0"], "bottleneck must be in 1..4096"),
    (["--view", "everything"], "invalid choice"),
    (["--dataset", "celeba"], "invalid choice"),
    (["--seeds", "x"], "'x' is not an integer"),
    (["--latent-bound", "-1"], "must be in [0, 100]"),
    (["--latent-bound", "nan"], "'nan' is not a number"),
    (["--latent-bound", "wide"], "is not a number"),
])
def test_bad_values_get_a_clear_error_not_a_traceback(capsys, argv, expected):
    code, _, err = run_cli(capsys, "sweep", *argv)
    assert code == 2 and expected in err and "Traceback" not in err


def test_heldout_public_set_needs_heldout_identities(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--public", "heldout_identities", "--data", str(tmp_path))
    assert code == 2 and "public identities" in err


def test_repeated_lambdas_are_refused(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--lambdas", "0,0", "--data", str(tmp_path))
    assert code == 2 and "lambdas must not repeat" in err


def test_missing_data_is_reported_with_its_path(capsys, tmp_path):
    code, _, err = run_cli(capsys, "sweep", "--data", str(tmp_path / "nowhere"), "--store", str(tmp_path / "s"),
                           "--out", str(tmp_path / "r"), "--quiet")
    assert code == 1 and "nowhere" in err and "MIDLAB_DATA" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_every_attacks_knobs_name_the_comparisons_and_studies_that_run_it():
    """A comparison or a study runs its sweep's attack template under several attacks, so each attack's knobs
    reach its hash: `compare --top-k 3` or `--latent-bound 0` is another comparison, not the default's file."""
    import dataclasses

    from core.stored_config import config_hash
    from core.study_design import StudyConfig
    from core.sweep_config import ComparisonConfig

    sweeps = [_config(), _config("--top-k", "3"), _config("--latent-bound", "0")]
    assert len({config_hash(sweep) for sweep in sweeps}) == 1  # MI-Face uses neither knob
    assert len({config_hash(ComparisonConfig(sweep=sweep)) for sweep in sweeps}) == 3
    studies = [StudyConfig(base=dataclasses.replace(sweep, seeds=(0, 1, 2)), factor="attack",
                           levels=("miface", "gmi", "inversion")) for sweep in sweeps]
    assert len({config_hash(study) for study in studies}) == 3
    # GMI is bounded by default; unbounded, it keeps the key its results had before the bound existed.
    assert _config("--attack", "gmi").attack.gmi.latent_bound == 1.0
    # (Those results had the mu view, then the default.)
    assert config_hash(_config("--attack", "gmi", "--latent-bound", "0", "--view", "mu")) == "6aa5199aa73ccb83"


@pytest.mark.parametrize(("argv", "reached"), [
    (["--dataset", "lfw"], lambda c, a: c.target.data.dataset == c.evaluator.data.dataset == "lfw"),
    (["--lambdas", "0.5,2"], lambda c, a: c.lambdas == (0.5, 2.0)),
    (["--seeds", "3,4"], lambda c, a: c.seeds == (3, 4)),
    (["--attack", "gmi"], lambda c, a: c.attack.attack == "gmi"),
    (["--view", "mu"], lambda c, a: c.attack.view == "mu"),
    (["--latent-bound", "0.5"], lambda c, a: c.attack.gmi.latent_bound == 0.5),
    (["--out", "/elsewhere/results"], lambda c, a: results_root(a.out) == Path("/elsewhere/results")),
    (["--data", "/elsewhere/data"], lambda c, a: data_root(a.data) == Path("/elsewhere/data")),
    (["--store", "/elsewhere/store"], lambda c, a: store_root(a.store) == Path("/elsewhere/store")),
])
def test_each_sweep_option_sets_what_it_names(argv, reached):
    """Each option changes what it says (and the default is something else), rather than only appearing in --help."""
    import core.__main__ as cli

    parser = cli.build_parser()
    given, default = parser.parse_args(["sweep", *argv]), parser.parse_args(["sweep"])
    assert reached(cli.sweep_config(given), given)
    assert not reached(cli.sweep_config(default), default)


def test_no_help_text_tells_a_dated_history(capsys):
    """Help says what an option does now; what changed when is in CHANGELOG.md."""
    import argparse
    import re

    import core.__main__ as cli

    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        code, out, _ = run_cli(capsys, name, "--help")
        assert code == 0 and not re.search(r"\b20\d\d-\d\d|\buntil\b", out), (name, out)


def _config(*argv: str):
    import core.__main__ as cli

    return cli.sweep_config(cli.build_parser().parse_args(["sweep", *argv]))


def test_each_dataset_gets_its_defaults_and_options_override_them():
    from core.stored_config import config_hash
    from core.zoo import ZOO_ATTACKS, ZOO_DATASETS, default_zoo_sweeps, paper_recipe_sweep

    assert [config_hash(_config("--dataset", d, "--attack", a)) for d in ZOO_DATASETS
            for a in ZOO_ATTACKS] == [config_hash(c) for c in default_zoo_sweeps()]
    assert config_hash(_config("--attack", "gmi", "--gmi-recipe", "paper", "--lambdas", "0,0.01,0.03,0.1")) == \
        config_hash(paper_recipe_sweep())
    assert config_hash(_config("--dataset", "lfw", "--attack", "gmi", "--gmi-recipe", "paper", "--lambdas", "0,0.01")) \
        == config_hash(paper_recipe_sweep("lfw"))
    orl, lfw = _config("--attack", "gmi"), _config("--dataset", "lfw", "--attack", "gmi")
    assert orl.attack.prior.crop == 190 and lfw.attack.prior.crop == 126
    assert (lfw.target.data.max_per_identity, lfw.target.train.epochs, lfw.evaluator.width) == (60, 30, 48)
    assert (orl.target.data.max_per_identity, orl.target.train.epochs, orl.evaluator.width) == (0, 20, 16)
    assert not lfw.evaluator.photometric and not orl.evaluator.photometric  # conventional judges
    # The judge ORL had before: the option gives back the old default sweep's hash.
    assert config_hash(_config("--judge-photometric", "--view", "mu")) == "18c4cd800a478195"
    chosen = _config("--dataset", "lfw", "--epochs", "5", "--max-per-identity", "0", "--attack", "inversion",
                     "--top-k", "3")
    assert (chosen.target.train.epochs, chosen.target.data.max_per_identity) == (5, 0)
    assert chosen.evaluator.data == chosen.target.data and chosen.attack.inversion.top_k == 3
    assert chosen.attack.inversion.crop == 126


@pytest.mark.parametrize("options", [
    (),
    ("--dataset", "lfw", "--attack", "inversion", "--top-k", "3", "--epochs", "5", "--max-per-identity", "0"),
    ("--public", "heldout_identities", "--public-identities", "5", "--predict-mode", "mu", "--bottleneck", "32",
     "--view", "sample", "--seeds", "0,1,2", "--lambdas", "0.01,0.1"),
])
def test_a_study_writes_the_command_line_that_rebuilds_it(options):
    """core.study_command writes a study's command without the CLI; the CLI parses it back to the same hash."""
    import shlex

    import core.__main__ as cli
    from core.presets import sweep_defaults
    from core.stored_config import config_hash
    from core.study_command import study_command

    parser = cli.build_parser()
    for dataset in ("orl", "lfw"):  # what the command leaves out is the CLI's default: the dataset's sweep
        assert cli.sweep_config(parser.parse_args(["sweep", "--dataset", dataset])) == sweep_defaults(dataset)
    study = cli.study_config(parser.parse_args(["study", *options, "--factor", "label_smoothing",
                                                "--levels=-0.1,0"]))
    command, exact = study_command(study)
    assert exact and command.startswith("python -m core study ")
    rebuilt = cli.study_config(parser.parse_args(shlex.split(command)[3:]))
    assert config_hash(rebuilt) == config_hash(study)
    for option in options[::2]:  # every option given is written back
        assert option in shlex.split(command)
