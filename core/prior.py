"""The attacker's generative prior: a DCGAN (Radford et al. 2016) trained on public faces only.

The GMI-style attack searches the generator's latent space instead of pixel space, so every reconstruction
is a face-like image; the discriminator scores realism during that search. Sized for a CPU: 64x64
grayscale, generator width 24 (about 0.6 M parameters). Images are in [0, 1] at the interface, as everywhere
in MID Lab; the networks work in [-1, 1] inside.
"""

from __future__ import annotations

import itertools
import math
import time
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from core.attack_config import PriorConfig
from core.augment import augment
from core.errors import TrainingDiverged

if TYPE_CHECKING:  # a type only: the attacks import this module, and never the trainer
    from core.train import Callback


def _up(c_in: int, c_out: int) -> list[nn.Module]:
    return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def _down(c_in: int, c_out: int, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(c_out))
    return [*layers, nn.LeakyReLU(0.2)]


def _stages(image_size: int) -> int:
    """Up- (or down-) sampling stages between the 4x4 map and the image."""
    stages = int(math.log2(image_size // 4))
    if 4 * 2**stages != image_size:
        raise ValueError(f"the prior needs a power-of-two image size >= 8; got {image_size}")
    return stages


class Generator(nn.Module):
    """Latent code (N, latent_dim) to images (N, 1, S, S) in [0, 1]."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.latent_dim = config.latent_dim
        stages = _stages(config.image_size)
        widths = [config.width * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 256, 128, 64, 32
        layers: list[nn.Module] = [nn.ConvTranspose2d(config.latent_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU()]
        for c_in, c_out in itertools.pairwise(widths):
            layers += _up(c_in, c_out)
        layers += [nn.ConvTranspose2d(widths[-1], 1, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.net(z.view(len(z), -1, 1, 1)) + 1) / 2


class Discriminator(nn.Module):
    """Images (N, 1, S, S) in [0, 1] to a realism logit (N,)."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        stages = _stages(config.image_size)
        widths = [config.width * 2**i for i in range(stages)]  # e.g. 32, 64, 128, 256
        layers = _down(1, widths[0], norm=False)
        for c_in, c_out in itertools.pairwise(widths):
            layers += _down(c_in, c_out)
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1).squeeze(1)


class GAN(nn.Module):
    """Both halves in one module, so one store entry (one hash, one weights file) holds the prior."""

    def __init__(self, config: PriorConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = Generator(config)
        self.discriminator = Discriminator(config)

    def sample_latent(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, generator=generator)


def _init_weights(module: nn.Module) -> None:
    # DCGAN's initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales.
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def train_gan(gan: GAN, faces: torch.Tensor, device: torch.device,
              on_epoch_end: list[Callback] | None = None) -> list[dict[str, float]]:
    """Train `gan` on faces (N, 1, S, S) in [0, 1] with the non-saturating GAN loss; one record per epoch.
    Real labels are smoothed to 0.9 (Salimans et al. 2016), which keeps the discriminator from winning early."""
    config = gan.config
    gan.apply(_init_weights)
    gan.to(device).train()
    generator = torch.Generator().manual_seed(config.seed)
    betas = (0.5, 0.999)
    optimizer_g = torch.optim.Adam(gan.generator.parameters(), lr=config.lr, betas=betas)
    optimizer_d = torch.optim.Adam(gan.discriminator.parameters(), lr=config.lr, betas=betas)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(faces), generator=generator)
        sums = {"loss_d": 0.0, "loss_g": 0.0, "d_real": 0.0, "d_fake": 0.0}
        batches = 0
        for begin in range(0, len(faces) - config.batch_size + 1, config.batch_size):
            real = augment(faces[order[begin: begin + config.batch_size]].to(device), 0, True, generator)
            z = gan.sample_latent(len(real), generator).to(device)
            fake = gan.generator(z)
            logit_real, logit_fake = gan.discriminator(real), gan.discriminator(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.full_like(logit_real, 0.9))
                      + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
            optimizer_d.zero_grad(set_to_none=True)
            loss_d.backward()
            optimizer_d.step()
            logit_gen = gan.discriminator(fake)
            loss_g = F.binary_cross_entropy_with_logits(logit_gen, torch.ones_like(logit_gen))
            optimizer_g.zero_grad(set_to_none=True)
            loss_g.backward()
            optimizer_g.step()
            if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
                raise TrainingDiverged(f"the GAN's losses became non-finite at epoch {epoch}; nothing was saved. "
                                       "Lower the prior's learning rate.")
            sums["loss_d"] += loss_d.item()
            sums["loss_g"] += loss_g.item()
            sums["d_real"] += torch.sigmoid(logit_real).mean().item()
            sums["d_fake"] += torch.sigmoid(logit_fake).mean().item()
            batches += 1
        record = {name: total / batches for name, total in sums.items()}
        record.update(epoch=epoch, elapsed=time.perf_counter() - start)
        history.append(record)
        for callback in on_epoch_end or []:
            callback(record)
    gan.eval()
    return history
