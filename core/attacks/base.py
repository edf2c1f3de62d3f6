"""What every attack shares: the attacker's view of the target and the shape of a reconstruction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core.attack_config import OutputDefenseConfig
from core.images import png_grid
from core.models import frozen_for_queries

# An attacker's query: images (N, 1, H, W) in [0, 1] to log-probabilities (N, classes), differentiable.
Query = Callable[[torch.Tensor], torch.Tensor]


def attacker_query(model: nn.Module, view: str, samples: int) -> Query:
    """The target as the attacker sees it. For a MID model: 'sample' draws a fresh z on every query (the
    deployed model, as in the official attack code), 'mean' averages K samples' probabilities, 'mu' uses the
    code's mean (a white-box attacker). A linear head answers the same in every view. The queries go to a
    frozen, fused copy (core.models.frozen_for_queries); `model` itself is not modified."""
    model = frozen_for_queries(model)

    def query(x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(model(x, mode=view, samples=samples), dim=1)

    return query


def queried_mode(head: str, view: str) -> str:
    """The prediction mode of the function the attacker queries (see attacker_query): the view for a MID head;
    a linear head has one answer, its 'mu' mode. Its test accuracy is the one to read beside the attack's."""
    return view if head == "mid" else "mu"


def defend_output(log_p: torch.Tensor, output: OutputDefenseConfig) -> torch.Tensor:
    """What a prediction API with an output-side defense returns, as log-probabilities (zeros become -inf).
    The top-1 label is always kept: after rounding, ties are broken in its favour; after noise, if another
    entry overtook it, the two swap values."""
    if output.kind == "none":
        return log_p
    probs = log_p.exp()
    top = probs.argmax(1, keepdim=True)
    if output.kind == "label":
        shown = torch.zeros_like(probs).scatter(1, top, 1.0)
    elif output.kind == "round":
        scale = 10.0 ** output.decimals
        shown = (probs * scale).round() / scale
        # Break ties in the top label's favour by the smallest step a float can take.
        shown = shown.scatter(1, top, torch.nextafter(shown.gather(1, top), torch.tensor(math.inf)))
    else:
        shown = (probs + output.noise_std * torch.randn_like(probs)).clamp_min(0.0)
        leader = shown.argmax(1, keepdim=True)
        top_value, leader_value = shown.gather(1, top), shown.gather(1, leader)
        shown = shown.scatter(1, leader, top_value).scatter(1, top, leader_value)
    return shown.log()


def defended(query: Query, output: OutputDefenseConfig) -> Query:
    """`query` behind an output-side defense: what a black-box attacker receives (no gradient passes)."""
    if output.kind == "none":
        return query

    def answer(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return defend_output(query(x), output)

    return answer


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as 8-bit pixels: trajectories are for replay, and 4x smaller this way."""
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


def from_uint8(pixels: torch.Tensor) -> torch.Tensor:
    """8-bit images (N, H, W), as the zoo ships them, back in [0, 1] as (N, 1, H, W): exactly what was scored."""
    return pixels.unsqueeze(1).float() / 255


def reconstructions_png(images: torch.Tensor) -> bytes:
    """Reconstructions (N, 1, H, W) in [0, 1] as the PNG grid stored beside them."""
    return png_grid(to_uint8(images).squeeze(1).numpy())


@dataclass
class Reconstruction:
    """Final images (C, 1, H, W) in [0, 1], one per attacked identity, exactly as scored; the recorded
    trajectory (T, C, 1, H, W) as 8-bit pixels at `steps`; and the target's confidence in each attacked
    identity at those steps (T, C), under the attacker's view. An attack with restarts scored one by one (GMI's
    paper recipe) also keeps every restart's final image (C, R, 1, H, W) and the restart chosen (C,)."""

    images: torch.Tensor
    trajectory: torch.Tensor
    steps: list[int]
    target_confidence: torch.Tensor
    restart_images: torch.Tensor | None = None
    chosen_restart: torch.Tensor | None = None

    def tensors(self) -> dict[str, torch.Tensor]:
        restarts = {} if self.restart_images is None else {"restart_images": self.restart_images,
                                                           "chosen_restart": self.chosen_restart}
        return {"images": self.images, "trajectory": self.trajectory,
                "steps": torch.tensor(self.steps), "target_confidence": self.target_confidence, **restarts}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Reconstruction:
        return cls(tensors["images"], tensors["trajectory"], tensors["steps"].tolist(), tensors["target_confidence"],
                   tensors.get("restart_images"), tensors.get("chosen_restart"))

    def cpu(self) -> Reconstruction:
        values = (getattr(self, f.name) for f in dataclasses.fields(self))
        return Reconstruction(*(value.cpu() if isinstance(value, torch.Tensor) else value for value in values))
