"""Every knob of MID Lab in typed dataclasses, the hash that names a run by them, and where data lives.

A config is frozen and validated on construction, so a nonsense value (a NaN lambda, zero epochs, an
unknown view) fails here with a plain message instead of deep inside training.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Bump when a code change alters what an existing stored config would produce, so old results are not reused.
SCHEMA_VERSION = 1

DATASETS = ("orl", "olivetti", "lfw", "mnist", "folder")
HEADS = ("mid", "linear")
# How a MID model turns its stochastic code z into an answer: one fresh sample (the official code),
# the average of K samples' probabilities, or the mean mu.
PREDICT_MODES = ("sample", "mean", "mu")
ATTACKS = ("miface",)
MIFACE_STARTS = ("public_mean", "gray")
# The attacker's auxiliary faces: LFW's public_rest people, or identities of the private dataset itself that
# are held out of the target entirely (DataConfig.public_identities).
PUBLIC_SETS = ("lfw_public", "heldout_identities")
MAX_LAMBDA = 1000.0

DATA_ENV = "MIDLAB_DATA"
STORE_ENV = "MIDLAB_STORE"
RESULTS_ENV = "MIDLAB_RESULTS"


class ConfigError(ValueError):
    """A setting is out of range or unknown; the message names the setting and what is allowed."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _require_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    _require(value in allowed, f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def check_lambda(value: float) -> float:
    """lambda weighs the KL term: finite, non-negative and not absurd (beyond MAX_LAMBDA nothing is learnt)."""
    _require(
        isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= MAX_LAMBDA,
        f"lambda must be a finite number between 0 and {MAX_LAMBDA:g}; got {value!r}",
    )
    return float(value)


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "orl"
    folder: str = ""  # only for dataset "folder": a folder of <identity>/<image> files
    image_size: int = 64
    train_fraction: float = 0.7  # per identity: ORL's 10 images become 7 train / 3 test
    max_per_identity: int = 0  # 0 keeps every image; a cap tames LFW's imbalance
    public_identities: int = 0  # identities (a seeded choice) kept out of the target, as the attacker's public set
    split_seed: int = 0

    def __post_init__(self) -> None:
        _require_choice("dataset", self.dataset, DATASETS)
        _require(self.dataset != "folder" or bool(self.folder), "dataset 'folder' needs a folder path")
        _require(16 <= self.image_size <= 256, f"image_size must be in 16..256; got {self.image_size}")
        _require(0.0 < self.train_fraction < 1.0, f"train_fraction must be in (0, 1); got {self.train_fraction}")
        _require(self.max_per_identity >= 0, "max_per_identity must be 0 (no cap) or positive")
        _require(self.public_identities >= 0, "public_identities must be 0 (none) or positive")


@dataclass(frozen=True)
class ModelConfig:
    head: str = "mid"
    width: int = 16  # channels of the stride-2 stem; each of the three conv blocks after it doubles them
    bottleneck_dim: int = 64  # k: the size of the stochastic code z
    predict_mode: str = "sample"  # how the deployed model answers at test time
    predict_samples: int = 16  # K for predict_mode "mean"

    def __post_init__(self) -> None:
        _require_choice("head", self.head, HEADS)
        _require_choice("predict_mode", self.predict_mode, PREDICT_MODES)
        _require(self.width >= 1, f"width must be positive; got {self.width}")
        _require(self.bottleneck_dim >= 1, f"bottleneck size k must be positive; got {self.bottleneck_dim}")
        _require(self.predict_samples >= 1, "predict_samples must be positive")


@dataclass(frozen=True)
class TrainConfig:
    mid_lambda: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment_shift: int = 4  # random translation in pixels; faces are also flipped left-right
    # Random blur, contrast and noise as well: a common robustness practice that also makes the model's
    # gradients more image-like, and so MI-Face stronger (see the README); recorded like every setting.
    photometric: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_lambda(self.mid_lambda)
        _require(self.epochs >= 1, f"epochs must be at least 1; got {self.epochs}")
        _require(self.batch_size >= 1, f"batch_size must be at least 1; got {self.batch_size}")
        _require(math.isfinite(self.lr) and self.lr > 0, f"learning rate must be positive; got {self.lr}")
        _require(self.weight_decay >= 0, "weight_decay must be non-negative")
        _require(self.augment_shift >= 0, "augment_shift must be non-negative")


@dataclass(frozen=True)
class TargetConfig:
    """Everything that determines one trained target model, and so its identity in the store."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class EvaluatorConfig:
    """The judge: a different architecture from the target, trained with stronger augmentation.

    It trains first on the target's training split only, where its accuracy on the held-out images says
    how far it can be trusted; then it continues on every private image for `finetune_epochs`, as judges
    in the MI literature see all private images. 0 keeps the split-only judge."""

    data: DataConfig = field(default_factory=DataConfig)
    width: int = 16
    embedding_dim: int = 128
    epochs: int = 80
    finetune_epochs: int = 20
    batch_size: int = 64
    lr: float = 4e-3
    augment_shift: int = 6
    seed: int = 1000

    def __post_init__(self) -> None:
        _require(self.epochs >= 1 and self.width >= 1 and self.embedding_dim >= 1, "evaluator sizes must be positive")
        _require(self.finetune_epochs >= 0, "finetune_epochs must be non-negative")


@dataclass(frozen=True)
class MIFaceConfig:
    """MI-Face (Fredrikson et al. 2015) adapted to CNNs: gradient steps on the image itself."""

    steps: int = 100
    lr: float = 0.015
    tv_weight: float = 1.0  # total variation prior: keeps the image smooth instead of adversarial noise
    blur_every: int = 4  # a 3x3 blur every N steps (Yosinski et al. 2015) removes what only the target sees; 0 = off
    start: str = "public_mean"  # the mean face of the attacker's public images, or flat gray
    start_shift: int = 3  # each identity starts from the mean face shifted by up to this many pixels
    jitter: int = 2  # random shift every step so the image works for the class, not for one pixel grid
    record_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        _require_choice("start", self.start, MIFACE_STARTS)
        _require(self.steps >= 1 and self.record_every >= 1, "steps and record_every must be positive")
        _require(math.isfinite(self.lr) and self.lr > 0, "MI-Face lr must be positive")
        _require(self.tv_weight >= 0 and self.blur_every >= 0, "tv_weight and blur_every must be non-negative")


@dataclass(frozen=True)
class AttackConfig:
    """One attack on one target as the attacker sees it (the view), scored by one evaluator."""

    attack: str = "miface"
    view: str = "mu"  # the attacker's view of a MID model: sampled z per query, K-sample mean, or mu
    view_samples: int = 16
    public: str = "lfw_public"  # the attacker's auxiliary faces: never the private identities
    miface: MIFaceConfig = field(default_factory=MIFaceConfig)

    def __post_init__(self) -> None:
        _require_choice("attack", self.attack, ATTACKS)
        _require_choice("view", self.view, PREDICT_MODES)
        _require_choice("public", self.public, PUBLIC_SETS)
        _require(self.view_samples >= 1, "view_samples must be positive")


DEFAULT_LAMBDAS = (0.0, 0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1)


@dataclass(frozen=True)
class SweepConfig:
    target: TargetConfig = field(default_factory=TargetConfig)  # its train.mid_lambda and seed are swept
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    seeds: tuple[int, ...] = (0,)
    attack: AttackConfig = field(default_factory=AttackConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)

    def __post_init__(self) -> None:
        _require(len(self.lambdas) > 0 and len(self.seeds) > 0, "a sweep needs at least one lambda and one seed")
        for value in self.lambdas:
            check_lambda(value)
        _require(len(set(self.lambdas)) == len(self.lambdas), "lambdas must not repeat")
        _require(len(set(self.seeds)) == len(self.seeds), "seeds must not repeat")
        _require(self.evaluator.data == self.target.data, "the evaluator must be trained on the target's data")
        _require(self.attack.public != "heldout_identities" or self.target.data.public_identities > 0,
                 "the public set 'heldout_identities' needs public identities held out of the target (> 0)")

    def target_for(self, mid_lambda: float, seed: int) -> TargetConfig:
        train = dataclasses.replace(self.target.train, mid_lambda=mid_lambda, seed=seed)
        return dataclasses.replace(self.target, train=train)


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def config_hash(config: Any) -> str:
    """A short stable name for a config: same settings (and schema version), same hash."""
    payload = {"schema": SCHEMA_VERSION, "kind": type(config).__name__, "config": to_dict(config)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sweep_from_dict(values: dict[str, Any]) -> SweepConfig:
    """A SweepConfig rebuilt from its dict form (as stored in a results file), validated like any other."""
    types = {f.name: f.type for f in dataclasses.fields(SweepConfig)}

    def build(cls: type, data: dict[str, Any]) -> Any:
        kwargs = {}
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        for name, value in data.items():
            nested = _NESTED.get(hints.get(name, ""))
            kwargs[name] = build(nested, value) if nested and isinstance(value, dict) else value
        return cls(**kwargs)

    values = {k: tuple(v) if types.get(k) == "tuple[float, ...]" or types.get(k) == "tuple[int, ...]" else v
              for k, v in values.items()}
    return build(SweepConfig, values)


_NESTED = {cls.__name__: cls for cls in (TargetConfig, DataConfig, ModelConfig, TrainConfig, AttackConfig,
                                         MIFaceConfig, EvaluatorConfig)}


def data_root(flag: str | None = None) -> Path:
    """The data folder: the --data flag, else $MIDLAB_DATA, else ./data."""
    return Path(flag or os.environ.get(DATA_ENV) or "data").expanduser()


def store_root(flag: str | None = None) -> Path:
    """The store of trained models and attack results: --store, else $MIDLAB_STORE, else ./store."""
    return Path(flag or os.environ.get(STORE_ENV) or "store").expanduser()


def results_root(flag: str | None = None) -> Path:
    """Where sweep results files go: --out, else $MIDLAB_RESULTS, else ./results."""
    return Path(flag or os.environ.get(RESULTS_ENV) or "results").expanduser()
