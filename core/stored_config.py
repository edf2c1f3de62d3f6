"""A config's stored form and its name: to_dict and from_dict (what results files and records hold, and back),
hash_view and config_hash (the short hash that keys stored models and results)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import typing
from typing import Any

import pydantic

from core.errors import ConfigError, problems
from core.sweep_config import ATTACKS_RUN, DERIVED_CONFIGS, SweepConfig

# Bump when a code change alters what an existing stored config would produce, so old results are not reused.
SCHEMA_VERSION = 1


def to_dict(config: Any) -> Any:
    """A config as plain JSON-ready values, every field of it: the form results files and records store, from
    which `from_dict` rebuilds the same config."""
    return _plain(config, pruned=False)


def hash_view(config: Any) -> Any:
    """What names a config (see config_hash): its values without the fields it declares irrelevant (another
    attack's knobs), and without fields added in a later version while they hold the value that reproduces
    earlier behaviour (ADDED_FIELDS), so every model and result stored before them keeps its hash."""
    return _plain(config, pruned=True)


def _plain(config: Any, pruned: bool) -> Any:
    """`config` as JSON-ready values: whole (to_dict), or as the hash sees it (hash_view)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        skip = set()
        if pruned:
            skip = set(config.irrelevant_fields()) if hasattr(config, "irrelevant_fields") else set()
            skip |= {name for name, value in getattr(config, "ADDED_FIELDS", {}).items()
                     if getattr(config, name) == value}
        values = {f.name: _plain(getattr(config, f.name), pruned) for f in dataclasses.fields(config)
                  if f.name not in skip}
        # A config that runs settings it derives (a comparison runs its sweep's attack template under each of
        # its attacks) is named by them too: their knobs are irrelevant to the template, not to the results.
        if pruned and hasattr(config, "derived_configs"):
            values |= {name: _plain(value, pruned) for name, value in config.derived_configs().items()}
        return values
    if isinstance(config, (list, tuple)):
        return [_plain(value, pruned) for value in config]
    if isinstance(config, dict):
        return {key: _plain(value, pruned) for key, value in config.items()}
    return config


def config_hash(config: Any) -> str:
    """A short stable name for a config: same settings (and schema version), same hash."""
    return dict_hash(type(config).__name__, hash_view(config))


def dict_hash(kind: str, values: dict[str, Any]) -> str:
    """config_hash of a hash view already at hand (such a view with some fields left out: a sweep's template)."""
    payload = {"schema": SCHEMA_VERSION, "kind": kind, "config": values}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stored_form(cls: type, values: Any) -> Any:
    """A stored config brought to `cls`'s current fields. Files written before `to_dict` stored every field hold
    the hash view: a field they leave out that a later version added held the value that reproduces the
    earlier behaviour (ADDED_FIELDS), not today's default. The configs a config derives are dropped."""
    if not isinstance(values, dict):
        return values
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    added = {name: to_dict(value) for name, value in getattr(cls, "ADDED_FIELDS", {}).items() if name not in values}
    form = {key: value for key, value in values.items() if key not in DERIVED_CONFIGS or key in names} | added
    # The hash view leaves the attack template's other knobs out (the GAN prior of a MI-Face template), but the
    # attacks a comparison or study runs keep them: take them back from there.
    for name in names & form.keys():
        template = form[name].get("attack") if hints[name] is SweepConfig and isinstance(form[name], dict) else None
        if isinstance(template, dict) and isinstance(values.get(ATTACKS_RUN), list):
            knobs: dict[str, Any] = {}
            for run in values[ATTACKS_RUN]:
                knobs |= run if isinstance(run, dict) else {}
            form[name] = {**form[name], "attack": {**knobs, **template}}
    for name in names & form.keys():
        hint = hints[name]
        nested = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
        if dataclasses.is_dataclass(nested):
            value = form[name]
            form[name] = ([_stored_form(nested, item) for item in value] if hint is not nested
                          and isinstance(value, list) else _stored_form(nested, value))
    return form


ConfigT = typing.TypeVar("ConfigT")


@functools.cache
def _validator(cls: type) -> pydantic.TypeAdapter:
    return pydantic.TypeAdapter(cls)


def from_dict(cls: type[ConfigT], values: Any) -> ConfigT:
    """The config of type `cls` stored as `values` (by to_dict, or an older version's hash view), validated like
    any other: from_dict(type(c), to_dict(c)) == c. A value of the wrong type, an unknown field or a setting out
    of range raises ConfigError naming the field."""
    try:
        return _validator(cls).validate_python(_stored_form(cls, values))
    except pydantic.ValidationError as error:
        raise ConfigError(f"the stored {cls.__name__} settings do not fit this version of MID Lab "
                          f"({problems(error, cls.__name__)}); run it again") from None


def sweep_from_dict(values: dict[str, Any]) -> SweepConfig:
    """A SweepConfig rebuilt from its dict form (as stored in a results file): see from_dict."""
    return from_dict(SweepConfig, values)
