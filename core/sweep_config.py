"""The configs of whole experiments: a sweep (lambda x seed over one target, attack and judge) and a comparison
of defenses built on one (no defense, MID, DP-SGD, output defenses)."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from core.attack_config import ATTACKS, AttackConfig, OutputDefenseConfig
from core.config import (
    EvaluatorConfig,
    ModelConfig,
    PrivacyConfig,
    TargetConfig,
    TrainConfig,
    config_dataclass,
    undefended_target,
)
from core.limits import check_lambda, check_limit, require, require_choice

# The configs a comparison or a study derives from its own (see hash_view): named by their hash, never stored.
ATTACKS_RUN = "attacks_run"
DERIVED_CONFIGS = (ATTACKS_RUN,)

DEFAULT_LAMBDAS = (0.0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)


@config_dataclass
class SweepConfig:
    target: TargetConfig = field(default_factory=TargetConfig)  # its train.mid_lambda and seed are swept
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    seeds: tuple[int, ...] = (0,)
    attack: AttackConfig = field(default_factory=AttackConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)

    def __post_init__(self) -> None:
        require(len(self.lambdas) > 0 and len(self.seeds) > 0, "a sweep needs at least one lambda and one seed")
        object.__setattr__(self, "lambdas", tuple(check_lambda(value) for value in self.lambdas))
        for seed in self.seeds:
            check_limit("seed", seed, "a training seed")
        require(len(set(self.lambdas)) == len(self.lambdas), "lambdas must not repeat")
        require(len(set(self.seeds)) == len(self.seeds), "seeds must not repeat")
        require(self.evaluator.data == self.target.data, "the evaluator must be trained on the target's data")
        require(self.attack.public != "heldout_identities" or self.target.data.public_identities > 0,
                 "the public set 'heldout_identities' needs public identities held out of the target (> 0)")

    def under(self, attack: str) -> SweepConfig:
        """The same sweep under another attack (its models are shared: they are keyed by target config)."""
        return dataclasses.replace(self, attack=dataclasses.replace(self.attack, attack=attack))

    def target_for(self, mid_lambda: float, seed: int) -> TargetConfig:
        train = dataclasses.replace(self.target.train, mid_lambda=mid_lambda, seed=seed)
        return dataclasses.replace(self.target, train=train)


DEFAULT_NOISE_MULTIPLIERS = (0.3, 0.5, 1.0, 2.0)


def dp_defaults() -> tuple[ModelConfig, TrainConfig]:
    """DP-SGD's own model and training settings, tuned on ORL for test accuracy alone (no attack was run on
    a DP model while choosing): a narrower net (width 8 beat 16 at equal noise: fewer weights, less noise in
    all), batches of 128 and 80 epochs (more steps at a larger batch beat 20 epochs of 32), lr 0.01; the
    clipping norm 1 (0.1 was no better). docs/results.md lists the runs."""
    return (ModelConfig(head="linear", norm="group", width=8),
            TrainConfig(epochs=80, batch_size=128, lr=1e-2))


@config_dataclass
class ComparisonConfig:
    """Defenses side by side on one dataset, judge and set of attacks: no defense, MID over the sweep's
    lambdas, DP-SGD over noise multipliers (and its model trained without DP, as a control), and output-side
    defenses of the undefended model's API."""

    sweep: SweepConfig = field(default_factory=SweepConfig)  # data, MID's lambdas, seeds, judge, attack template
    attacks: tuple[str, ...] = ATTACKS
    noise_multipliers: tuple[float, ...] = DEFAULT_NOISE_MULTIPLIERS
    dp_model: ModelConfig = field(default_factory=lambda: dp_defaults()[0])
    dp_train: TrainConfig = field(default_factory=lambda: dp_defaults()[1])  # its privacy gives clip and delta
    outputs: tuple[OutputDefenseConfig, ...] = (
        OutputDefenseConfig("label"), OutputDefenseConfig("round", decimals=1), OutputDefenseConfig("noise"))

    def __post_init__(self) -> None:
        require(len(self.attacks) > 0 and len(set(self.attacks)) == len(self.attacks),
                 "a comparison needs at least one attack, none repeated")
        for attack in self.attacks:
            require_choice("attack", attack, ATTACKS)
        for noise in self.noise_multipliers:
            check_limit("noise_multiplier", noise, "noise multipliers")
        require(len(set(self.noise_multipliers)) == len(self.noise_multipliers), "noise multipliers must not repeat")
        require(self.dp_model.norm == "group", "DP-SGD needs the model's norm 'group'")
        require(all(o.kind != "none" for o in self.outputs), "output defenses: 'none' is the undefended model")

    def derived_configs(self) -> dict[str, Any]:
        """The attacks as run, each with its own knobs (see to_dict): `--top-k 3` is another comparison."""
        return {ATTACKS_RUN: tuple(self.attack(name) for name in self.attacks)}

    def attack(self, name: str) -> AttackConfig:
        return dataclasses.replace(self.sweep.attack, attack=name)

    def targets(self) -> list[tuple[str, float | None, int, TargetConfig]]:
        """Every target to train: (defense, strength, seed, config); strength is lambda or the noise."""
        base = self.sweep.target
        found: list[tuple[str, float | None, int, TargetConfig]] = []
        for seed in self.sweep.seeds:
            found.append(("none", None, seed, undefended_target(base, seed)))
            # The control: DP-SGD's own model and schedule without clipping or noise, so that what DP-SGD
            # changes is not mistaken for what its narrower, GroupNorm model changes.
            found.append(("dpmodel", None, seed, TargetConfig(data=base.data, model=self.dp_model,
                                                              train=dataclasses.replace(self.dp_train, seed=seed,
                                                                                        privacy=PrivacyConfig()))))
            found += [("mid", value, seed, self.sweep.target_for(value, seed)) for value in self.sweep.lambdas]
            for noise in self.noise_multipliers:
                privacy = dataclasses.replace(self.dp_train.privacy, noise_multiplier=noise)
                train = dataclasses.replace(self.dp_train, seed=seed, privacy=privacy)
                found.append(("dpsgd", noise, seed, TargetConfig(data=base.data, model=self.dp_model, train=train)))
        return found
