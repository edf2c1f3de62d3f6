"""DP-SGD through Opacus (Abadi et al. 2016): per-example clipping, Gaussian noise, Poisson-sampled batches,
and the privacy spent (epsilon at delta) from Opacus' RDP accountant. Imported only when DP-SGD is on, as
Opacus takes seconds to import.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import torch
from opacus import PrivacyEngine
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from core.config import PrivacyConfig
from core.errors import ConfigError

ACCOUNTANT = "rdp"
# Opacus warns that its noise is not cryptographically secure: this is a laboratory, not a deployment, and the
# epsilon reported is the accountant's either way. The second warning is PyTorch noting that the input images
# need no gradient, which is true and harmless.
warnings.filterwarnings("ignore", message="Secure RNG turned off")
warnings.filterwarnings("ignore", message="Full backward hook is firing")


@dataclass
class PrivateTraining:
    """A model, optimizer and batch sampler made private by Opacus; `batches` yields index tensors."""

    module: nn.Module
    optimizer: torch.optim.Optimizer
    batches: DataLoader
    engine: PrivacyEngine
    config: PrivacyConfig

    def spent(self) -> dict[str, Any]:
        """The privacy spent so far, with what the accountant was told (to check it independently)."""
        history = self.engine.accountant.history  # [(noise_multiplier, sample_rate, steps)]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            epsilon = float(self.engine.get_epsilon(self.config.delta)) if history else 0.0
        return {
            "epsilon": epsilon,
            # At little noise the best RDP order is the smallest Opacus tries: epsilon is then an upper bound
            # looser than usual (the guarantee holds; the true epsilon may be lower).
            "loose_bound": any("smallest alpha" in str(w.message) for w in caught),
            "delta": self.config.delta, "noise_multiplier": self.config.noise_multiplier,
            "max_grad_norm": self.config.max_grad_norm,
            "sample_rate": history[-1][1] if history else None,
            "steps": int(sum(steps for _, _, steps in history)),
            "accountant": ACCOUNTANT, "opacus": metadata.version("opacus"),
        }

    def close(self) -> None:
        """Remove Opacus' hooks from the model (its weights are the trained ones)."""
        self.module._close()


def make_private(model: nn.Module, optimizer: torch.optim.Optimizer, examples: int, batch_size: int,
                 config: PrivacyConfig, generator: torch.Generator) -> PrivateTraining:
    """Wrap `model` and `optimizer` for DP-SGD over a dataset of `examples` items, with batches of expected
    size `batch_size`. Raises ConfigError when the model has a layer Opacus cannot train privately."""
    problems = ModuleValidator.validate(model, strict=False)
    if problems:
        raise ConfigError("this model cannot be trained with DP-SGD: "
                          + "; ".join(str(problem) for problem in problems))
    indices = DataLoader(TensorDataset(torch.arange(examples)), batch_size=batch_size, generator=generator)
    engine = PrivacyEngine(accountant=ACCOUNTANT)
    noise = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
    module, optimizer, batches = engine.make_private(
        module=model, optimizer=optimizer, data_loader=indices, noise_multiplier=config.noise_multiplier,
        max_grad_norm=config.max_grad_norm, poisson_sampling=True, noise_generator=noise)
    return PrivateTraining(module, optimizer, batches, engine, config)
