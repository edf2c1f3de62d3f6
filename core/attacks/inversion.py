"""The black-box inversion network (Yang, Zhang, Chang, Liang, CCS 2019).

A decoder learns to map the target's prediction vector back to the image that produced it, trained on
public faces the attacker sends through the target; it never sees a gradient or a weight of the target.
The vector may be truncated to its k largest entries (what an API that returns top-k reveals). Each
identity is then inverted from its typical prediction vector: the mean of the target's answers on that
person's photos, i.e. Yang et al.'s setting of an attacker who observes the victim's prediction vectors.
The decoder is the prior's generator architecture with the prediction vector as its input code.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.attack_config import InversionConfig, PriorConfig
from core.attacks.base import Query, Reconstruction, to_uint8
from core.errors import TrainingDiverged
from core.prior import Generator

FLOOR = 1e-6  # probabilities below this (and truncated entries) all read as this: what rounding hides anyway
QUERY_BATCH = 256


def encode_vector(log_p: torch.Tensor, top_k: int) -> torch.Tensor:
    """The decoder's input: log-probabilities floored at log(FLOOR), all but the k largest set to the floor."""
    floor = math.log(FLOOR)
    vector = log_p.clamp_min(floor)
    if 0 < top_k < vector.shape[1]:
        keep = vector.topk(top_k, dim=1).indices
        vector = torch.full_like(vector, floor).scatter(1, keep, vector.gather(1, keep))
    return vector - floor  # >= 0, truncated entries exactly 0


def answers(query: Query, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The target's log-probabilities (N, classes) for images (N, 1, S, S), in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([query(batch.to(device)) for batch in images.split(QUERY_BATCH)])


def typical_vectors(query: Query, victim_x: torch.Tensor, victim_y: torch.Tensor, labels: torch.Tensor,
                    device: torch.device) -> torch.Tensor:
    """Per label, the log of the mean probability vector the target gives that person's photos."""
    probabilities = answers(query, victim_x, device).exp()
    means = [probabilities[(victim_y == label).to(device)].mean(0) for label in labels.tolist()]
    return torch.stack(means).log()


def decoder_for(num_classes: int, config: InversionConfig, image_size: int) -> Generator:
    return Generator(PriorConfig(latent_dim=num_classes, width=config.width, image_size=image_size))


def run_inversion(query: Query, labels: torch.Tensor, public: torch.Tensor, victim_x: torch.Tensor,
                  victim_y: torch.Tensor, num_classes: int, config: InversionConfig,
                  on_step: Callable[[int, int], None] | None = None) -> tuple[Reconstruction, list[dict]]:
    """Train the decoder on `public` faces (N, 1, S, S) sent through the target, then invert every label from
    its typical vector. The trajectory is the inversion after each epoch. Also returns the training history."""
    device = labels.device
    generator = torch.Generator().manual_seed(config.seed)
    decoder = decoder_for(num_classes, config, public.shape[-1]).to(device)
    inputs = encode_vector(answers(query, public, device), config.top_k)
    probes = encode_vector(typical_vectors(query, victim_x, victim_y, labels, device), config.top_k)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config.lr)
    frames, steps, confidences, history = [], [], [], []
    rows = torch.arange(len(labels))

    def record(epoch: int) -> torch.Tensor:
        decoder.eval()
        with torch.no_grad():
            images = decoder(probes)
            confidences.append(query(images)[rows, labels].exp())
        frames.append(to_uint8(images))
        steps.append(epoch)
        decoder.train()
        return images

    record(0)
    start = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(public), generator=generator)
        total, batches = 0.0, 0
        for begin in range(0, len(public), config.batch_size):
            index = order[begin: begin + config.batch_size]
            loss = F.mse_loss(decoder(inputs[index.to(device)]), public[index].to(device))
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"the inversion network's loss became {loss.item()} at epoch {epoch}; "
                                       "lower its learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        history.append({"epoch": epoch, "mse": total / batches, "elapsed": time.perf_counter() - start})
        final = record(epoch)
        if on_step:
            on_step(epoch, config.epochs)
    return Reconstruction(final, torch.stack(frames), steps, torch.stack(confidences)), history
