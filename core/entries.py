"""What names each kind of stored entry (the configs its key hashes, rebuilt from its record), what every new
entry's record holds, and the public faces the attacker's entries are made from."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.attack_config import AttackConfig, PriorConfig
from core.config import EvaluatorConfig, TargetConfig
from core.data import LFW_FACE_BOX, load_lfw_public
from core.runtime import environment, timestamp
from core.store import FINGERPRINT, Expected
from core.stored_config import from_dict, to_dict

PUBLIC_MEAN_IMAGES = 2000  # public faces averaged for MI-Face's start; more changes the mean very little


# How each kind of entry's key is named by its record: the config it hashes, rebuilt (core.store.Expected).
NAMED_BY: dict[str, Callable[[dict[str, Any]], Any]] = {
    "targets": lambda record: from_dict(TargetConfig, record["config"]),
    "evaluators": lambda record: from_dict(EvaluatorConfig, record["config"]),
    "priors": lambda record: from_dict(PriorConfig, record["config"]),
    "public_mean": lambda record: PublicMean(**record["config"]),
    "attacks": lambda record: AttackRun(record["target_key"], record["evaluator_key"],
                                        from_dict(AttackConfig, record["config"])),
}


def new_record(kind: str, config: Any, key: str, expected: Expected, timings: Mapping[str, float],
               device: torch.device, /, **fields: Any) -> dict[str, Any]:
    """A new entry's record: `fields`, then what every record holds (what made it, where, when, how long),
    which replaces any field of that name (a fine-tuned judge's fields start as its split judge's)."""
    return {**fields, "kind": kind, "config": to_dict(config), "config_hash": key, FINGERPRINT: expected.known,
            "environment": environment(device), "timings": dict(timings), "created": timestamp()}


def uses_lfw_public(attack: AttackConfig) -> bool:
    """Whether an attack learns from LFW's public faces (a GAN prior, an inversion decoder, a mean-face start)."""
    return attack.attack != "miface" or (attack.miface.start != "gray" and attack.public == "lfw_public")


@functools.lru_cache(maxsize=1)  # a sweep's inversion attacks all learn from the same faces: decode them once
def public_faces(root: Path, image_size: int, limit: int = 0, box: tuple[int, int, int, int] = LFW_FACE_BOX,
                 fingerprint: str | None = None) -> torch.Tensor:
    """LFW's public faces (N, 1, S, S) in [0, 1]: what the attacker learns a prior or a decoder from.
    Shared between calls: read it, never write to it. `fingerprint` (the folder's public_fingerprint) is part
    of the cache's key, so faces decoded before the files changed are never served."""
    faces = load_lfw_public(root, image_size, limit=limit, box=box)
    return torch.from_numpy(faces).unsqueeze(1).float().div_(255.0)


def mean_face(faces: np.ndarray) -> torch.Tensor:
    """The pixel-wise mean of uint8 faces (N, H, W), as a (1, H, W) image in [0, 1]."""
    return torch.from_numpy(faces.astype(np.float32).mean(0) / 255.0).unsqueeze(0)


@dataclass(frozen=True)
class PublicMean:
    """Names the cached mean public face."""

    public: str
    image_size: int
    images: int


@dataclass(frozen=True)
class AttackRun:
    """Names one attack result: which target, which judge, which attack settings."""

    target_key: str
    evaluator_key: str
    attack: AttackConfig
