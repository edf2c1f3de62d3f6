"""A GMI-style attack (Zhang, Jia, Pei, Wang, Li, Song, CVPR 2020), batched over identities.

Instead of pixels, it optimises the latent code of a GAN trained on public faces, so whatever it finds is
drawn by the face generator. The loss per code is the identity term under the attacker's view of the target,
plus a realism term, the discriminator's non-saturating "this is fake" loss. The identity term is the negative
log-odds -log(p / (1 - p)) of the identity (or GMI's -log p): -log p stops pushing once the target is 99%
sure, which on a small target is long before the face carries the person's features (Nguyen et al., CVPR 2023,
make the same point for logit losses). Images are shifted and flipped at random before each query, and after
every step each code is clamped to a box around the origin, as in GMI's code: like the truncation trick of
BigGAN (Brock et al. 2019), it keeps the search where the generator draws its most typical faces. Each
identity gets several restarts; their starting codes are the best of a pool of random codes screened once for
all identities (one forward pass each), and the restart the target trusts most wins.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.attacks.base import Query, Reconstruction, to_uint8
from core.config import GMIConfig
from core.models import frozen_for_queries
from core.prior import GAN
from core.train import augment

SCREEN_BATCH = 250  # candidate codes per forward pass while screening: bounds memory, not results


def screen_candidates(query: Query, gan: GAN, labels: torch.Tensor, config: GMIConfig,
                      generator: torch.Generator) -> torch.Tensor:
    """Starting codes (C * R, latent_dim), grouped by identity: for each identity, the R codes of a shared
    random pool whose images the target already finds most like that identity."""
    device = labels.device
    pool = gan.sample_latent(config.candidates, generator).to(device)
    with torch.no_grad():
        scores = torch.cat([query(gan.generator(chunk))[:, labels] for chunk in pool.split(SCREEN_BATCH)])
    best = scores.topk(config.restarts, dim=0).indices  # (R, C)
    return pool[best.T.reshape(-1)].clone()


def run_gmi(query: Query, labels: torch.Tensor, gan: GAN, config: GMIConfig,
            on_step: Callable[[int, int], None] | None = None) -> Reconstruction:
    """Invert every label at once; the trajectory follows, per identity, the restart leading at each record."""
    gan = frozen_for_queries(gan)
    generator = torch.Generator().manual_seed(config.seed)
    restarts, identities = config.restarts, len(labels)
    z = screen_candidates(query, gan, labels, config, generator).requires_grad_(True)
    targets = labels.repeat_interleave(restarts)
    rows = torch.arange(len(targets))
    optimizer = torch.optim.Adam([z], lr=config.lr)
    frames, steps, confidences = [], [], []

    def record(step: int, images: torch.Tensor) -> torch.Tensor:
        """Keep each identity's leading restart's image and the target's confidence in it."""
        with torch.no_grad():
            confidence = query(images)[rows, targets].exp().view(identities, restarts)
            best = confidence.argmax(1)
            leading = images[torch.arange(identities, device=best.device) * restarts + best]
        frames.append(to_uint8(leading))
        confidences.append(confidence.gather(1, best.unsqueeze(1)).squeeze(1))
        steps.append(step)
        return leading

    for step in range(config.steps):
        images = gan.generator(z)
        if step % config.record_every == 0:
            record(step, images.detach())  # the codes before this step's update, drawn once for both uses
        # A random shift and flip per step: a face the target recognises however it is framed, rather than
        # one tuned to the target's exact pixel grid, is also what an independent judge recognises.
        log_p = query(augment(images, config.jitter, config.flip, generator))[rows, targets]
        identity = -(log_p - torch.log1p(-log_p.exp().clamp(max=1 - 1e-6))) if config.log_odds else -log_p
        realism = F.softplus(-gan.discriminator(images))
        # Summed over codes so each code's gradient does not depend on how many are optimised at once.
        loss = (identity + config.realism_weight * realism).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if config.latent_bound:
            with torch.no_grad():
                z.clamp_(-config.latent_bound, config.latent_bound)
        if on_step:
            on_step(step + 1, config.steps)
    with torch.no_grad():
        final = record(config.steps, gan.generator(z))
    return Reconstruction(final, torch.stack(frames), steps, torch.stack(confidences))
