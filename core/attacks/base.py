"""What every attack shares: the attacker's view of the target and the shape of a reconstruction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

# An attacker's query: images (N, 1, H, W) in [0, 1] to log-probabilities (N, classes), differentiable.
Query = Callable[[torch.Tensor], torch.Tensor]


def attacker_query(model: nn.Module, view: str, samples: int) -> Query:
    """The target as the attacker sees it. For a MID model: 'sample' draws a fresh z on every query (the
    deployed model, as in the official attack code), 'mean' averages K samples' probabilities, 'mu' uses the
    code's mean (a white-box attacker). A linear head answers the same in every view."""
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)

    def query(x: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(model(x, mode=view, samples=samples), dim=1)

    return query


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] as 8-bit pixels: trajectories are for replay, and 4x smaller this way."""
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8)


@dataclass
class Reconstruction:
    """Final images (C, 1, H, W) in [0, 1], one per attacked identity, exactly as scored; the recorded
    trajectory (T, C, 1, H, W) as 8-bit pixels at `steps`; and the target's confidence in each attacked
    identity at those steps (T, C), under the attacker's view."""

    images: torch.Tensor
    trajectory: torch.Tensor
    steps: list[int]
    target_confidence: torch.Tensor

    def tensors(self) -> dict[str, torch.Tensor]:
        return {"images": self.images, "trajectory": self.trajectory,
                "steps": torch.tensor(self.steps), "target_confidence": self.target_confidence}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor]) -> Reconstruction:
        return cls(tensors["images"], tensors["trajectory"], tensors["steps"].tolist(), tensors["target_confidence"])
