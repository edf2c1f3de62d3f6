"""A regime study (core/study.py) for people, shared by the dashboard's Findings page and a future report command
(no Streamlit, no torch here): each regime's tradeoff figure, its status in the paper's terms, the command that
reruns the study, the machine it ran on, and the paper's claims beside what the stored studies measured."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from core.errors import ConfigError
from core.figures import ATTACK_NAMES, add_defense, tradeoff_layout
from core.panel_claims import PanelEffect, panel_effect
from core.result_types import (
    ComparisonResults,
    Estimate,
    FrontierReport,
    Level,
    Regime,
    Run,
    StudyPoint,
    StudyResults,
    StudyRow,
    SweepResults,
)
from core.results import accuracy_axis
from core.stored_config import from_dict
from core.story import default_lambda
from core.study_command import STUDY_COMMAND, level_text
from core.study_command import study_command as command_of
from core.study_design import StudyConfig

# The verdict of "MID lowers attack accuracy at equal test accuracy" in the paper's terms; every status is shown
# the same neutral way: a reproduction that fails is as much a finding as one that holds.
STATUS = {"yes": "reproduced", "no": "not reproduced", "inconclusive": "inconclusive"}
COMPARE_COMMAND = "python -m core compare"
FRONTIER_WORDS = {"a": "MID dominates DP-SGD", "b": "DP-SGD dominates MID", "mixed": "neither dominates",
                  "tie": "a tie", "no overlap": "cannot be compared"}


def panel_frontier_text(report: FrontierReport) -> str:
    """Each panel judge's reading of the MID / DP-SGD frontiers, in a sentence ('' without a panel): a claim
    holds when every judge makes it."""
    if not report.panel:
        return ""
    words = {name: FRONTIER_WORDS.get(verdict, verdict) for name, verdict in report.panel.items()}
    if len(set(words.values())) == 1:
        return f"By the judge panel: {next(iter(words.values()))} for every judge ({', '.join(words)})."
    return ("By the judge panel: the judges disagree (" + "; ".join(f"{name}: {word}" for name, word in words.items())
            + ").")


def status(regime: Regime) -> str:
    return verdict_status(regime.verdict.verdict)


def verdict_status(verdict: str) -> str:
    """What a verdict of the study's rule means for the paper's claim (STATUS), for a study's regime or another's."""
    return STATUS.get(verdict, verdict)


def study_command(results: StudyResults) -> tuple[str, bool]:
    """The `python -m core study` command of a study's results file, and whether it reruns exactly this study
    (see core.study_command); a config this version cannot rebuild gets the nearest command."""
    try:
        stored = from_dict(StudyConfig, results.config)
    except ConfigError:  # an older or foreign config: its command is written from the file as it stands
        return command_of(results.config)[0], False
    return command_of(stored)


def machine(results: Run) -> str:
    """Where the study ran: the GPU's name on a GPU, so CPU and GPU results are told apart."""
    env = results.environment
    device = str(env.get("device", "unknown device"))
    if env.get("gpu"):
        return f"GPU {env['gpu']} ({device})"
    threads = f", {env['torch_threads']} torch thread(s)" if env.get("torch_threads") else ""
    return f"{'CPU' if device == 'cpu' else device}{threads}"


def timings_text(timings: dict[str, float]) -> str:
    stages = " · ".join(f"{name.removesuffix('_s').replace('_', ' ')} {seconds:.1f} s"
                        for name, seconds in timings.items())
    return f"{sum(timings.values()):.1f} s ({stages})" if timings else "not recorded"


def mid_reference_line(regime: Regime) -> str:
    """The verdict against the MID lambda=0 reference in words, or that a study file from before it lacks it."""
    judged = regime.verdict_mid_reference
    if judged is None:
        return "against the MID lambda=0 reference: not computed (a file from before it; rerun the study to add it)"
    return f"against the MID lambda=0 reference: {judged.verdict}. {regime.finding_mid_reference}"


def panel_verdict_line(regime: Regime) -> str:
    """The regime's verdicts by the same rule with each panel judge's top-1, and whether the judges agree (a
    claim holds when it holds for every judge); '' when the panel did not score the study."""
    verdicts = regime.panel_verdicts
    if not verdicts:
        return ""

    def agreed(words: list[str]) -> str:
        return f"every judge says {words[0]}" if len(set(words)) == 1 else "the judges disagree"

    each = ", ".join(f"{v.name} {v.verdict} / {v.verdict_mid_reference}" for v in verdicts)
    return (f"judge panel, against the undefended model / the MID lambda=0 reference: {each}. Against the "
            f"undefended model {agreed([v.verdict for v in verdicts])}; against the MID reference "
            f"{agreed([v.verdict_mid_reference for v in verdicts])}.")


def regime_accuracy(results: StudyResults, level: Level) -> str:
    """Which test accuracy the plot of a stored study's regime at `level` shows (core.results.accuracy_axis)."""
    return accuracy_axis(next(regime for value, regime in results.settings.regimes() if value == level))


def study_figure(regime: Regime, factor: str, accuracy: str = "test accuracy") -> go.Figure:
    """Test accuracy (`accuracy` says which: regime_accuracy) against attack top-1 for the undefended model and
    each MID lambda, with 95% interval bars; MID's frontier rows drawn larger and joined by a dashed staircase."""
    frontier = set(regime.frontier)
    figure = go.Figure()
    for defense in ("none", "mid"):
        rows = [r for r in regime.rows if r.defense == defense]
        if rows:
            add_defense(figure, rows, defense, frontier, [f"{r.label} ({r.seeds} seeds)" for r in rows],
                        connect=defense == "mid")
    return tradeoff_layout(figure, regime.data.identities if regime.data else None,
                           f"{factor} = {level_text(regime.level)}: bars are 95% intervals over seeds; big "
                           "markers and dashes: MID's frontier", height=420, accuracy=accuracy)


def _above(a: Estimate, b: Estimate) -> tuple[bool, bool]:
    """(a's mean above b's, a's 95% interval entirely above b's)."""
    clear = all(v is not None and math.isfinite(v) for v in (a.low, b.high))
    return a.value > b.value, clear and a.low > b.high


def _mid_rows(regime: Regime) -> list[StudyRow]:
    return sorted((row for row in regime.rows if row.defense == "mid"), key=lambda row: row.lambda_)


# How the judge panel reads MID's effect on one sweep (core.panel_claims), in a few words for the claims table.
PANEL_VERDICTS = {"lowers": "lowered for every judge", "noise": "within the noise for every judge",
                  "split": "the judges disagree", "raises": "raised for every judge"}


def panel_effects(sweeps: list[SweepResults]) -> list[tuple[SweepResults, PanelEffect]]:
    """Every sweep the judge panel scored, with the panel's reading of MID at the sweep's default lambda (the
    strongest within 0.1 of lambda = 0's test accuracy, core.story.default_lambda) against lambda = 0."""
    found = [(results, panel_effect(results, default_lambda(results))) for results in sweeps]
    return [(results, effect) for results, effect in found if effect is not None]


def claims(studies: list[StudyResults], comparisons: list[ComparisonResults],
           sweeps: list[SweepResults] = ()) -> list[dict[str, str]]:
    """The paper's claims (paraphrased, Wang, Zhang & Jia, AAAI 2021) beside what the stored studies, comparisons
    and (by the judge panel) sweeps measured; 'not measured yet' with the command that would measure it."""
    # A regime shared by several studies (each study's level equal to their common base) counts once.
    distinct = {r.sweep_hash or f"{s.config_hash}/{i}": r for s in studies for i, r in enumerate(s.regimes)}
    regimes = list(distinct.values())
    where = f"{len(regimes)} distinct regime(s) of {len(studies)} stud{'y' if len(studies) == 1 else 'ies'}"
    todo = f"not measured yet: `{STUDY_COMMAND}`"

    counts = {word: sum(status(r) == word for r in regimes) for word in STATUS.values()}
    with_reference = [r for r in regimes if r.verdict_mid_reference]
    against_mid = {word: sum(STATUS.get(r.verdict_mid_reference.verdict) == word for r in with_reference)
                   for word in STATUS.values()}
    second = (f" Against the MID lambda=0 reference (the KL term alone), in {len(with_reference)} regime(s) where it "
              "was computed: " + ", ".join(f"{word} in {n}" for word, n in against_mid.items()) + "."
              if with_reference else " Against the MID lambda=0 reference: not computed in any stored study.")
    attack = (f"{where}: against the undefended model, " + ", ".join(f"{word} in {n}" for word, n in counts.items()) +
              " (each regime's verdict, by the rule below)." + second) if regimes else todo
    panelled = [r for r in regimes if r.panel_verdicts]
    if panelled:
        def unanimous(regime: Regime) -> bool:
            second = regime.verdict_mid_reference
            return {v.verdict for v in regime.panel_verdicts} == {regime.verdict.verdict} and (
                second is None or {v.verdict_mid_reference for v in regime.panel_verdicts} == {second.verdict})

        agree = sum(map(unanimous, panelled))
        attack += (f" By the judge panel (the same rule with each judge's top-1) in {len(panelled)} regime(s): every "
                   f"judge gives the regime's verdicts against both references in {agree}, not every judge in "
                   f"{len(panelled) - agree}.")
    effects = panel_effects(list(sweeps))
    if effects:
        verdicts = [effect.verdict for _, effect in effects]
        attack += (f" By the judge panel, on {len(effects)} stored sweep(s) at the strongest lambda within 0.1 of "
                   "lambda = 0's test accuracy: " + ", ".join(f"{word} in {verdicts.count(verdict)}" for verdict, word
                                                              in PANEL_VERDICTS.items()) + " (table below).")

    trend = [_mid_rows(r) for r in regimes if len(_mid_rows(r)) >= 2]
    lower = sum(mids[-1].attack_top1.value < mids[0].attack_top1.value for mids in trend)
    costs = sum(mids[-1].test_accuracy.value < mids[0].test_accuracy.value for mids in trend)
    single = " (every stored study has a single lambda)" if regimes else ""
    strength = (f"in {lower} of {len(trend)} regime(s) with two or more lambdas, the largest lambda's mean attack "
                f"top-1 is below the smallest's; its mean test accuracy is below in {costs} (means only, untested)."
                if trend else f"not measured yet{single}: `{STUDY_COMMAND}`")

    spread = []
    for regime in regimes:
        none = next((row for row in regime.rows if row.defense == "none"), None)
        mids = _mid_rows(regime)
        if none and mids:
            spread.append(_above(mids[-1].entropy, none.entropy))
    entropy = (f"{where}: the largest lambda's mean prediction entropy is above the undefended model's in "
               f"{sum(a for a, _ in spread)} of {len(spread)}, with non-overlapping 95% intervals in "
               f"{sum(c for _, c in spread)}.") if spread else todo

    dp = f"not measured yet (a study has no DP-SGD): `{COMPARE_COMMAND}`"
    if comparisons:
        newest = comparisons[0]
        verdicts = "; ".join(f"{ATTACK_NAMES.get(a, a)}: {FRONTIER_WORDS.get(f.verdict, f.verdict)}"
                             + (f" ({panel_frontier_text(f).removesuffix('.')})" if f.panel else "")
                             for a, f in newest.frontiers.items())
        dp = (f"comparison {newest.config_hash} ({newest.data.dataset}): {verdicts} "
              "(frontiers of attack top-1 against test accuracy; see Compare defenses).")
    return [
        {"claim": "MID lowers the accuracy of model inversion attacks at little cost in test accuracy: at matched "
                  "test accuracy, a MID model is attacked less than an undefended one.", "measured": attack},
        {"claim": "A larger lambda (a tighter bottleneck) trades test accuracy for lower attack accuracy.",
         "measured": strength},
        {"claim": "MID limits what a prediction reveals about its input, so its predictions are less confident: "
                  "higher entropy than the undefended model's.", "measured": entropy},
        {"claim": "MID reaches a given attack accuracy at a smaller cost in test accuracy than differentially "
                  "private training (DP-SGD).", "measured": dp},
    ]


def first_point(regime: Regime, label: str) -> StudyPoint | None:
    """The first seed's point behind a row of a regime that has reconstructions (a shipped study keeps only the
    first seed's)."""
    points = sorted((p for p in regime.points if p.label == label and p.grid_path), key=lambda p: p.seed)
    return points[0] if points else None
