"""Random changes to images, seeded by a torch.Generator: the trainer's augmentation (shifts, flips and the
photometric degradation), and the jitter MI-Face and GMI apply to their reconstructions each step. Apart from the
trainer so that the attacks and the prior use it without importing the trainer."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def degrade(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """For a random half of the images: blur (down- then up-sampling by 1 to 4), contrast, brightness and
    pixel noise. The other half stays clean, so the model still learns the fine detail."""
    n, _, h, w = x.shape
    clean = (torch.rand(n, generator=generator) < 0.5).to(x.device).view(n, 1, 1, 1)
    out = torch.empty_like(x)
    factors = torch.randint(1, 5, (n,), generator=generator)
    for factor in factors.unique().tolist():
        chosen = (factors == factor).to(x.device)
        part = x[chosen]
        if factor > 1:
            part = F.interpolate(F.avg_pool2d(part, factor, ceil_mode=True), size=(h, w), mode="bilinear",
                                 align_corners=False)
        out[chosen] = part
    contrast = (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=generator)).to(x.device)
    brightness = (0.2 * torch.rand(n, 1, 1, 1, generator=generator) - 0.1).to(x.device)
    noise = (0.05 * torch.rand(n, 1, 1, 1, generator=generator)).to(x.device)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + brightness
    out = out + noise * torch.randn(out.shape, generator=generator).to(x.device)
    return torch.where(clean, x, out.clamp(0, 1))


def augment(x: torch.Tensor, shift: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Per-image random translation (edge padding, then a random crop back to size) and left-right flips."""
    if shift > 0:
        n, _, h, w = x.shape
        padded = F.pad(x, (shift, shift, shift, shift), mode="replicate")
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
        rows = (dy.view(n, 1) + torch.arange(h)).to(x.device)
        cols = (dx.view(n, 1) + torch.arange(w)).to(x.device)
        batch = torch.arange(n, device=x.device).view(n, 1, 1)
        x = padded[batch, 0, rows.view(n, h, 1), cols.view(n, 1, w)].unsqueeze(1)
    if flip:
        mask = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)
    return x
