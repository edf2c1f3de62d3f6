"""Rates and means with their 95% intervals, and the interval of a difference: pure arithmetic (no torch), so
the dashboard can say whether a change is more than noise.

Rates get a 95% Wilson interval (with 40 identities one identity moves attack accuracy by 2.5 points);
means get a 95% Student-t interval; a difference of two figures gets Newcombe's square-and-add interval
(method 10), which pairing narrows when the same items are measured twice.
"""

from __future__ import annotations

import math

import numpy as np

# scipy.special, not scipy.stats: the dashboard computes intervals on its first screen, and importing scipy.stats
# takes about a second there (scipy.special a third of it).
from scipy.special import bdtr, stdtrit


def wilson_interval(successes: int, n: int, z: float = 1.96) -> dict[str, float]:
    """A rate with its 95% Wilson score interval, which stays sensible at 0 and 1 and for small n."""
    if n == 0:
        return {"value": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"value": p, "low": max(0.0, centre - half), "high": min(1.0, centre + half), "n": n}


def difference_interval(a: dict[str, float], b: dict[str, float], phi: float = 0.0) -> dict[str, float]:
    """a - b for two figures with 95% intervals, by Newcombe's square-and-add (method 10): each end of the
    difference's interval combines the distances to the two figures' own ends. `phi`, the correlation of paired
    items, narrows it; 0 for independent figures. NaN ends when either figure has no interval."""
    value = a["value"] - b["value"]
    a_below, a_above = a["value"] - a.get("low", math.nan), a.get("high", math.nan) - a["value"]
    b_below, b_above = b["value"] - b.get("low", math.nan), b.get("high", math.nan) - b["value"]
    below = math.sqrt(max(0.0, a_below ** 2 + b_above ** 2 - 2 * phi * a_below * b_above))
    above = math.sqrt(max(0.0, a_above ** 2 + b_below ** 2 - 2 * phi * a_above * b_below))
    if any(math.isnan(d) for d in (a_below, a_above, b_below, b_above)):
        below = above = math.nan
    return {"value": value, "low": value - below, "high": value + above}


def paired_difference(hits_a: list[bool], hits_b: list[bool]) -> dict[str, float]:
    """Rate a minus rate b on the same items (two attacks on the same identities), with the 95% interval of
    Newcombe's method 10 for paired proportions, and the exact two-sided McNemar p-value. Pairing lets what
    both get right or wrong cancel, so it can separate two attacks whose own intervals overlap."""
    a, b = np.asarray(hits_a, bool), np.asarray(hits_b, bool)
    n = len(a)
    both, only_a, only_b = int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum())
    neither = n - both - only_a - only_b
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    phi = (both * neither - only_a * only_b) / math.sqrt(margins) if margins else 0.0
    difference = difference_interval(wilson_interval(both + only_a, n), wilson_interval(both + only_b, n), phi)
    discordant = only_a + only_b
    p_value = mcnemar_p_value(only_a, discordant)
    return {**difference, "n": n, "only_a": only_a, "only_b": only_b, "p_value": p_value}


def mcnemar_p_value(only_a: int, discordant: int) -> float:
    """The exact two-sided McNemar p-value: twice the binomial(discordant, 1/2) CDF at the rarer count of
    pairs where only one side succeeds, at most 1."""
    if discordant == 0:
        return 1.0
    return min(1.0, 2 * float(bdtr(min(only_a, discordant - only_a), discordant, 0.5)))


def within_noise(difference: dict[str, float]) -> bool:
    """Whether a difference's 95% interval includes no change (0), or it has no interval to tell."""
    low, high = difference.get("low", math.nan), difference.get("high", math.nan)
    return math.isnan(low) or math.isnan(high) or low <= 0 <= high


PROPORTION = (0.0, 1.0)


def mean_interval(values: list[float] | np.ndarray, bounds: tuple[float, float] | None = None) -> dict[str, float]:
    """Mean, standard deviation and 95% t-interval of the mean (the interval is NaN for a single value). With
    `bounds` (PROPORTION for accuracies and probabilities), the interval is cut to them: a t-interval of values
    near 1 can reach past 1, which no accuracy can, and cutting it keeps at least its coverage."""
    data = np.asarray(values, dtype=float)
    n = len(data)
    mean = float(data.mean()) if n else math.nan
    std = float(data.std(ddof=1)) if n > 1 else math.nan
    half = float(stdtrit(n - 1, 0.975)) * std / math.sqrt(n) if n > 1 else math.nan
    low, high = mean - half, mean + half
    if bounds is not None and n > 1:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return {"value": mean, "std": std, "low": low, "high": high, "n": n}
