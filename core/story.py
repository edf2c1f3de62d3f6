"""The words the dashboard says about stored results: the sentence under Explore's metric cards and the Story
page's steps. Pure functions over typed results (core.result_types: sweeps, comparisons, studies), no torch: every
number and every claim is computed from the results at render time, and a change whose 95% interval includes no
change is said to be within the noise."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from core.figures import ATTACK_NAMES
from core.panel_claims import EFFECT_WORDS, judges_text, panel_effect, panel_row
from core.result_types import ComparisonResults, Estimate, StudyResults, SweepResults, SweepRow, SweepRun
from core.results import attacker_label
from core.stats import difference_interval, mean_interval, paired_difference, within_noise

# Which sweep a first screen shows: the first (dataset, attack) of this order that is stored, else the first sweep.
# GMI on LFW recovers faces a viewer recognises; ORL's zoo ships GMI too.
FEATURED = (("lfw", "gmi"), ("orl", "gmi"))
# The people shown by default: the first ones by name (labels follow the names' natural order), never chosen by
# how well they were attacked.
DEFAULT_PEOPLE = 8
ACCESS = {
    "miface": "the model's gradients (white-box): it paints pixels until the model names the person",
    "gmi": "the model's gradients and a face generator trained on public photos of other people: it searches "
           "the generator's faces for one the model names as the person",
    "inversion": "only the model's answers (black-box): a decoder trained on public photos turns the model's "
                 "output probabilities back into a face",
}
PUBLIC = {"lfw_public": "public LFW photos of people outside the private set",
          "heldout_identities": "photos of people held out of the private set"}
LFW_SWEEP_COMMAND = "python -m core sweep --dataset lfw --attack gmi"


def short_names(names: list[str]) -> list[str]:
    """Names for a caption under a face, in a narrow column on a projector: an LFW name (First_Last, joined by
    underscores) becomes the last name ('Arnold_Schwarzenegger': 'Schwarzenegger'), or the whole name spaced when
    another person shares that last name; any other name is kept as it is."""
    last = [name.rsplit("_", 1)[-1] for name in names]
    shared = Counter(last)
    return [name if "_" not in name else surname if shared[surname] == 1 else name.replace("_", " ")
            for name, surname in zip(names, last, strict=True)]


def attack_of(results: SweepResults) -> str:
    return results.config["attack"]["attack"]


def dataset_of(results: SweepResults) -> str:
    return results.data.dataset


def featured_index(sweeps: list[SweepResults]) -> int:
    """The index of the sweep a first screen shows, by FEATURED."""
    for dataset, attack in FEATURED:
        for index, results in enumerate(sweeps):
            if dataset_of(results) == dataset and attack_of(results) == attack:
                return index
    return 0


def summary_row(results: SweepResults, mid_lambda: float) -> SweepRow:
    return next(r for r in results.summary if r.lambda_ == mid_lambda)


def first_run(results: SweepResults, mid_lambda: float) -> SweepRun:
    return next(r for r in results.runs if r.lambda_ == mid_lambda)


def default_lambda(results: SweepResults) -> float:
    """The strongest lambda whose test accuracy stays within 0.1 of lambda = 0's: where the tradeoff is worth a
    look."""
    rows = results.summary
    free = rows[0].test_accuracy.value
    return [r.lambda_ for r in rows if r.test_accuracy.value >= free - 0.1][-1]


def lambda_changes(results: SweepResults, mid_lambda: float) -> dict[str, dict[str, float]]:
    """Each metric card's change from lambda = 0 (the sweep's first lambda) with its 95% interval. With one seed,
    the attack's figures are paired on the same identities (hits by McNemar's pairing, feature distance by a
    paired t-interval); test accuracy, whose per-image hits are not stored, and figures averaged over seeds get
    the interval of a difference of independent figures."""
    row, base = summary_row(results, mid_lambda), results.summary[0]
    changes = {name: difference_interval(getattr(row, name).stored(), getattr(base, name).stored())
               for name in ("test_accuracy", "attack_top1", "attack_top5", "feature_distance")}
    if row.seeds == 1 and base.seeds == 1:
        now = {i.label: i for i in first_run(results, mid_lambda).attack.per_identity}
        then = {i.label: i for i in first_run(results, base.lambda_).attack.per_identity}
        labels = sorted(now.keys() & then.keys())
        for name, key in (("attack_top1", "top1"), ("attack_top5", "top5")):
            changes[name] = paired_difference([getattr(now[k], key) for k in labels],
                                              [getattr(then[k], key) for k in labels])
        changes["feature_distance"] = mean_interval(
            [now[k].feature_distance - then[k].feature_distance for k in labels])
    return changes


def change_text(change: dict[str, float], digits: int = 2) -> str:
    """`+0.02, within the noise` when the interval includes no change, else `-0.10`."""
    return f"{change['value']:+.{digits}f}" + (", within the noise" if within_noise(change) else "")


def interval_text(change: dict[str, float], digits: int = 2) -> str:
    low, high = change.get("low", math.nan), change.get("high", math.nan)
    if math.isnan(low) or math.isnan(high):
        return f"{change['value']:+.{digits}f} (no interval)"
    return f"{change['value']:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def lambda_sentence(results: SweepResults, mid_lambda: float) -> str:
    """One plain sentence on what a lambda does to the model and to the attack, against lambda = 0."""
    row, people = summary_row(results, mid_lambda), results.data.identities
    accuracy, named = row.test_accuracy.value, row.attack_top1.value
    if mid_lambda == results.summary[0].lambda_:
        return (f"At lambda = {mid_lambda:g} (no MID) the model has {accuracy:.2f} test accuracy and the attack "
                f"names {named:.2f} of the {people} people.")
    changes = lambda_changes(results, mid_lambda)
    test, attack = changes["test_accuracy"], changes["attack_top1"]
    keeps = "keeps" if test["value"] <= 0 or within_noise(test) else "reaches"
    if within_noise(attack):
        verdict = f"the attack still names {named:.2f} of the {people} people ({change_text(attack)})"
    elif attack["value"] < 0:
        verdict = f"the attack now names only {named:.2f} of the {people} people ({change_text(attack)})"
    else:
        verdict = f"the attack names more of the {people} people, {named:.2f} ({change_text(attack)})"
    return (f"At lambda = {mid_lambda:g} the model {keeps} {accuracy:.2f} test accuracy ({change_text(test)}); "
            f"{verdict}.")


@dataclass
class Step:
    """One screen of the story: its title, its text (markdown), and the picture the page draws beside it."""

    title: str
    text: str
    picture: str  # "originals", "attack", "spread", "faces", "attacks", "comparison" or "none"
    lambdas: list[float] = field(default_factory=list)  # the lambdas the picture shows
    missing: str = ""  # what the stored results lack for this step, and the command that makes it


def _rate(figure: Estimate) -> str:
    low, high = figure.low, figure.high
    interval = "" if low is None or high is None or math.isnan(low) else f" [{low:.2f}, {high:.2f}]"
    return f"{figure.value:.2f}{interval}"


def _dataset_name(results: SweepResults) -> str:
    return dataset_of(results).upper()


def _attack_name(results: SweepResults) -> str:
    return ATTACK_NAMES.get(attack_of(results), attack_of(results))


def _lfw_missing(results: SweepResults, sweeps: list[SweepResults], comparisons: list[ComparisonResults]) -> str:
    """What is missing while no LFW sweep is stored, and, from a stored LFW comparison, what the attack does there."""
    if any(dataset_of(s) == "lfw" for s in sweeps):
        return ""
    attack = attack_of(results)
    undefended = [row.attacks[attack].top1 for c in comparisons if c.data.dataset == "lfw" for row in c.summary
                  if row.defense == "none" and attack in row.attacks]
    seen = (f" The stored LFW comparison, undefended: {_attack_name(results)} names {_rate(undefended[0])} of "
            f"{undefended[0].n} people (Compare defenses)." if undefended else "")
    return (f"No LFW sweep is stored, so these are {_dataset_name(results)}'s faces; `{LFW_SWEEP_COMMAND}` makes "
            f"one.{seen}")


def step_private(results: SweepResults) -> Step:
    data, base = results.data, results.summary[0]
    return Step(
        "1. Private photos, and a model that knows them",
        f"A classifier learned **{data.identities} people** from {data.train_images} private photos "
        f"({_dataset_name(results)}, about {data.train_images / data.identities:.0f} each). On "
        f"{base.test_accuracy.n} photos it never saw it names the right person **{_rate(base.test_accuracy)}**"
        " of the time (95% interval). The attacker never sees these photos.",
        "originals")


def step_attacker(results: SweepResults, siblings: list[SweepResults]) -> Step:
    attack = results.config["attack"]
    lines = [f"- **{_attack_name(s)}** uses {ACCESS.get(attack_of(s), 'the model')}." for s in [results, *siblings]]
    public = PUBLIC.get(attack.get("public", ""), "public photos of other people")
    return Step(
        "2. What the attacker holds",
        f"**The trained model** and **{public}**; never the private photos. It picks a person by label and asks "
        "the model what makes it say *this person*.\n\n" + "\n".join(lines),
        "none")


def step_recovers(results: SweepResults, sweeps: list[SweepResults], comparisons: list[ComparisonResults]) -> Step:
    base = results.summary[0]
    named = sum(1 for i in first_run(results, base.lambda_).attack.per_identity if i.top1)
    judge = results.evaluator.heldout_accuracy
    return Step(
        "3. What the attack recovers",
        f"{_attack_name(results)} against the model without MID (lambda = {base.lambda_:g}): an independent judge "
        f"(right on {judge.value:.2f} of real held-out photos) names **{named} of the "
        f"{results.data.identities} people** from their reconstructions, {_rate(base.attack_top1)}; "
        f"{base.attack_top5.value:.2f} among its five best guesses.{_panel_line(results, base.lambda_)} Right: the "
        f"first {DEFAULT_PEOPLE} by name.",
        "attack", [base.lambda_], _lfw_missing(results, sweeps, comparisons))


def _panel_line(results: SweepResults, mid_lambda: float) -> str:
    """One sentence on what the judge panel (core/panel.py) says at `mid_lambda`; empty without a panel."""
    row = panel_row(results, mid_lambda)
    if row is None:
        return ""
    flagged = f"; the sink rule flags {', '.join(row.flagged)}" if row.flagged else ""
    return (f" A panel of {len(row.top1)} judges of different families ({judges_text(results, row, '')}{flagged}) "
            f"names a median "
            f"{row.median:.2f}; every one of them names {row.identified_by_all:g} people.")


def step_inside(results: SweepResults) -> Step:
    mid_lambda = default_lambda(results)
    base, row = results.summary[0], summary_row(results, mid_lambda)
    return Step(
        "4. What MID changes inside the model",
        "MID squeezes the model through a random code *z* and charges lambda for every nat *z* keeps about the "
        f"photo. Its answers spread over the labels: the top answer's probability falls from **"
        f"{base.confidence.value:.2f}** (lambda = {base.lambda_:g}) to **{row.confidence.value:.2f}** "
        f"(lambda = {mid_lambda:g}) on the test photos. Right: the seed paper's figure.",
        "spread", [mid_lambda])


def step_lambda(results: SweepResults) -> Step:
    chosen, strongest = default_lambda(results), results.summary[-1].lambda_
    shown = list(dict.fromkeys([results.summary[0].lambda_, chosen, strongest]))
    return Step(
        "5. Moving lambda",
        "\n\n".join(lambda_sentence(results, value) for value in shown[1:])
        + f"\n\nRight, one row per lambda: {', '.join(f'{v:g}' for v in shown)}. *Within the noise*: the change's "
        "95% interval includes no change.",
        "faces", shown)


def attack_effect(results: SweepResults, mid_lambda: float) -> tuple[str, str, str]:
    """What MID at `mid_lambda` does to an attack, against lambda = 0 on the same people: 'lowers', 'noise' (the
    paired 95% interval includes no change) or 'raises'; the attack's name; and one line saying it with the
    figures."""
    base, row = results.summary[0], summary_row(results, mid_lambda)
    change = lambda_changes(results, mid_lambda)["attack_top1"]
    effect = "noise" if within_noise(change) else "lowers" if change["value"] < 0 else "raises"
    panel = panel_effect(results, mid_lambda)
    by_panel = "" if panel is None else f"; judge panel: {panel.reading()}"  # each judge's figure: Explore's card
    return effect, _attack_name(results), (f"**{_attack_name(results)}**: {base.attack_top1.value:.2f} -> "
                                           f"{row.attack_top1.value:.2f} ({interval_text(change)}), "
                                           f"{EFFECT_WORDS[effect]}{by_panel}")


def _holds(results: SweepResults, mid_lambda: float) -> bool:
    return any(r.lambda_ == mid_lambda for r in results.summary)


def _effects(results: SweepResults, siblings: list[SweepResults], mid_lambda: float) -> str:
    """Which attacks MID at `mid_lambda` lowers, leaves within the noise, or raises, in one clause."""
    effects = [attack_effect(s, mid_lambda) for s in [results, *siblings] if _holds(s, mid_lambda)]
    named = {effect: [name for e, name, _ in effects if e == effect] for effect in ("lowers", "noise", "raises")}
    return "; ".join(f"{phrase} {', '.join(named[effect])}" for effect, phrase in (
        ("lowers", "MID lowers"), ("noise", "within the noise for"), ("raises", "MID raises")) if named[effect])


def step_helps(results: SweepResults, siblings: list[SweepResults]) -> Step:
    mid_lambda = default_lambda(results)
    test, row = lambda_changes(results, mid_lambda)["test_accuracy"], summary_row(results, mid_lambda)
    lines = [f"- {attack_effect(s, mid_lambda)[2]}." for s in [results, *siblings] if _holds(s, mid_lambda)]
    missing = "" if siblings else ("Only one attack is stored on these models: `python -m core zoo` rebuilds the "
                                   "zoo under every attack.")
    return Step(
        "6. Where MID helps, and where it does not",
        f"At lambda = {mid_lambda:g} (test accuracy {row.test_accuracy.value:.2f}, {change_text(test)}), each "
        "attack's top-1 against lambda = 0's, on the same people (paired 95% interval):\n\n" + "\n".join(lines),
        "attacks", [mid_lambda], missing)


def step_dpsgd(results: SweepResults, comparisons: list[ComparisonResults]) -> Step:
    attack = attack_of(results)
    newest: dict[str, ComparisonResults] = {}
    for comparison in comparisons:  # newest first
        newest.setdefault(comparison.data.dataset, comparison)
    lines = [f"- **{dataset.upper()}** ({comparison.data.identities} people; attacker: "
             f"{attacker_label(comparison.config['sweep']['attack']['view'])}): "
             f"{comparison.frontiers[attack].sentence}"
             for dataset, comparison in sorted(newest.items(), key=lambda item: item[0] != dataset_of(results))
             if attack in comparison.frontiers]
    if not lines:
        return Step("7. MID against DP-SGD", "No defense comparison under this attack is stored.", "none",
                    missing=f"`python -m core compare --attacks {attack}` trains DP-SGD's models beside MID's and "
                            "compares them; the Compare defenses page shows it.")
    return Step(
        "7. MID against DP-SGD",
        f"DP-SGD adds noise to training instead. Under {_attack_name(results)}, for each test accuracy both reach, "
        "the lowest attack accuracy each defense gets:\n\n" + "\n".join(lines),
        "none")


def step_takeaway(results: SweepResults, siblings: list[SweepResults], studies: list[StudyResults]) -> Step:
    mid_lambda = default_lambda(results)
    judge, data = results.evaluator.heldout_accuracy, results.data
    seeds = len(results.config["seeds"])
    panels = [(_attack_name(s), panel_effect(s, mid_lambda)) for s in [results, *siblings] if _holds(s, mid_lambda)]
    verdicts = "; ".join(f"{name}: {p.reading()}" for name, p in panels if p is not None)
    lines = [f"- **At lambda = {mid_lambda:g}**, on the same people: {_effects(results, siblings, mid_lambda)}.",
             *([f"- **By the judge panel** (judges of different families; a claim holds when it holds for every "
                f"judge): {verdicts}."] if verdicts else []),
             f"- **The judge** is a classifier too (held-out accuracy {_rate(judge)}); it errs both ways: look at "
             "the faces.",
             f"- **The regime**: {_dataset_name(results)}, {data.identities} people, about "
             f"{data.train_images / data.identities:.0f} photos each, {seeds} training seed"
             f"{'s' if seeds > 1 else ''}; the intervals count people, not training runs. Other data can answer "
             "differently."]
    regimes = [r.verdict.verdict for s in studies for r in s.regimes]
    missing = ""
    if regimes:
        attackers = sorted({attacker_label(s.config["base"]["attack"]["view"]) for s in studies})
        lines.append(f"- **The regime studies** (attacker: {'; '.join(attackers)}): of {len(regimes)} regimes, "
                     f"{regimes.count('yes')} reproduce the paper's claim, {regimes.count('no')} contradict it, "
                     f"{regimes.count('inconclusive')} are inconclusive (Findings page).")
    else:
        missing = "No regime study is stored: `python -m core study` runs the default one (Findings page)."
    return Step("8. What to take away, and what the figures cannot tell", "\n".join(lines), "none", missing=missing)


def story_steps(results: SweepResults, siblings: list[SweepResults], sweeps: list[SweepResults],
                comparisons: list[ComparisonResults], studies: list[StudyResults]) -> list[Step]:
    """The story's steps over a sweep (`featured_index` of `sweeps`), the same models under the other attacks
    (core.gallery.attack_siblings), the stored comparisons (newest first) and regime studies."""
    return [step_private(results), step_attacker(results, siblings), step_recovers(results, sweeps, comparisons),
            step_inside(results), step_lambda(results), step_helps(results, siblings),
            step_dpsgd(results, comparisons), step_takeaway(results, siblings, studies)]
