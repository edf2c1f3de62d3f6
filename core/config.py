"""The configs of what MID Lab trains (the data, the target model and its training, the judge) as typed,
frozen dataclasses, and the rule every config dataclass follows.

A config is frozen and validated on construction, so a nonsense value (a NaN lambda, zero epochs, an
unknown view) fails here with a plain message instead of deep inside training. The attacks' configs are in
core.attack_config, sweeps and comparisons in core.sweep_config, studies in core.study_design; a config's
stored form and hash in core.stored_config.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pydantic

from core.limits import check_lambda, check_limit, require, require_choice

DATASETS = ("orl", "olivetti", "lfw", "mnist", "folder")
HEADS = ("mid", "linear")
# How a MID model turns its stochastic code z into an answer: one fresh sample (the official code),
# the average of K samples' probabilities, or the mean mu.
PREDICT_MODES = ("sample", "mean", "mu")
# BatchNorm mixes examples in a batch, so per-example gradients (DP-SGD) need GroupNorm instead.
NORMS = ("batch", "group")


@typing.dataclass_transform(frozen_default=True)
def config_dataclass(cls: type) -> type:
    """A frozen dataclass whose stored form must hold its own fields only: from_dict refuses an unknown one."""
    cls.__pydantic_config__ = pydantic.ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return dataclass(frozen=True)(cls)


def feature_map_size(image_size: int, depth: int) -> int:
    """The side of the target's last feature map: the stride-2 stem (kernel 5, padding 2) gives ceil(size / 2),
    then each of `depth` conv blocks halves it (rounding down). image_size // 2**(depth + 1) for even sizes."""
    side = (image_size + 1) // 2
    for _ in range(depth):
        side //= 2
    return side


@config_dataclass
class DataConfig:
    dataset: str = "orl"
    folder: str = ""  # only for dataset "folder": a folder of <identity>/<image> files
    image_size: int = 64
    train_fraction: float = 0.7  # per identity: ORL's 10 images become 7 train / 3 test
    max_per_identity: int = 0  # 0 keeps every image; a cap tames LFW's imbalance
    public_identities: int = 0  # identities (a seeded choice) kept out of the target, as the attacker's public set
    split_seed: int = 0
    identities: int = 0  # only the first N of a seeded order of identities, before any are held out (0: all)
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"identities": 0}

    def __post_init__(self) -> None:
        require_choice("dataset", self.dataset, DATASETS)
        require(self.dataset != "folder" or bool(self.folder), "dataset 'folder' needs a folder path")
        require(16 <= self.image_size <= 256, f"image_size must be in 16..256; got {self.image_size}")
        require(0.0 < self.train_fraction < 1.0, f"train_fraction must be in (0, 1); got {self.train_fraction}")
        check_limit("max_per_identity", self.max_per_identity)
        check_limit("public_identities", self.public_identities)
        check_limit("identities", self.identities)
        require(self.max_per_identity == 0 or self.max_per_identity >= 2,
                 "max_per_identity must be 0 (no cap) or at least 2: each identity needs a train and a test image")
        require(self.identities == 0 or self.identities >= 2,
                 f"identities must be 0 (all) or at least 2: a classifier needs two people; got {self.identities}")


@config_dataclass
class ModelConfig:
    head: str = "mid"
    width: int = 16  # channels of the stride-2 stem; each of the three conv blocks after it doubles them
    bottleneck_dim: int = 64  # k: the size of the stochastic code z
    predict_mode: str = "sample"  # how the deployed model answers at test time
    predict_samples: int = 16  # K for predict_mode "mean"
    norm: str = "batch"  # "group" for DP-SGD, which needs per-example gradients
    depth: int = 3  # conv blocks after the stem, each doubling the channels and halving the map
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"norm": "batch", "depth": 3}

    def __post_init__(self) -> None:
        require_choice("head", self.head, HEADS)
        require_choice("norm", self.norm, NORMS)
        require_choice("predict_mode", self.predict_mode, PREDICT_MODES)
        check_limit("width", self.width)
        check_limit("bottleneck", self.bottleneck_dim, "bottleneck size k")
        require(self.predict_samples >= 1, "predict_samples must be positive")
        check_limit("depth", self.depth, "depth (conv blocks after the stem)")


@config_dataclass
class PrivacyConfig:
    """DP-SGD (Abadi et al. 2016) through Opacus: each example's gradient clipped to `max_grad_norm`, Gaussian
    noise of `noise_multiplier` x that norm added to each batch's sum, batches drawn by Poisson sampling;
    epsilon at `delta` from Opacus' RDP accountant. A noise multiplier of 0 means no DP-SGD."""

    noise_multiplier: float = 0.0
    max_grad_norm: float = 1.0
    delta: float = 1e-5

    def __post_init__(self) -> None:
        if self.noise_multiplier != 0:
            check_limit("noise_multiplier", self.noise_multiplier, "the DP-SGD noise multiplier (0: no DP-SGD)")
        check_limit("clip", self.max_grad_norm, "the DP-SGD clipping norm")
        require(0 < self.delta < 1, f"delta must be in (0, 1); got {self.delta}")

    @property
    def enabled(self) -> bool:
        return self.noise_multiplier > 0


@config_dataclass
class TrainConfig:
    mid_lambda: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment_shift: int = 4  # random translation in pixels; faces are also flipped left-right
    # Random blur, contrast and noise as well: a common robustness practice that also makes the model's
    # gradients more image-like, and so MI-Face stronger (see docs/method.md); recorded like every setting.
    photometric: bool = True
    seed: int = 0
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    # a in (1 - a) * CE + a * mean over classes of -log p: positive smooths the labels, negative (Wei et al. 2022)
    # sharpens them; 0 is plain cross-entropy.
    label_smoothing: float = 0.0
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"privacy": PrivacyConfig(), "label_smoothing": 0.0}

    def __post_init__(self) -> None:
        object.__setattr__(self, "mid_lambda", check_lambda(self.mid_lambda))
        check_limit("epochs", self.epochs)
        check_limit("seed", self.seed, "the training seed")
        require(self.batch_size >= 1, f"batch_size must be at least 1; got {self.batch_size}")
        require(math.isfinite(self.lr) and self.lr > 0, f"learning rate must be positive; got {self.lr}")
        require(self.weight_decay >= 0, "weight_decay must be non-negative")
        require(self.augment_shift >= 0, "augment_shift must be non-negative")
        object.__setattr__(self, "label_smoothing", check_limit("label_smoothing", self.label_smoothing,
                                                                "label smoothing"))


@config_dataclass
class TargetConfig:
    """Everything that determines one trained target model, and so its identity in the store."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        require(not self.train.privacy.enabled or self.model.norm == "group",
                 "DP-SGD needs per-example gradients, which BatchNorm prevents: set the model's norm to 'group'")
        require(feature_map_size(self.data.image_size, self.model.depth) >= 1,
                 f"{self.model.depth} conv blocks shrink a {self.data.image_size}px image to nothing: lower the "
                 "depth or raise image_size")


def undefended_target(target: TargetConfig, seed: int) -> TargetConfig:
    """`target` without a defense: a plain linear head trained without the KL term, everything else the same."""
    return dataclasses.replace(target, model=dataclasses.replace(target.model, head="linear"),
                               train=dataclasses.replace(target.train, mid_lambda=0.0, seed=seed))



def defense_label(config: TargetConfig) -> str:
    """How a target is defended, in a few words: 'lambda=0.01', 'DP-SGD noise=1', 'no defense'."""
    if config.train.privacy.enabled:
        return f"DP-SGD noise={config.train.privacy.noise_multiplier:g}"
    return f"lambda={config.train.mid_lambda:g}" if config.model.head == "mid" else "no defense"


# Judges of different families: the VGG-style EvaluatorNet, a residual net, and Fisherfaces (PCA, then linear
# discriminant analysis, fitted in closed form on the photos' pixels). The training knobs concern the nets only.
JUDGE_ARCHS = ("vgg", "resnet", "pca_lda")
NET_ONLY_JUDGE = ("width", "embedding_dim", "epochs", "batch_size", "lr", "augment_shift", "photometric", "seed")


@config_dataclass
class EvaluatorConfig:
    """The judge: a different architecture from the target, trained with larger random shifts.

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
    # Random blur, contrast and noise, as the targets have. Off (the default), the judge is a conventional
    # classifier that does not learn to forgive blur: held-out accuracy was higher without them (LFW 0.89
    # against 0.86, ORL 0.99 against 0.97), and with them the judge named people in MI-Face's blurred shapes.
    # Judges stored with it on keep their keys (ADDED_FIELDS); docs/results.md: "The judge decides the figures".
    photometric: bool = False
    seed: int = 1000
    # The judge's family (see JUDGE_ARCHS); a panel of them scores every attack (see panel_judges).
    arch: str = "vgg"
    pca_components: int = 100  # pca_lda: principal components kept before the discriminant
    lda_shrinkage: float = 0.1  # pca_lda: the within-class covariance shrunk this far toward its mean variance
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"photometric": True, "arch": "vgg"}

    def irrelevant_fields(self) -> tuple[str, ...]:
        return NET_ONLY_JUDGE if self.arch == "pca_lda" else ("pca_components", "lda_shrinkage")

    def __post_init__(self) -> None:
        require_choice("judge arch", self.arch, JUDGE_ARCHS)
        require(self.epochs >= 1 and self.width >= 1 and self.embedding_dim >= 1, "evaluator sizes must be positive")
        check_limit("epochs", self.epochs, "the judge's epochs")
        check_limit("width", self.width, "the judge's width")
        require(self.finetune_epochs >= 0, "finetune_epochs must be non-negative")
        require(self.pca_components >= 1, f"pca_components must be positive; got {self.pca_components}")
        require(math.isfinite(self.lda_shrinkage) and 0 <= self.lda_shrinkage <= 1,
                 f"lda_shrinkage must be in [0, 1]; got {self.lda_shrinkage}")


# The panel's residual net is this wide on every dataset (ORL's judge width): every judge of a shipped result
# ships in assets/store, and at LFW's judge width (48) it would take 5.6 MB in half precision, more than assets/
# has room for (at 16: 0.7 MB, and minutes instead of half an hour to train on 2 CPUs).
PANEL_RESNET_WIDTH = 16


def panel_judges(evaluator: EvaluatorConfig) -> tuple[EvaluatorConfig, ...]:
    """The judge panel: the sweep's own judge and judges of the other families, on the same data and (for the
    residual net) the same training settings but its width, PANEL_RESNET_WIDTH."""
    others = (arch for arch in JUDGE_ARCHS if arch != evaluator.arch)
    return (evaluator, *(dataclasses.replace(evaluator, arch=arch, **({"width": PANEL_RESNET_WIDTH}
                                                                      if arch == "resnet" else {}))
                         for arch in others))
