"""A regime study's design: lambda swept jointly with one regime factor (StudyConfig), the factors and their
levels' types, and how levels are read from text (parse_levels)."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from core.attack_config import AttackConfig
from core.config import TargetConfig, config_dataclass, undefended_target
from core.errors import ConfigError
from core.limits import parse_number, require, require_choice
from core.sweep_config import ATTACKS_RUN, SweepConfig

# A regime study's factors and the type of their levels: images per identity (DataConfig.max_per_identity), the
# number of identities (DataConfig.identities), the target's width, depth and bottleneck size k, its training
# epochs, the attack, the attacker's view of a MID model, label smoothing of every model (defended or not: a
# control), and MID models deployed predicting from mu instead of a sample (a control).
STUDY_FACTORS: dict[str, type] = {
    "images_per_identity": int, "identities": int, "width": int, "depth": int, "bottleneck": int, "epochs": int,
    "attack": str, "view": str, "label_smoothing": float, "predict_from_mu": bool,
}
# The range of each numeric factor's levels (LIMITS), checked by the configs each level makes.
STUDY_LIMITS = {"images_per_identity": "max_per_identity", "identities": "identities", "width": "width",
                "depth": "depth", "bottleneck": "bottleneck", "epochs": "epochs", "label_smoothing": "label_smoothing"}
# Factors that concern MID models only: the undefended reference is then the base's in every regime.
MID_ONLY_FACTORS = ("bottleneck", "view", "predict_from_mu")
MIN_STUDY_SEEDS = 3
_TRUE, _FALSE = ("true", "yes", "1", "mu"), ("false", "no", "0", "sample")


def parse_levels(factor: str, text: str) -> tuple[Any, ...]:
    """A study's levels from comma-separated text, each read as its factor's type (see STUDY_FACTORS)."""
    require_choice("factor", factor, tuple(STUDY_FACTORS))
    kind = STUDY_FACTORS[factor]
    words = [word.strip() for word in text.split(",") if word.strip()]
    require(bool(words), f"give the levels of {factor} as a comma-separated list")
    if kind is bool:
        unknown = [w for w in words if w.lower() not in _TRUE + _FALSE]
        require(not unknown, f"levels of {factor} are true or false; got {', '.join(unknown)}")
        return tuple(w.lower() in _TRUE for w in words)
    if kind is str:
        return tuple(words)
    try:
        return tuple(parse_number(word, integer=kind is int) for word in words)
    except ConfigError as error:
        raise ConfigError(f"levels of {factor} are {'integers' if kind is int else 'numbers'}: {error}") from None


@config_dataclass
class StudyConfig:
    """Lambda swept jointly with one regime factor, every other setting fixed (the base sweep, recorded with
    the results): per level of the factor, the base with only that factor changed (see `regimes`), an
    undefended model (see `undefended`) and a MID model per lambda, each over at least three seeds."""

    base: SweepConfig = field(default_factory=lambda: SweepConfig(seeds=(0, 1, 2)))
    factor: str = "bottleneck"
    levels: tuple[Any, ...] = (8, 64, 256)

    def __post_init__(self) -> None:
        require_choice("factor", self.factor, tuple(STUDY_FACTORS))
        require(len(self.base.seeds) >= MIN_STUDY_SEEDS,
                 f"a study needs at least {MIN_STUDY_SEEDS} training seeds per point; got {len(self.base.seeds)}")
        levels = tuple(self.levels)
        require(len(levels) > 0, "a study needs at least one level of its factor")
        kind = STUDY_FACTORS[self.factor]
        for level in levels:
            fits = (isinstance(level, bool) if kind is bool else
                    isinstance(level, (int, float)) and not isinstance(level, bool) if kind is float else
                    isinstance(level, kind) and not isinstance(level, bool))
            require(fits, f"levels of {self.factor} must be of type {kind.__name__}; got {level!r}")
        if kind is float:
            levels = tuple(float(level) for level in levels)
        require(len(set(levels)) == len(levels), f"levels of {self.factor} must not repeat; got {levels}")
        object.__setattr__(self, "levels", levels)
        for level, regime in self.regimes():  # each regime validates itself, e.g. a depth too deep for the image
            require(regime.attack.attack != "gmi" or regime.attack.prior.image_size == regime.target.data.image_size,
                     f"{self.factor}={level}: the GAN prior draws {regime.attack.prior.image_size}px faces but the "
                     f"target sees {regime.target.data.image_size}px")

    def derived_configs(self) -> dict[str, Any]:
        """Each regime's attack as run, with its own knobs (see to_dict), each distinct one once."""
        return {ATTACKS_RUN: tuple(dict.fromkeys(regime.attack for _, regime in self.regimes()))}

    def regimes(self) -> list[tuple[Any, SweepConfig]]:
        """(level, sweep) per level: the base sweep with only the factor set to that level."""
        return [(level, self._regime(level)) for level in self.levels]

    def _regime(self, level: Any) -> SweepConfig:
        base = self.base
        data, model, train, attack = base.target.data, base.target.model, base.target.train, base.attack
        replace = dataclasses.replace
        if self.factor == "images_per_identity":
            data = replace(data, max_per_identity=level)
        elif self.factor == "identities":
            data = replace(data, identities=level)
        elif self.factor in ("width", "depth", "bottleneck"):
            model = replace(model, **{"bottleneck_dim" if self.factor == "bottleneck" else self.factor: level})
        elif self.factor == "epochs":
            train = replace(train, epochs=level)
        elif self.factor in ("attack", "view"):
            attack = replace(attack, **{self.factor: level})
        elif self.factor == "label_smoothing":
            train = replace(train, label_smoothing=level)
        else:  # predict_from_mu: how the deployed MID model answers; trained the same either way
            mode = "mu" if level else "sample"
            if attack.view == model.predict_mode:  # an attacker of the deployed model queries what it deploys
                attack = replace(attack, view=mode)
            model = replace(model, predict_mode=mode)
        return replace(base, target=TargetConfig(data=data, model=model, train=train), attack=attack,
                       evaluator=replace(base.evaluator, data=data))

    def undefended(self, regime: SweepConfig, seed: int) -> tuple[TargetConfig, AttackConfig]:
        """The undefended reference of a regime and how it is attacked: a linear head trained without the KL
        term, everything else as the regime's (as ComparisonConfig's 'none'). For a factor that concerns MID
        models only (MID_ONLY_FACTORS) it is the base's, the same model in every regime."""
        source = self.base if self.factor in MID_ONLY_FACTORS else regime
        return undefended_target(source.target, seed), source.attack

    def mid_reference(self, regime: SweepConfig, seed: int) -> tuple[TargetConfig, AttackConfig]:
        """The second reference of a regime: its own MID model at lambda = 0 (the bottleneck without its KL
        term), attacked as its MID models are. Against it, a verdict isolates what the KL term does; and unlike
        the linear head, its accuracy is within the MID models' reach. It is an extra output of the same
        settings, so it does not enter the study's hash: files from before it show it as not computed."""
        return regime.target_for(0.0, seed), regime.attack
