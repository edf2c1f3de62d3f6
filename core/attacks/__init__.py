"""Model inversion attacks. Each attack sees the target only through a query function (its view).

REGISTRY names each attack's run function, the inputs it asks its caller for and its seed: the engine provides
the inputs (loading or computing them), seeds, and runs it, without knowing one attack from another."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.attack_config import AttackConfig
from core.attacks.base import Query, Reconstruction, attacker_query
from core.attacks.gmi import run_gmi
from core.attacks.inversion import run_inversion
from core.attacks.miface import run_miface
from core.prior import GAN

__all__ = ["REGISTRY", "Attack", "AttackInputs", "Reconstruction", "attacker_query", "run_gmi", "run_inversion",
           "run_miface"]


@dataclass(frozen=True)
class AttackInputs:
    """What an attack is handed: the target behind its view, the labels to invert, its settings, where to report
    progress and keep a checkpoint, and the inputs it asked for (the others None)."""

    query: Query
    labels: torch.Tensor
    config: AttackConfig
    on_step: Callable[[int, int], None]
    checkpoint: Path
    start: torch.Tensor | None = None  # "start": MI-Face's first image (1, H, W), on the attack's device
    prior: GAN | None = None  # "prior": the GAN prior, trained on public faces only
    public: torch.Tensor | None = None  # "public": the attacker's public faces (N, 1, S, S) in [0, 1]
    private: tuple[torch.Tensor, torch.Tensor] | None = None  # "private": the training photos and labels


@dataclass(frozen=True)
class Attack:
    """One attack: its run (the reconstruction and what its record adds), the inputs it needs, in the order they
    are provided, and the seed set just before it runs."""

    run: Callable[[AttackInputs], tuple[Reconstruction, dict[str, Any]]]
    needs: tuple[str, ...]
    seed: Callable[[AttackConfig], int]


def _miface(inputs: AttackInputs) -> tuple[Reconstruction, dict[str, Any]]:
    return run_miface(inputs.query, inputs.labels, inputs.start, inputs.config.miface, inputs.on_step), {}


def _gmi(inputs: AttackInputs) -> tuple[Reconstruction, dict[str, Any]]:
    return run_gmi(inputs.query, inputs.labels, inputs.prior, inputs.config.gmi, inputs.on_step,
                   checkpoint=inputs.checkpoint), {}


def _inversion(inputs: AttackInputs) -> tuple[Reconstruction, dict[str, Any]]:
    victim_x, victim_y = inputs.private
    result, history = run_inversion(inputs.query, inputs.labels, inputs.public, victim_x, victim_y,
                                    len(inputs.labels), inputs.config.inversion, inputs.on_step)
    return result, {"history": history}


REGISTRY: dict[str, Attack] = {
    "miface": Attack(_miface, ("start",), lambda config: config.miface.seed),
    "gmi": Attack(_gmi, ("prior",), lambda config: config.gmi.seed),
    # The seed sets the decoder's initial weights.
    "inversion": Attack(_inversion, ("public", "private"), lambda config: config.inversion.seed),
}
