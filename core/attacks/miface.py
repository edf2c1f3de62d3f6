"""MI-Face (Fredrikson, Jha, Ristenpart, CCS 2015), adapted to CNNs and batched over identities.

Gradient descent on the image to maximise the target identity's log-probability, with a total-variation
prior, clamped to [0, 1]. It starts from a face the attacker may hold (the mean of public faces, shifted a
little per identity), jitters the image by a pixel or two each step and blurs it now and then, so that it
cannot win with pixel-level noise only the target responds to.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.attack_config import MIFaceConfig
from core.attacks.base import Query, Reconstruction, to_uint8
from core.augment import augment


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image."""
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return dx + dy


def box_blur(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def run_miface(query: Query, labels: torch.Tensor, start: torch.Tensor, config: MIFaceConfig,
               on_step: Callable[[int, int], None] | None = None) -> Reconstruction:
    """Invert every label at once from `start` (1, H, W); returns the images and their trajectory."""
    generator = torch.Generator().manual_seed(config.seed)
    rows = torch.arange(len(labels))
    x = augment(start.expand(len(labels), *start.shape).clone(), config.start_shift, False, generator)
    x = x.clamp(0, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=config.lr)
    frames, steps, confidences = [], [], []

    def record(step: int) -> None:
        with torch.no_grad():
            confidences.append(query(x)[rows, labels].exp())
        frames.append(to_uint8(x.detach()))
        steps.append(step)

    for step in range(config.steps):
        if step % config.record_every == 0:
            record(step)
        log_p = query(augment(x, config.jitter, False, generator))
        # Summed over identities so each image's gradient does not depend on how many are attacked at once.
        loss = (-log_p[rows, labels] + config.tv_weight * total_variation(x)).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            if config.blur_every and (step + 1) % config.blur_every == 0 and step + 1 < config.steps:
                x.copy_(box_blur(x))
            x.clamp_(0, 1)
        if on_step:
            on_step(step + 1, config.steps)
    record(config.steps)
    return Reconstruction(x.detach(), torch.stack(frames), steps, torch.stack(confidences))
