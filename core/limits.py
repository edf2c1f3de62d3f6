"""The checks every setting passes: a value among its choices, a number in its range (LIMITS), a number written
plainly (parse_number). A failed check is a ConfigError saying what was expected."""

from __future__ import annotations

import math
import re
import typing
from typing import Any

from core.errors import ConfigError

MAX_LAMBDA = 1000.0


def require(ok: bool, message: str) -> None:
    """ConfigError(message) unless `ok`."""
    if not ok:
        raise ConfigError(message)


def require_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    """ConfigError unless `value` is one of `allowed`, naming them."""
    require(value in allowed, f"{name} must be one of {', '.join(allowed)}; got {value!r}")


class Limit(typing.NamedTuple):
    """The range a numeric setting may take. Beyond it a run would fail late (a seed the generators refuse, an
    allocation no machine can make) or never end (an epoch count in the billions)."""

    low: float
    high: float
    integer: bool = True
    low_open: bool = False  # the low end itself is excluded: (0, 100]

    def __str__(self) -> str:
        if self.integer:
            return f"{self.low}..{self.high}"
        return f"{'(' if self.low_open else '['}{self.low:g}, {self.high:g}]"

    def contains(self, value: Any) -> bool:
        kind = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind) or (isinstance(value, float) and math.isnan(value)):
            return False
        return (self.low < value if self.low_open else self.low <= value) and value <= self.high


# Every numeric setting a user gives (the command line's options, the dashboard's inputs, a study's levels), with
# its range: the CLI's parsers, its --help, the pages' number inputs and the configs' own checks all read this.
LIMITS: dict[str, Limit] = {
    "lambda": Limit(0.0, MAX_LAMBDA, integer=False),  # beyond MAX_LAMBDA nothing is learnt
    "seed": Limit(0, 2**32 - 1),  # what every generator takes (numpy's legacy one is the narrowest)
    "epochs": Limit(1, 1000),
    "attack_steps": Limit(1, 2000),  # MI-Face's and GMI's steps, the inversion network's epochs
    "bottleneck": Limit(1, 4096),
    "width": Limit(1, 256),  # doubled by each conv block: 256 x 2**3 channels is already a large model on a CPU
    "depth": Limit(1, 8),
    "identities": Limit(0, 100_000),
    "max_per_identity": Limit(0, 100_000),
    "public_identities": Limit(0, 100_000),
    "top_k": Limit(0, 100_000),
    "latent_bound": Limit(0.0, 100.0, integer=False),
    "noise_multiplier": Limit(0.0, 100.0, integer=False, low_open=True),  # DP-SGD's; PrivacyConfig's 0 turns it off
    "clip": Limit(0.0, 100.0, integer=False, low_open=True),
    "cpus_per_task": Limit(1, 1024),  # a Ray task's CPUs: more than any one machine has
    # Negative label smoothing below -0.5 makes the loss fall without bound too quickly to train.
    "label_smoothing": Limit(-0.5, 0.9, integer=False),
}


def check_limit(name: str, value: Any, what: str | None = None) -> Any:
    """`value` when it lies in LIMITS[name] (a float with -0.0 made 0.0, so both name one config), else ConfigError
    saying the range."""
    limit = LIMITS[name]
    require(limit.contains(value), f"{what or name} must be in {limit}; got {value!r}")
    return value if limit.integer else float(value) + 0.0


def check_lambda(value: float) -> float:
    """lambda weighs the KL term: finite, non-negative and not absurd; -0.0 is returned as 0.0."""
    return check_limit("lambda", value)


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_number(text: str, integer: bool = False) -> int | float:
    """A number written plainly: ASCII digits, a sign, a decimal point, an exponent. Python's own int() and float()
    also take '1_000', 'nan', 'infinity' and other scripts' digits: refused here. -0 is 0."""
    word = text.strip()
    if not (_INTEGER if integer else _DECIMAL).fullmatch(word):
        raise ConfigError(f"{word!r} is not {'an integer' if integer else 'a number'}")
    try:
        return int(word) if integer else float(word) + 0.0
    except ValueError:  # an integer of more than 4300 digits
        raise ConfigError(f"{text[:20]!r}... is too long a number") from None
