"""The shipped zoo's figures, read from assets/zoo/manifest.json (no torch, no data): per sweep, its table as
`python -m core sweep` prints it, the judge panel's figures per lambda (as `python -m core panel` prints them) and
its reading of MID's effect at the sweep's default lambda, and how far half-precision weights agree with full
precision; then GMI's paper recipe against the fast one on the same models. The README's findings that quote the
zoo are copied from this output.

    .venv/bin/python benchmarks/zoo_figures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository, when run as a script
from core.gallery import attack_siblings, load_zoo
from core.panel import format_panel
from core.panel_claims import panel_differences, panel_effect
from core.recipes import compare_recipes, recipe_pairs
from core.result_types import SweepResults
from core.results import format_estimate
from core.stats import paired_difference
from core.story import default_lambda
from core.sweep import format_table


def main() -> None:
    zoo = load_zoo()
    if not zoo:
        sys.exit("assets/zoo/manifest.json is missing: run `python -m core zoo`")
    for sweep in zoo:
        agreement = [run["half_precision_agreement"] for run in sweep.results["runs"]]
        print(f"\n{sweep.label}\nhalf-precision weights agree with full precision on {min(agreement):.1%} to "
              f"{max(agreement):.1%} of test predictions")
        print(format_table(sweep.typed))
        print(format_panel(sweep.results))
        default = default_lambda(sweep.typed)
        effect = panel_effect(sweep.typed, default)
        if effect is not None:
            print(f"judge panel, lambda {sweep.lambdas[0]:g} -> {default:g} (the default lambda), on the same people: "
                  + effect.text() + "; " + "; ".join(f"{j.name} {format_estimate(j.change)}" for j in effect.judges))
        for other in attack_siblings(sweep, zoo):  # this attack against each other one, on the same people
            hits = [[person.top1 for person in s.run(s.lambdas[0]).attack.per_identity]
                    for s in (sweep, other)]
            attacks = [s.results["config"]["attack"]["attack"] for s in (sweep, other)]
            by_judge = "; ".join(f"{name} {format_estimate(change)}"
                                 for name, change in panel_differences(sweep.typed, other.typed, sweep.lambdas[0]))
            print(f"top-1 {attacks[0]} minus {attacks[1]} at lambda {sweep.lambdas[0]:g}, paired on the same "
                  f"people: {format_estimate(paired_difference(*hits))}" + (f"; by the panel: {by_judge}"
                                                                            if by_judge else ""))
    for fast, paper in recipe_pairs([sweep.typed for sweep in zoo]):
        print_recipes(fast, paper)
    print(f"\nbuilt {zoo[0].results['zoo']['built']}")


def print_recipes(fast: SweepResults, paper: SweepResults) -> None:
    """GMI's paper recipe against the fast one on the same models, per lambda (as the Findings page pairs them)."""
    comparison = compare_recipes(fast, paper)
    print(f"\n{paper.settings.target.data.dataset.upper()} GMI, paper recipe minus fast, paired on the same people")
    for row in comparison["per_lambda"]:
        difference = row["paper_minus_fast"]
        by_judge = "; ".join(f"{name} {format_estimate(change)}"
                             for name, change in panel_differences(paper, fast, row["lambda"]))
        print(f"lambda {row['lambda']:g} (test acc {format_estimate(row['test_accuracy'])}): fast "
              f"{format_estimate(row['fast_top1'])}, paper {format_estimate(row['paper_top1'])}, any of its restarts "
              f"{format_estimate(row['paper_any_restart'])}; paper - fast {format_estimate(difference)} (only paper "
              f"{difference['only_a']} / only fast {difference['only_b']}; McNemar p {difference['p_value']:.3f})"
              + (f"; by the panel: {by_judge}" if by_judge else ""))
    for regime in comparison["regimes"]:
        print(f"{regime['recipe']} recipe: {regime['finding']}")


if __name__ == "__main__":
    main()
