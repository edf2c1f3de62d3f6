"""The command line of a study: `python -m core study ...` written from its config, and whether that command
rebuilds the config exactly. Light (no torch, no CLI import): the CLI prints it, the Findings page and the
report show it."""

from __future__ import annotations

import shlex
from typing import Any

from core.errors import ConfigError
from core.presets import sweep_defaults
from core.stored_config import config_hash, from_dict, to_dict
from core.study_design import StudyConfig

STUDY_COMMAND = "python -m core study"
# The options the command writes when the study's setting differs from the dataset's default sweep, each with the
# field of the base sweep it sets (the CLI's sweep options default to sweep_defaults: tests/test_cli.py checks).
OPTIONAL = [("--public", ("attack", "public")), ("--public-identities", ("target", "data", "public_identities")),
            ("--top-k", ("attack", "inversion", "top_k")),
            ("--max-per-identity", ("target", "data", "max_per_identity")),
            ("--predict-mode", ("target", "model", "predict_mode")),
            ("--bottleneck", ("target", "model", "bottleneck_dim")), ("--epochs", ("target", "train", "epochs"))]
# Fields the command always writes, so they are never a difference the command misses.
WRITTEN = [("target", "data", "dataset"), ("target", "data", "folder"), ("lambdas",), ("seeds",),
           ("attack", "attack"), ("attack", "view")]


def number_text(value: float) -> str:
    """A number as short as it can be written and read back the same (0.1, 1e-05)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def level_text(level: Any) -> str:
    """A level as the command line writes it (true / false, 0.1, 64, miface)."""
    if isinstance(level, bool):
        return "true" if level else "false"
    return number_text(level) if isinstance(level, float) else str(level)


def _at(tree: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        tree = tree.get(key, {}) if isinstance(tree, dict) else {}
    return tree if tree != {} else None


def study_arguments(config: StudyConfig | dict[str, Any]) -> tuple[list[str], bool]:
    """The arguments after `python -m core study` that run the study `config` (a StudyConfig, or one as a results
    file stores it), and whether they rebuild it exactly (the same hash). A study made in code, e.g. by a test
    with shrunken models, may use settings no option sets: its command runs the nearest study."""
    plain = to_dict(config) if isinstance(config, StudyConfig) else config
    base = plain["base"]
    data = base["target"]["data"]
    default = to_dict(sweep_defaults(data["dataset"], data.get("folder", "")))
    levels = ",".join(level_text(level) for level in plain["levels"])
    arguments = ["--dataset", data["dataset"], *(["--folder", data["folder"]] if data.get("folder") else []),
                 "--factor", plain["factor"],
                 *([f"--levels={levels}"] if levels.startswith("-") else ["--levels", levels]),
                 "--lambdas", ",".join(number_text(v) for v in base["lambdas"]),
                 "--seeds", ",".join(str(s) for s in base["seeds"]),
                 "--attack", base["attack"]["attack"], "--view", base["attack"]["view"]]
    for flag, path in OPTIONAL:
        value = _at(base, path)
        if value is not None and value != _at(default, path):
            arguments += [flag, level_text(value)]
    return arguments, isinstance(config, StudyConfig) and _rebuilds(config, default)


def _rebuilds(config: StudyConfig, default: dict[str, Any]) -> bool:
    """Whether the command's options, set on the dataset's default sweep as the CLI sets them (the judge reads the
    target's data), give `config` again."""
    base = to_dict(config)["base"]
    for path in WRITTEN + [path for _, path in OPTIONAL]:
        *parents, key = path
        _at(default, tuple(parents))[key] = _at(base, path)
    default["evaluator"]["data"] = default["target"]["data"]
    try:
        rebuilt = from_dict(StudyConfig, {**to_dict(config), "base": default})
    except ConfigError:  # the options alone make a study this version refuses: the command is the nearest only
        return False
    return config_hash(rebuilt) == config_hash(config)


def study_command(config: StudyConfig | dict[str, Any]) -> tuple[str, bool]:
    """The whole `python -m core study ...` command of `config` (see study_arguments), and whether it is exact
    (never for a config given as a dict: one this version cannot rebuild)."""
    arguments, exact = study_arguments(config)
    return shlex.join([*shlex.split(STUDY_COMMAND), *arguments]), exact
