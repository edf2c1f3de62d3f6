"""What MID does to an attack in the judge panel's terms (core/panel.py): a claim holds when it holds for every
judge of the panel, not for one. Per judge, the change in top-1 from lambda = 0 on the same people (paired:
Newcombe's interval, McNemar's p), and the panel's word for it. Light: no torch, for the pages and the report."""

from __future__ import annotations

from dataclasses import dataclass

from core.result_types import PanelJudge, PanelJudgeScore, PanelPool, PanelRow, SweepResults
from core.stats import paired_difference, within_noise

# What one judge's paired change says, and the panel's word when every judge says the same.
EFFECT_WORDS = {"lowers": "MID lowers it", "noise": "within the noise", "raises": "the attack gains"}


@dataclass(frozen=True)
class JudgeChange:
    """One panel judge's top-1 at lambda = 0 and at the chosen lambda, and the paired change between them."""

    name: str
    before: float
    after: float
    change: dict[str, float]
    unreliable: bool  # the sink rule flags the judge on either result

    @property
    def effect(self) -> str:
        return "noise" if within_noise(self.change) else "lowers" if self.change["value"] < 0 else "raises"


@dataclass(frozen=True)
class PanelEffect:
    mid_lambda: float
    judges: list[JudgeChange]

    @property
    def verdict(self) -> str:
        """'lowers', 'noise' or 'raises' when every judge says so; 'split' when the judges disagree."""
        effects = {judge.effect for judge in self.judges}
        return effects.pop() if len(effects) == 1 else "split"

    def reading(self) -> str:
        """The panel's reading in a few words: the verdict every judge shares, or that the judges disagree."""
        if self.verdict == "split":
            return "the judges disagree"
        return f"{EFFECT_WORDS[self.verdict]} for all {len(self.judges)} judges"

    def text(self) -> str:
        """The panel's reading in one clause, how the judges split, each judge with its change ('!': flagged by
        the sink rule)."""
        each = ", ".join(f"{j.name}{'!' if j.unreliable else ''} {j.before:.2f} -> {j.after:.2f}"
                         for j in self.judges)
        counts = {word: sum(j.effect == effect for j in self.judges) for effect, word in EFFECT_WORDS.items()}
        split = (" (" + ", ".join(f"{word}: {n}" for word, n in counts.items() if n) + ")"
                 if self.verdict == "split" else "")
        return f"{self.reading()}{split}: {each}"


def panel_row(results: SweepResults, mid_lambda: float) -> PanelRow | None:
    """The panel's figures at one lambda (core.panel.summarise_panel), None when the panel did not score it."""
    return next((row for row in results.panel_summary if row.lambda_ == mid_lambda), None)


def judges_text(results: SweepResults, row: PanelRow, unreliable: str = "!") -> str:
    """Each judge's top-1 at a panel row, in the panel's order, `unreliable` after a judge the sink rule flags."""
    names = [judge.name for judge in results.panel_judges] or list(row.top1)
    return ", ".join(f"{name} {row.top1[name]:.2f}{unreliable if name in row.flagged else ''}" for name in names)


# What a panel cell shows, for a table's legend.
PANEL_CELL_LEGEND = ("panel: the median of the judges' top-1 and, in brackets, their range (lowest to highest); "
                     "'!': the sink rule flags a judge there (docs/method.md), so its figure is unreliable")


def panel_cell(pool: PanelPool | None) -> str:
    """A setting's panel figures in one table cell: the median top-1 [lowest, highest judge], '!' when the sink
    rule flags any judge; '-' where the panel did not score it."""
    if pool is None:
        return "-"
    return f"{pool.median:.2f} [{pool.range[0]:.2f}, {pool.range[1]:.2f}]{'!' if pool.flagged else ''}"


def judges_line(judges: list[PanelJudge]) -> str:
    """The panel's judges with their held-out accuracy, for a table's legend ('' without a panel)."""
    return ("panel judges (held-out accuracy): " + ", ".join(f"{judge.name} {judge.heldout_accuracy.value:.3f}"
                                                             for judge in judges)) if judges else ""


def _hits(judge: PanelJudgeScore) -> list[bool]:
    # The panel scores one reconstruction per person in label order: reconstruction i aims at person i.
    return [predicted == label for label, predicted in enumerate(judge.predicted)]


def panel_differences(first: SweepResults, second: SweepResults, mid_lambda: float) -> list[tuple[str, dict]]:
    """Each panel judge's top-1 on `first`'s reconstructions minus `second`'s (two attacks on the same models),
    paired on the same people, at `mid_lambda` (first seed); [] when either was not scored by the panel."""
    runs = [next((run for run in results.runs if run.lambda_ == mid_lambda), None) for results in (first, second)]
    if any(run is None or run.panel is None for run in runs):
        return []
    return [(a.name, paired_difference(_hits(a), _hits(b)))
            for a, b in zip(runs[0].panel.judges, runs[1].panel.judges, strict=True) if a.name == b.name]


def panel_effect(results: SweepResults, mid_lambda: float) -> PanelEffect | None:
    """Each panel judge's paired change in top-1 from the sweep's first lambda to `mid_lambda` (first seed of
    each); None when the sweep was not scored by the panel at both, or `mid_lambda` is that first lambda (no
    lambda of the sweep keeps its test accuracy within reach)."""
    if mid_lambda == results.summary[0].lambda_:
        return None
    runs = {run.lambda_: run for run in reversed(results.runs)}  # the first seed's run at each lambda
    before, after = runs.get(results.summary[0].lambda_), runs.get(mid_lambda)
    if before is None or after is None or before.panel is None or after.panel is None:
        return None
    then = {judge.name: judge for judge in before.panel.judges}
    changes = []
    for now in after.panel.judges:
        old = then.get(now.name)
        if old is None:
            return None
        changes.append(JudgeChange(now.name, old.top1.value, now.top1.value, paired_difference(_hits(now), _hits(old)),
                                   now.sink.flagged or old.sink.flagged))
    return PanelEffect(mid_lambda, changes)
