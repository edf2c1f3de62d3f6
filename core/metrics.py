"""Figures with their uncertainty: test accuracy, prediction spread, attack accuracy and feature distance.

The intervals themselves are core/stats.py's; figures repeated over seeds are summarised by mean, spread and
interval.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from core.config import TargetConfig
from core.data import PreparedData
from core.results import sink_check
from core.runtime import seed_everything
from core.stats import PROPORTION, mean_interval, wilson_interval

if TYPE_CHECKING:
    from core.attacks.base import Reconstruction


@torch.no_grad()
def log_probs(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256,
              **forward_kwargs: object) -> torch.Tensor:
    """Log-probabilities of a classifier on x, in eval mode, batched; returned on the CPU."""
    model.eval()
    outputs = [F.log_softmax(model(x[i: i + batch_size].to(device), **forward_kwargs), dim=1).cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(outputs)


def half_precision(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A model's weights as they ship: floating-point tensors in half precision, others as they are."""
    return {name: (value.half() if value.is_floating_point() else value) for name, value in state.items()}


def half_precision_agreement(model: nn.Module, half: dict[str, torch.Tensor], unfitted: nn.Module, x: torch.Tensor,
                             device: torch.device, **forward_kwargs: object) -> float:
    """The fraction of images `x` on which `unfitted` filled with the half-precision weights `half` predicts the
    same label as `model`: half precision is checked, not assumed."""
    full = log_probs(model, x, device, **forward_kwargs).argmax(1)
    unfitted.load_state_dict(half, strict=True)  # cast back to the model's own precision
    return float((log_probs(unfitted.to(device), x, device, **forward_kwargs).argmax(1) == full).float().mean())


def prediction_metrics(log_p: torch.Tensor, labels: torch.Tensor) -> dict[str, object]:
    """Test accuracy (with interval), balanced accuracy (the mean of per-identity recalls, with a t-interval
    over identities: what accuracy means when one person has 500 photos and another 20), and the spread of
    predictions: mean top-1 confidence, entropy (nats), and the paper's picture of it, `rank_mass`: the mean
    probability at each rank, most likely label first."""
    probs = log_p.exp()
    hits = log_p.argmax(1) == labels
    entropy = -(probs * log_p).sum(1)
    recalls = [float(hits[labels == label].float().mean()) for label in labels.unique().tolist()]
    return {
        "accuracy": wilson_interval(int(hits.sum()), len(labels)),
        "balanced_accuracy": mean_interval(recalls, PROPORTION),
        "confidence": mean_interval(probs.max(1).values.numpy(), PROPORTION),
        "entropy": mean_interval(entropy.numpy()),
        "rank_mass": probs.sort(dim=1, descending=True).values.mean(0).tolist(),
    }


@torch.no_grad()
def deployed_mode(config: TargetConfig) -> str:
    """How the deployed target answers: its configured mode for a MID head; a linear head has only one."""
    return config.model.predict_mode if config.model.head == "mid" else "mu"


def target_metrics(model: nn.Module, config: TargetConfig, data: PreparedData,
                   device: torch.device) -> dict[str, object]:
    """Test accuracy and prediction spread in every prediction mode; 'deployed' is the configured one."""
    test_x, test_y = data.test()
    modes = ("sample", "mean", "mu") if config.model.head == "mid" else ("mu",)
    by_mode = {}
    for mode in modes:
        seed_everything(config.train.seed)  # the 'sample' and 'mean' answers are random: make them repeatable
        by_mode[mode] = prediction_metrics(log_probs(model, test_x, device, mode=mode), test_y)
    deployed = deployed_mode(config)
    return {"deployed_mode": deployed, "deployed": by_mode[deployed], "by_mode": by_mode}


def prediction_spread(model: nn.Module, config: TargetConfig, data: PreparedData,
                      device: torch.device) -> dict[str, list[float]]:
    """Per test image, the deployed model's top-1 confidence and entropy (nats): the paper's picture of how
    a defense spreads predictions, as distributions rather than means."""
    test_x, _ = data.test()
    seed_everything(config.train.seed)
    log_p = log_probs(model, test_x, device, mode=deployed_mode(config))
    entropy = -(log_p.exp() * log_p).sum(1)
    return {"confidence": [round(v, 4) for v in log_p.max(1).values.exp().tolist()],
            "entropy": [round(v, 4) for v in entropy.tolist()]}


def embed_all(evaluator: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """The evaluator's penultimate features of x, batched; returned on the CPU."""
    evaluator.eval()
    return torch.cat([evaluator.embed(x[i: i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


@dataclass
class PrivateFeatures:
    """The judge's embeddings of the private training photos, by (judge key, data fingerprint): every attack scored
    by one judge on one dataset measures distances to the same photos (6 s per attack for LFW's judge)."""

    cached: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict)

    def of(self, evaluator: nn.Module, evaluator_key: str, data: PreparedData, device: torch.device) -> torch.Tensor:
        """The embedding of every private training photo by `evaluator`, computed once per judge and dataset."""
        key = (evaluator_key, data.fingerprint)
        if key not in self.cached:
            self.cached[key] = embed_all(evaluator, data.train()[0], device)
        return self.cached[key]


@torch.no_grad()
def nearest_distances(queries: torch.Tensor, query_labels: torch.Tensor,
                      references: torch.Tensor, reference_labels: torch.Tensor) -> torch.Tensor:
    """For each query feature, the L2 distance to the closest reference feature of the same identity."""
    distances = torch.cdist(queries, references)
    same = query_labels.view(-1, 1) == reference_labels.view(1, -1)
    return distances.masked_fill(~same, math.inf).min(1).values


@torch.no_grad()
def attack_scores(evaluator: nn.Module, reconstructions: torch.Tensor, target_labels: torch.Tensor,
                  private_features: torch.Tensor, private_y: torch.Tensor, device: torch.device) -> dict[str, object]:
    """Score reconstructions with the independent evaluator: top-1 / top-5 attack accuracy and the feature
    distance from each reconstruction to the nearest private training image of its identity (whose
    embeddings, `embed_all(evaluator, private_x)`, the caller computes once for every attack it scores)."""
    log_p = log_probs(evaluator, reconstructions, device)
    top5 = log_p.topk(min(5, log_p.shape[1]), dim=1).indices
    hit1 = top5[:, 0] == target_labels
    hit5 = (top5 == target_labels.view(-1, 1)).any(1)
    distance = nearest_distances(embed_all(evaluator, reconstructions, device), target_labels,
                                 private_features, private_y)
    per_identity = [
        {"label": int(t), "predicted": int(top5[i, 0]), "top1": bool(hit1[i]), "top5": bool(hit5[i]),
         "evaluator_confidence": float(log_p[i, t].exp()), "feature_distance": float(distance[i])}
        for i, t in enumerate(target_labels.tolist())
    ]
    return {
        "top1": wilson_interval(int(hit1.sum()), len(hit1)),
        "top5": wilson_interval(int(hit5.sum()), len(hit5)),
        "feature_distance": mean_interval(distance.numpy()),
        "sink": sink_check(top5[:, 0].tolist(), log_p.shape[1]),
        "per_identity": per_identity,
    }


def heldout_accuracy(judge: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> dict[str, float]:
    """A judge's accuracy on photos it never saw, with its Wilson interval."""
    correct = int((log_probs(judge, x, device).argmax(1) == y).sum())
    return wilson_interval(correct, len(y))


@torch.no_grad()
def real_image_distance(evaluator: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor,
                        test_x: torch.Tensor, test_y: torch.Tensor, device: torch.device) -> dict[str, float]:
    """The scale for feature distances: how far a real held-out photo lies from the nearest training photo
    of the same person. A reconstruction near this value looks, to the judge, like a real photo of them."""
    test_features, train_features = embed_all(evaluator, test_x, device), embed_all(evaluator, train_x, device)
    return mean_interval(nearest_distances(test_features, test_y, train_features, train_y).numpy())


@torch.no_grad()
def with_restart_scores(scores: dict[str, object], evaluator: nn.Module, restart_images: torch.Tensor,
                        chosen: torch.Tensor, device: torch.device) -> dict[str, object]:
    """`scores` of an attack with restarts (C, R, 1, H, W) plus, per identity, the restart chosen and whether the
    judge names the person in any of its restarts: the official GMI code's "Acc5" (any of R, not top-5)."""
    identities, restarts = restart_images.shape[:2]
    named = log_probs(evaluator, restart_images.flatten(0, 1), device).argmax(1).view(identities, restarts)
    per_identity = scores["per_identity"]
    hits = [bool((named[i] == entry["label"]).any()) for i, entry in enumerate(per_identity)]
    per_identity = [{**entry, "chosen_restart": int(chosen[i]), "any_restart": hits[i]}
                    for i, entry in enumerate(per_identity)]
    return {**scores, "per_identity": per_identity, "any_restart": wilson_interval(sum(hits), len(hits))}


def reconstruction_scores(evaluator: nn.Module, result: Reconstruction, target_labels: torch.Tensor,
                          private_features: torch.Tensor, private_y: torch.Tensor,
                          device: torch.device) -> dict[str, object]:
    """An attack's scores by the judge (attack_scores), with its restarts' (with_restart_scores) when it kept them."""
    scores = attack_scores(evaluator, result.images, target_labels, private_features, private_y, device)
    if result.restart_images is None:
        return scores
    return with_restart_scores(scores, evaluator, result.restart_images, result.chosen_restart, device)


@torch.no_grad()
def panel_scores(judges: list[tuple[str, str, nn.Module, dict[str, float]]], reconstructions: torch.Tensor,
                 target_labels: torch.Tensor, num_classes: int, device: torch.device) -> dict[str, object]:
    """Score reconstructions with every judge of a panel, given as (name, key, judge, held-out accuracy): each
    judge's top-1 (with interval) and sink check, the panel's median and range of top-1, and how many people
    every judge (and at least one) names correctly."""
    scored, hits = [], []
    for name, key, judge, heldout in judges:
        predicted = log_probs(judge, reconstructions, device).argmax(1)
        hit = predicted == target_labels
        hits.append(hit)
        scored.append({"name": name, "key": key, "heldout_accuracy": heldout,
                       "top1": wilson_interval(int(hit.sum()), len(hit)),
                       "sink": sink_check(predicted.tolist(), num_classes), "predicted": predicted.tolist()})
    tops = [judge["top1"]["value"] for judge in scored]
    every = torch.stack(hits)
    return {"judges": scored, "median": statistics.median(tops), "range": [min(tops), max(tops)],
            "identified_by_all": int(every.all(0).sum()), "identified_by_any": int(every.any(0).sum()),
            "n": len(target_labels), "flagged": [judge["name"] for judge in scored if judge["sink"]["flagged"]]}
