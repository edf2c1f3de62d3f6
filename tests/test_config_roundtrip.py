"""A config survives its stored form: from_dict(to_dict(c)) == c for every config class with every field set away
from its default (fields added later at their old value too), files written by older versions (the hash view)
rebuild under the hash they were stored with, and every shipped results file and record reloads under its own."""

from __future__ import annotations

import dataclasses
import importlib
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from core.attack_config import AttackConfig, GMIConfig, MIFaceConfig, OutputDefenseConfig, PriorConfig
from core.config import DataConfig, EvaluatorConfig, ModelConfig, TargetConfig
from core.errors import ConfigError
from core.stored_config import config_hash, from_dict, hash_view, to_dict
from core.study_design import StudyConfig
from core.sweep_config import ComparisonConfig, SweepConfig

ASSETS = Path(__file__).resolve().parent.parent / "assets"
# Every config class, from each module that defines them.
CONFIG_MODULES = [importlib.import_module(f"core.{name}")
                  for name in ("config", "attack_config", "sweep_config", "study_design")]
CONFIG_CLASSES = [value for module in CONFIG_MODULES for value in vars(module).values()
                  if isinstance(value, type) and dataclasses.is_dataclass(value)
                  and value.__module__ == module.__name__]

# Values the generic rule in `_changed` cannot guess: choices, ranges, and lists.
NON_DEFAULT: dict[tuple[type, str], Any] = {
    (DataConfig, "dataset"): "lfw", (DataConfig, "folder"): "faces", (DataConfig, "train_fraction"): 0.6,
    (ModelConfig, "head"): "linear", (ModelConfig, "predict_mode"): "mean", (ModelConfig, "norm"): "group",
    (MIFaceConfig, "start"): "gray", (PriorConfig, "image_size"): 32,
    (OutputDefenseConfig, "kind"): "round", (AttackConfig, "attack"): "inversion", (AttackConfig, "view"): "mu",
    (SweepConfig, "lambdas"): (0.0, 0.5), (SweepConfig, "seeds"): (1, 2, 3),
    (ComparisonConfig, "attacks"): ("inversion",), (ComparisonConfig, "noise_multipliers"): (1.5,),
    (ComparisonConfig, "outputs"): (OutputDefenseConfig("noise", noise_std=0.3),),
    (StudyConfig, "factor"): "depth", (StudyConfig, "levels"): (2, 4),
    (GMIConfig, "recipe"): "paper", (GMIConfig, "momentum"): 0.5,
    (EvaluatorConfig, "arch"): "pca_lda", (EvaluatorConfig, "lda_shrinkage"): 0.3,
}
# AttackConfig.public: the held-out public set goes with MI-Face only, so it has an instance of its own below.
NOT_WITH_THE_REST = {(AttackConfig, "public")}


def _changed_scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 2
    if isinstance(value, float):
        return value * 2 if value else 0.25
    raise TypeError(f"no generic non-default value for {value!r}: add it to NON_DEFAULT")


def changed(cls: type) -> Any:
    """An instance of `cls` with every field away from its default (nested configs changed the same way)."""
    default, hints, values = cls(), typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        if (cls, f.name) in NOT_WITH_THE_REST:
            continue
        if (cls, f.name) in NON_DEFAULT:
            values[f.name] = NON_DEFAULT[cls, f.name]
        elif dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = changed(hints[f.name])
        else:
            values[f.name] = _changed_scalar(getattr(default, f.name))
    return cls(**values)


def instances() -> list[Any]:
    """Per config class: every field changed; the fields that cannot change with the rest changed on their own;
    and each field a later version added (ADDED_FIELDS) at its old value."""
    found = []
    for cls in CONFIG_CLASSES:
        every = changed(cls)
        found.append(every)
        added = getattr(cls, "ADDED_FIELDS", {})
        if added:
            found.append(dataclasses.replace(every, **added))
    found.append(AttackConfig(public="heldout_identities"))
    return found


def test_every_field_of_every_config_class_is_changed_by_some_instance():
    """The round trip below covers every field: none keeps its default in all of the instances."""
    for cls in CONFIG_CLASSES:
        default = cls()
        mine = [c for c in instances() if type(c) is cls]
        unchanged = [f.name for f in dataclasses.fields(cls) if all(getattr(c, f.name) == getattr(default, f.name)
                                                                    for c in mine)]
        assert not unchanged, f"{cls.__name__}: {unchanged} never leave their default"


@pytest.mark.parametrize("config", instances(), ids=lambda c: type(c).__name__)
def test_a_stored_config_comes_back_the_same_under_the_same_hash(config):
    stored = json.loads(json.dumps(to_dict(config)))  # as a results file holds it
    again = from_dict(type(config), stored)
    assert again == config and config_hash(again) == config_hash(config)
    # A file written before every field was stored holds the hash view: it rebuilds under the same hash.
    older = from_dict(type(config), json.loads(json.dumps(hash_view(config))))
    assert config_hash(older) == config_hash(config)


def test_added_fields_at_their_old_value_survive_a_results_file():
    """The bug this guards against: the judge trained with photometric augmentation, or GMI unbounded, came back
    from its results file with today's defaults, and so under another hash."""
    sweep = SweepConfig(evaluator=EvaluatorConfig(photometric=True),
                        attack=AttackConfig(attack="gmi", gmi=GMIConfig(latent_bound=0.0)))
    for stored in (to_dict(sweep), hash_view(sweep)):
        again = from_dict(SweepConfig, json.loads(json.dumps(stored)))
        assert again.evaluator.photometric is True and again.attack.gmi.latent_bound == 0.0
        assert config_hash(again) == config_hash(sweep)


@pytest.mark.parametrize("bad, words", [
    ({"lambdas": [0.0], "colour": "red"}, "colour"),
    ({"target": {"train": {"epochs": "many"}}}, "target.train.epochs"),
    ({"lambdas": [-1.0]}, "lambda must be"),
    ({"seeds": 3}, "seeds"),
    ([1, 2], "SweepConfig"),
])
def test_a_stored_config_that_does_not_fit_names_the_field(bad, words):
    with pytest.raises(ConfigError, match="do not fit this version") as error:
        from_dict(SweepConfig, bad)
    assert words in str(error.value)


def _shipped() -> list[tuple[str, type, dict[str, Any]]]:
    kinds = {"sweep": SweepConfig, "comparison": ComparisonConfig, "study": StudyConfig, "target": TargetConfig,
             "evaluator": EvaluatorConfig, "prior": PriorConfig}
    found = [(f"zoo sweep {r['config_hash']}", SweepConfig, r)
             for r in json.loads((ASSETS / "zoo" / "manifest.json").read_text())["sweeps"]]
    for path in sorted([*ASSETS.glob("comparisons/*.json"), *ASSETS.glob("studies/*.json"),
                        *ASSETS.glob("store/*/*/record.json")]):
        record = json.loads(path.read_text())
        found.append((str(path.relative_to(ASSETS)), kinds[record["kind"]], record))
    return found


@pytest.mark.parametrize("name, cls, record", _shipped(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_shipped_results_file_and_record_reloads_under_its_recorded_hash(name, cls, record):
    config = from_dict(cls, record["config"])
    assert config_hash(config) == record["config_hash"], name
    assert from_dict(cls, to_dict(config)) == config
