"""Figures with their uncertainty: test accuracy, prediction spread, attack accuracy and feature distance.

Rates get a 95% Wilson interval (with 40 identities one identity moves attack accuracy by 2.5 points);
means get a 95% Student-t interval; figures repeated over seeds are summarised by mean, spread and interval.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from core.results import sink_check


def wilson_interval(successes: int, n: int, z: float = 1.96) -> dict[str, float]:
    """A rate with its 95% Wilson score interval, which stays sensible at 0 and 1 and for small n."""
    if n == 0:
        return {"value": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "n": n}


def paired_difference(hits_a: list[bool], hits_b: list[bool]) -> dict[str, float]:
    """Rate a minus rate b on the same items (two attacks on the same identities), with the 95% interval of
    Newcombe's method 10 for paired proportions, and the exact two-sided McNemar p-value. Pairing lets what
    both get right or wrong cancel, so it can separate two attacks whose own intervals overlap."""
    a, b = np.asarray(hits_a, bool), np.asarray(hits_b, bool)
    n = len(a)
    both, only_a, only_b = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    neither = n - both - only_a - only_b
    rate_a, rate_b = wilson_interval(both + only_a, n), wilson_interval(both + only_b, n)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    p_a, p_b = rate_a["value"], rate_b["value"]
    below = math.sqrt(max(0.0, (p_a - rate_a["low"]) ** 2 + (rate_b["high"] - p_b) ** 2
                          - 2 * phi * (p_a - rate_a["low"]) * (rate_b["high"] - p_b)))
    above = math.sqrt(max(0.0, (rate_a["high"] - p_a) ** 2 + (p_b - rate_b["low"]) ** 2
                          - 2 * phi * (rate_a["high"] - p_a) * (p_b - rate_b["low"])))
    discordant = only_a + only_b
    p_value = float(stats.binomtest(only_a, discordant).pvalue) if discordant else 1.0
    return {"value": p_a - p_b, "low": p_a - p_b - below, "high": p_a - p_b + above, "n": n,
            "only_a": only_a, "only_b": only_b, "p_value": p_value}


PROPORTION = (0.0, 1.0)


def mean_interval(values: list[float] | np.ndarray, bounds: tuple[float, float] | None = None) -> dict[str, float]:
    """Mean, standard deviation and 95% t-interval of the mean (the interval is NaN for a single value). With
    `bounds` (PROPORTION for accuracies and probabilities), the interval is cut to them: a t-interval of values
    near 1 can reach past 1, which no accuracy can, and cutting it keeps at least its coverage."""
    data = np.asarray(values, dtype=float)
    n = len(data)
    mean = float(data.mean()) if n else math.nan
    std = float(data.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n) if n > 1 else math.nan
    low, high = mean - half, mean + half
    if bounds is not None and n > 1:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"value": mean, "std": std, "low": low, "high": high, "n": n}


@torch.no_grad()
def log_probs(model: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256,
              **forward_kwargs: object) -> torch.Tensor:
    """Log-probabilities of a classifier on x, in eval mode, batched; returned on the CPU."""
    model.eval()
    outputs = [F.log_softmax(model(x[i: i + batch_size].to(device), **forward_kwargs), dim=1).cpu()
               for i in range(0, len(x), batch_size)]
    return torch.cat(outputs)


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
def embed_all(evaluator: nn.Module, x: torch.Tensor, device: torch.device, batch_size: int = 256) -> torch.Tensor:
    """The evaluator's penultimate features of x, batched; returned on the CPU."""
    evaluator.eval()
    return torch.cat([evaluator.embed(x[i: i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


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
    return {"judges": scored, "median": float(np.median(tops)), "range": [min(tops), max(tops)],
            "identified_by_all": int(every.all(0).sum()), "identified_by_any": int(every.any(0).sum()),
            "n": len(target_labels), "flagged": [judge["name"] for judge in scored if judge["sink"]["flagged"]]}
