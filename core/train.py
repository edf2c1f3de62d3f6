"""A model-agnostic training loop with callbacks, and the objectives it is run with.

The trainer knows nothing about MID: it minimises whatever an objective returns and hands every batch's and
epoch's figures to callbacks, so the CLI's progress bar and the dashboard's live curves come from one loop.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.augment import augment, degrade
from core.config import EvaluatorConfig, PrivacyConfig, TrainConfig
from core.errors import TrainingDiverged
from core.models import FisherfacesJudge, kl_to_standard_normal

# An objective maps (model, images, labels) to the loss and the scalars worth reporting (all tensors).
Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]]
Callback = Callable[[dict[str, float]], None]


@dataclass
class TrainerConfig:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    augment_shift: int = 0
    flip: bool = True
    # Random blur, contrast and noise: a judge that must recognise smooth reconstructions cannot rely on
    # pixel-level texture.
    photometric: bool = False
    seed: int = 0
    privacy: PrivacyConfig | None = None  # DP-SGD through Opacus when set and enabled

    @classmethod
    def for_target(cls, train: TrainConfig) -> TrainerConfig:
        """A target's training, as its config says."""
        return cls(epochs=train.epochs, batch_size=train.batch_size, lr=train.lr, weight_decay=train.weight_decay,
                   augment_shift=train.augment_shift, photometric=train.photometric, seed=train.seed,
                   privacy=train.privacy)


def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """(1 - a) * CE(y) + a * (mean over classes of -log p), averaged over the batch. For a in [0, 1] this is
    F.cross_entropy's label_smoothing; a < 0 is negative label smoothing (Wei et al. 2022), which F.cross_entropy
    refuses. At a = 0 it is F.cross_entropy itself, bit for bit."""
    if smoothing == 0:
        return F.cross_entropy(logits, y)
    log_p = F.log_softmax(logits, dim=1)
    nll = -log_p.gather(1, y.view(-1, 1)).squeeze(1)
    return ((1 - smoothing) * nll - smoothing * log_p.mean(1)).mean()


def mid_objective(mid_lambda: float, label_smoothing: float = 0.0) -> Objective:
    """CE + lambda * KL for a MID head; with a linear head the KL is absent and this is plain CE. The CE is
    label-smoothed by `label_smoothing` (see smoothed_cross_entropy). This is the one place lambda and label
    smoothing enter the loss; the reported 'ce' is always the plain cross-entropy."""

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = model.forward_head(x, mode="sample")
        ce = F.cross_entropy(out.logits, y)
        fit = ce if label_smoothing == 0 else smoothed_cross_entropy(out.logits, y, label_smoothing)
        kl = kl_to_standard_normal(out.mu, out.std) if out.mu is not None else torch.zeros((), device=x.device)
        loss = fit + mid_lambda * kl
        return loss, {"ce": ce, "kl": kl, "accuracy": (out.logits.argmax(1) == y).float().mean()}

    return objective


def cross_entropy_objective(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    logits = model(x)
    return F.cross_entropy(logits, y), {"accuracy": (logits.argmax(1) == y).float().mean()}


@dataclass
class Trainer:
    """Adam on mini-batches; callbacks get {'epoch', 'batch', 'loss', <objective scalars>, 'elapsed'}.
    With DP-SGD, epoch records also carry the epsilon spent so far, and `privacy` holds the final account."""

    model: nn.Module
    objective: Objective
    config: TrainerConfig
    on_batch_end: list[Callback] = field(default_factory=list)
    on_epoch_end: list[Callback] = field(default_factory=list)
    privacy: dict[str, object] | None = None

    def run(self, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> list[dict[str, float]]:
        """Train on (x, y); returns one record of mean figures per epoch. Raises TrainingDiverged on NaN/inf."""
        cfg = self.config
        generator = torch.Generator().manual_seed(cfg.seed)
        model = self.model.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        private = None
        if cfg.privacy is not None and cfg.privacy.enabled:
            from core.privacy import make_private  # Opacus takes seconds to import: only when needed

            private = make_private(model, optimizer, len(x), cfg.batch_size, cfg.privacy, generator)
            # Opacus' hooks sit on the layers themselves, so the objective keeps calling the model as it is.
            optimizer = private.optimizer
        steps_per_epoch = len(private.batches) if private else -(-len(x) // cfg.batch_size)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, epochs=cfg.epochs,
                                                       steps_per_epoch=steps_per_epoch)
        history: list[dict[str, float]] = []
        start = time.perf_counter()
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            if private:  # Poisson sampling, which the accountant's epsilon assumes
                indices = [index for (index,) in private.batches]
            else:
                indices = list(torch.randperm(len(x), generator=generator).split(cfg.batch_size))
            sums: dict[str, float] = {}
            batches = 0
            for batch, index in enumerate(indices, start=1):
                if len(index) == 0:  # Poisson sampling's empty batch, chance (1 - q)^n: e^-30 for 32 of 280
                    continue
                xb = augment(x[index].to(device), cfg.augment_shift, cfg.flip, generator)
                if cfg.photometric:
                    xb = degrade(xb, generator)
                loss, scalars = self.objective(model, xb, y[index].to(device))
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at epoch {epoch}, batch {batch}; nothing was saved. "
                        "Lower lambda or the learning rate."
                    )
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                stats = {"epoch": epoch, "batch": batch, "loss": loss.item(),
                         **{k: v.item() for k, v in scalars.items()}, "elapsed": time.perf_counter() - start}
                for name, value in stats.items():
                    sums[name] = sums.get(name, 0.0) + value
                batches += 1
                for callback in self.on_batch_end:
                    callback(stats)
            record = {name: total / batches for name, total in sums.items()}
            record.update(epoch=epoch, elapsed=time.perf_counter() - start)
            if private:
                record["epsilon"] = private.spent()["epsilon"]
            record.pop("batch", None)
            if not all(math.isfinite(v) for v in record.values()):
                raise TrainingDiverged(f"non-finite training figures at epoch {epoch}: {record}")
            history.append(record)
            for callback in self.on_epoch_end:
                callback(record)
        if private:
            self.privacy = private.spent()
            private.close()
        model.eval()
        return history


def fit_judge(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: EvaluatorConfig, epochs: int, lr: float,
              seed: int, device: torch.device, on_epoch_end: list[Callback]) -> list[dict[str, float]]:
    """Fit a judge to (x, y): Fisherfaces in closed form (no epochs, no history), a net by `epochs` of
    cross-entropy at `lr` with the judge's batch size and augmentation; returns the training history."""
    if isinstance(model, FisherfacesJudge):
        model.fit(x, y).to(device)
        return []
    trainer = Trainer(model, cross_entropy_objective, TrainerConfig(
        epochs=epochs, batch_size=config.batch_size, lr=lr, weight_decay=1e-4,
        augment_shift=config.augment_shift, photometric=config.photometric, seed=seed,
    ), on_epoch_end=on_epoch_end)
    return trainer.run(x, y, device)
