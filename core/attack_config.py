"""The configs of the attacks (MI-Face, GMI and its GAN prior, the inversion network), of what a prediction API
returns, and of one attack on one target as the attacker sees it (AttackConfig)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field
from typing import Any, ClassVar

from core.config import PREDICT_MODES, config_dataclass
from core.limits import check_limit, require, require_choice

# MI-Face (pixels, white-box), GMI-style (a GAN prior's latent space, white-box), the inversion network
# (a decoder from prediction vectors, black-box).
ATTACKS = ("miface", "gmi", "inversion")
MIFACE_STARTS = ("public_mean", "gray")
# What a prediction API may return instead of the full probability vector (as IBM ART's postprocessors do):
# everything, only the top-1 label, probabilities rounded to a few decimals, or probabilities plus noise.
OUTPUT_DEFENSES = ("none", "label", "round", "noise")
# The attacker's auxiliary faces: LFW's public_rest people, or identities of the private dataset itself that
# are held out of the target entirely (DataConfig.public_identities).
PUBLIC_SETS = ("lfw_public", "heldout_identities")
# How the attacker cuts LFW's public 250x250 photos: the side in pixels of a square around the face's centre.
# 126 frames them as the LFW private set is framed; ORL's photos (and Olivetti's, the same people) show the
# whole head on a dark background, so attacks on them learn from a wider cut.
LFW_CROP = 126
PUBLIC_CROP = {"orl": 190, "olivetti": 190}


@config_dataclass
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
        require_choice("start", self.start, MIFACE_STARTS)
        check_limit("attack_steps", self.steps, "MI-Face steps")
        require(self.record_every >= 1, "MI-Face record_every must be positive")
        require(math.isfinite(self.lr) and self.lr > 0, "MI-Face lr must be positive")
        require(self.tv_weight >= 0 and self.blur_every >= 0, "tv_weight and blur_every must be non-negative")


@config_dataclass
class PriorConfig:
    """The attacker's GAN, trained once on LFW's public faces (never a private identity) and shared by every
    target of that image size: ORL and LFW targets alike (see docs/data.md for why not ORL's own people)."""

    latent_dim: int = 100
    width: int = 24  # the generator's last and the discriminator's first channel count; doubled per stage
    epochs: int = 8  # about 90 s each on 2 CPU cores over LFW's 10,210 public faces
    batch_size: int = 32
    lr: float = 2e-4
    image_size: int = 64
    images: int = 0  # public faces to train on, a seeded subset (0: all 10,210)
    crop: int = LFW_CROP  # framing of the public faces: see PUBLIC_CROP and framed_for
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.latent_dim >= 1 and self.width >= 1, "the prior's latent_dim and width must be positive")
        require(32 <= self.crop <= 250, f"the prior's crop must be in 32..250 pixels; got {self.crop}")
        require(self.images >= 0, "the prior's images must be 0 (all) or positive")
        require(self.epochs >= 1 and self.batch_size >= 2, "the prior needs epochs >= 1 and batch_size >= 2")
        require(math.isfinite(self.lr) and self.lr > 0, "the prior's lr must be positive")
        require(self.image_size in (32, 64, 128),
                 f"the prior's image_size must be 32, 64 or 128; got {self.image_size}")


# GMI's loop: "fast", MID Lab's short search (screened starts, Adam on log-odds, jitter), or "paper", the official
# code's loop (AI-secure/GMI-Attack, as Jiachen-T-Wang/mi-defense ran it): see GMIConfig and paper_gmi.
GMI_RECIPES = ("fast", "paper")
# Knobs only one recipe reads: the other's results are not renamed when they change.
FAST_ONLY_GMI = ("candidates", "realism_weight", "log_odds", "jitter", "flip")
PAPER_ONLY_GMI = ("momentum", "identity_weight", "loss_batch")


@config_dataclass
class GMIConfig:
    """GMI-style attack (Zhang et al. CVPR 2020): search the prior's latent space for the identity.

    recipe "fast" (the default): screened starts, Adam on the identity's log-odds plus `realism_weight` x the
    discriminator's term, a random shift and flip per query. recipe "paper" (see paper_gmi): random N(0, I)
    starts, SGD with Nesterov momentum on the discriminator's term + `identity_weight` x cross-entropy, the loss
    averaged over `loss_batch` identities, no screening and no jitter."""

    steps: int = 40
    lr: float = 0.05
    restarts: int = 3  # latent codes optimised per identity; the one the target trusts most is kept
    candidates: int = 1000  # random codes screened once (shared by all identities) to pick the restarts' starts
    realism_weight: float = 0.1  # weight of the discriminator's "looks real" term against the identity term
    log_odds: bool = True  # maximise log(p / (1 - p)), which keeps pushing once p nears 1; else log p
    jitter: int = 4  # random shift (pixels) of the image before each query
    flip: bool = True  # and a random left-right flip
    # Each coordinate of a code is clamped to [-bound, bound] after every step, as GMI's own code does
    # (clip_range = 1): the search stays where the generator draws its most typical faces. 0: unbounded.
    latent_bound: float = 1.0
    record_every: int = 5
    seed: int = 0
    recipe: str = "fast"
    momentum: float = 0.9  # paper: SGD's (Nesterov) momentum
    identity_weight: float = 100.0  # paper: weight of the identity's cross-entropy against the discriminator's term
    # paper: the official code averages its loss over a batch of 100 identities, so each code moves by lr / 100 x
    # its gradient. Dividing by this constant, not by the number attacked, keeps each code's path the same
    # however many identities are attacked together.
    loss_batch: int = 100
    # Results stored without the bound (0, unbounded) keep their keys; see docs/results.md on the bound.
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"latent_bound": 0.0, "recipe": "fast"}

    def irrelevant_fields(self) -> tuple[str, ...]:
        return PAPER_ONLY_GMI if self.recipe == "fast" else FAST_ONLY_GMI

    def __post_init__(self) -> None:
        require_choice("GMI recipe", self.recipe, GMI_RECIPES)
        require(math.isfinite(self.momentum) and 0 <= self.momentum < 1, "GMI momentum must be in [0, 1)")
        require(math.isfinite(self.identity_weight) and self.identity_weight > 0,
                 "GMI identity_weight must be positive")
        require(self.loss_batch >= 1, "GMI loss_batch must be positive")
        check_limit("attack_steps", self.steps, "GMI steps")
        require(self.record_every >= 1, "GMI record_every must be positive")
        check_limit("latent_bound", self.latent_bound, "GMI latent_bound (0: unbounded)")
        require(self.restarts >= 1, "GMI needs at least one restart per identity")
        require(self.candidates >= self.restarts, "GMI candidates must be at least its restarts")
        require(math.isfinite(self.lr) and self.lr > 0, "GMI lr must be positive")
        require(math.isfinite(self.realism_weight) and self.realism_weight >= 0,
                 "GMI realism_weight must be non-negative")


def paper_gmi(config: GMIConfig) -> GMIConfig:
    """`config` with the official GMI loop's settings: 5 restarts, 1500 SGD steps at lr 0.02, momentum 0.9,
    identity weight 100, codes clamped to [-1, 1]; recorded every 100 steps."""
    return dataclasses.replace(config, recipe="paper", steps=1500, lr=0.02, restarts=5, latent_bound=1.0,
                               momentum=0.9, identity_weight=100.0, loss_batch=100, record_every=100)


def with_gmi_recipe(attack: AttackConfig, recipe: str) -> AttackConfig:
    """`attack` with GMI's recipe: unchanged when it already has it, else the official loop (paper_gmi) or the
    fast recipe's defaults (same seed)."""
    require_choice("GMI recipe", recipe, GMI_RECIPES)
    if recipe == attack.gmi.recipe:
        return attack
    gmi = paper_gmi(attack.gmi) if recipe == "paper" else GMIConfig(seed=attack.gmi.seed)
    return dataclasses.replace(attack, gmi=gmi)


@config_dataclass
class InversionConfig:
    """The black-box inversion network (Yang et al. CCS 2019): a decoder from prediction vectors to faces,
    trained on public faces sent through the target."""

    top_k: int = 0  # keep the k largest probabilities of each prediction vector (0: all of them)
    width: int = 16
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    images: int = 4000  # public faces used for training, a seeded subset (0: all)
    crop: int = LFW_CROP  # framing of the public faces: see PUBLIC_CROP and framed_for
    seed: int = 0

    def __post_init__(self) -> None:
        check_limit("top_k", self.top_k, "inversion top_k (0: all)")
        require(32 <= self.crop <= 250, f"the inversion crop must be in 32..250 pixels; got {self.crop}")
        require(self.width >= 1 and self.epochs >= 1 and self.batch_size >= 1, "inversion sizes must be positive")
        check_limit("attack_steps", self.epochs, "the inversion network's epochs")
        require(math.isfinite(self.lr) and self.lr > 0, "inversion lr must be positive")
        require(self.images >= 0, "inversion images must be 0 (all) or positive")


@config_dataclass
class OutputDefenseConfig:
    """What the target's prediction API returns. Every kind keeps the top-1 label (ties go to it), so test
    accuracy is unchanged; only a black-box attacker, who sees nothing else, is affected."""

    kind: str = "none"
    decimals: int = 1  # "round": probabilities rounded to this many decimals
    noise_std: float = 0.1  # "noise": Gaussian noise of this std added to each probability (then clipped at 0)

    def __post_init__(self) -> None:
        require_choice("output defense", self.kind, OUTPUT_DEFENSES)
        require(0 <= self.decimals <= 6, f"decimals must be in 0..6; got {self.decimals}")
        require(math.isfinite(self.noise_std) and 0 <= self.noise_std <= 10,
                 f"noise_std must be in 0..10; got {self.noise_std}")

    def irrelevant_fields(self) -> tuple[str, ...]:
        return tuple(name for name, kind in (("decimals", "round"), ("noise_std", "noise")) if self.kind != kind)

    def label(self) -> str:
        plural = "" if self.decimals == 1 else "s"
        return {"none": "full vector", "label": "top-1 label only",
                "round": f"rounded to {self.decimals} decimal{plural}",
                "noise": f"noise std {self.noise_std:g}"}[self.kind]


@config_dataclass
class AttackConfig:
    """One attack on one target as the attacker sees it (the view), scored by one evaluator. Only the chosen
    attack's knobs name a result (see `irrelevant_fields`), so tuning GMI never invalidates MI-Face results."""

    attack: str = "miface"
    # The attacker's view of a MID model: the deployed answer (a fresh z per query, as the paper's code attacked),
    # the mean of K samples, or mu (a white-box attacker who strips MID's noise).
    view: str = "sample"
    view_samples: int = 16
    public: str = "lfw_public"  # the attacker's auxiliary faces: never the private identities
    miface: MIFaceConfig = field(default_factory=MIFaceConfig)
    gmi: GMIConfig = field(default_factory=GMIConfig)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    prior: PriorConfig = field(default_factory=PriorConfig)
    output: OutputDefenseConfig = field(default_factory=OutputDefenseConfig)
    ADDED_FIELDS: ClassVar[dict[str, Any]] = {"output": OutputDefenseConfig()}

    def __post_init__(self) -> None:
        require_choice("attack", self.attack, ATTACKS)
        require(self.output.kind == "none" or self.attack == "inversion",
                 f"an output defense changes only what a prediction API returns; the {self.attack} attack is "
                 "white-box (it holds the weights), so use it with the black-box 'inversion' attack")
        require_choice("view", self.view, PREDICT_MODES)
        require_choice("public", self.public, PUBLIC_SETS)
        require(self.view_samples >= 1, "view_samples must be positive")
        require(self.attack == "miface" or self.public == "lfw_public",
                 f"the {self.attack} attack learns from LFW's public faces; use public 'lfw_public'")

    def irrelevant_fields(self) -> tuple[str, ...]:
        uses = {"miface": ("miface",), "gmi": ("gmi", "prior"), "inversion": ("inversion",)}[self.attack]
        return tuple(name for name in ("miface", "gmi", "inversion", "prior") if name not in uses)


def attack_steps(attack: AttackConfig) -> int:
    """How long the chosen attack runs: optimisation steps, or the inversion network's training epochs."""
    return {"miface": attack.miface.steps, "gmi": attack.gmi.steps, "inversion": attack.inversion.epochs}[attack.attack]


def with_steps(attack: AttackConfig, steps: int) -> AttackConfig:
    """`attack` with the chosen attack's length (see attack_steps) set to `steps`."""
    if attack.attack == "inversion":
        return dataclasses.replace(attack, inversion=dataclasses.replace(attack.inversion, epochs=steps))
    name = attack.attack
    return dataclasses.replace(attack, **{name: dataclasses.replace(getattr(attack, name), steps=steps)})


def framed_for(dataset: str, attack: AttackConfig) -> AttackConfig:
    """`attack` with the attacker's public faces framed like `dataset`'s photos (the GAN and the inversion
    network learn from them): a choice made per dataset before any result was seen, and recorded."""
    crop = PUBLIC_CROP.get(dataset, LFW_CROP)
    return dataclasses.replace(attack, prior=dataclasses.replace(attack.prior, crop=crop),
                               inversion=dataclasses.replace(attack.inversion, crop=crop))
