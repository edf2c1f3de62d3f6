"""What an attack may need (core.attacks.AttackInputs), provided by the engine: MI-Face's start image, the GAN
prior, LFW's public faces and the private training photos, each with the timing stage it is counted in and what
the attack's record adds about it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from core.attack_config import AttackConfig
from core.data import PreparedData, lfw_box
from core.entries import PUBLIC_MEAN_IMAGES, PublicMean, mean_face, public_faces
from core.errors import ConfigError

if TYPE_CHECKING:
    from core.engine import Engine

# (engine, attack, data) -> (the input, what the attack's record adds about it)
Provider = Callable[["Engine", AttackConfig, PreparedData], tuple[Any, dict[str, Any]]]


def start_image(engine: Engine, attack: AttackConfig, data: PreparedData) -> torch.Tensor:
    """MI-Face's start (1, H, W): flat gray, or the mean of the attacker's public faces (LFW's computed once)."""
    image_size = data.config.image_size
    if attack.miface.start == "gray":
        return torch.full((1, image_size, image_size), 0.5)
    if attack.public == "heldout_identities":
        if data.public_images is None:
            raise ConfigError("the public set 'heldout_identities' needs public identities held out (> 0)")
        return mean_face(data.public_images)
    return engine.public_mean(PublicMean(attack.public, image_size, PUBLIC_MEAN_IMAGES))[0]


def _start(engine: Engine, attack: AttackConfig, data: PreparedData) -> tuple[torch.Tensor, dict[str, Any]]:
    return start_image(engine, attack, data).to(engine.device), {}


def _prior(engine: Engine, attack: AttackConfig, data: PreparedData) -> tuple[Any, dict[str, Any]]:
    if attack.prior.image_size != data.config.image_size:
        raise ConfigError(f"the GAN prior draws {attack.prior.image_size}px faces but the target sees "
                          f"{data.config.image_size}px; set the prior's image_size to {data.config.image_size}")
    gan, record, _ = engine.prior(attack.prior)
    return gan, {"prior_key": record["config_hash"]}


def _public(engine: Engine, attack: AttackConfig, data: PreparedData) -> tuple[torch.Tensor, dict[str, Any]]:
    public = public_faces(engine.data_root, data.config.image_size, limit=attack.inversion.images,
                          box=lfw_box(attack.inversion.crop), fingerprint=engine.public_fingerprint)
    return public, {"public_images": len(public)}


def _private(engine: Engine, attack: AttackConfig, data: PreparedData) -> tuple[Any, dict[str, Any]]:
    return data.train(), {}


# Each input an attack may need: the timing stage it is counted in (None: not timed), and its provider.
PROVIDERS: dict[str, tuple[str | None, Provider]] = {
    "start": ("start_s", _start), "prior": ("prior_s", _prior), "public": ("public_s", _public),
    "private": (None, _private)}
