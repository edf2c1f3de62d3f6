"""Findings: the paper's claims beside what MID Lab measured, then every stored regime study (core/study.py) with
each regime's finding, its tradeoff, the command that reruns it and the faces behind the numbers."""

from pathlib import Path

import streamlit as st

from core.figures import ATTACK_NAMES
from core.panel_claims import PANEL_CELL_LEGEND, judges_line, panel_cell
from core.paths import results_root
from core.recipes import compare_recipes, recipe_pairs
from core.result_types import StudyPoint, StudyResults, StudyRow, SweepResults
from core.results import attacker_label, format_estimate
from core.stats import within_noise
from core.story import attack_of, interval_text, summary_row
from core.study_figures import (
    PANEL_VERDICTS,
    STATUS,
    STUDY_COMMAND,
    claims,
    first_point,
    level_text,
    machine,
    mid_reference_line,
    panel_effects,
    panel_verdict_line,
    regime_accuracy,
    status,
    study_command,
    study_figure,
    timings_text,
    verdict_status,
)
from dashboard import loaders
from dashboard.text import plain

PAPER = ("Wang, Zhang & Jia, *Improving Robustness to Model Inversion Attacks via Mutual Information "
         "Regularization*, AAAI 2021")


def caption(row: StudyRow, point: StudyPoint) -> str:
    sink = point.attack.sink
    unreliable = (f" · the judge's figure on these faces is UNRELIABLE: it gives {sink.count} of {sink.n} to "
                  "one person (the sink rule)" if sink and sink.flagged else "")
    panel = (f" · judge panel top-1 {panel_cell(row.panel)}, every judge names {row.panel.identified_by_all:.3g} "
             f"of {row.panel.n}" if row.panel is not None else "")
    return (f"{row.label}: test accuracy {format_estimate(row.test_accuracy)} · attack top-1 "
            f"{format_estimate(row.attack_top1)}{panel} (95% intervals over {row.seeds} seeds; the panel's range "
            f"of judges; faces of seed {point.seed}){unreliable}")


def faces(results: StudyResults, folder: Path) -> None:
    """A chosen row's reconstructions (first seed) beside the undefended model's, in a chosen regime."""
    key, regimes = results.config_hash, results.regimes
    left, right = st.columns(2)
    index = left.selectbox(f"Regime ({results.factor})", range(len(regimes)), key=f"faces_level_{key}",
                           format_func=lambda i: f"{results.factor} = {level_text(regimes[i].level)}")
    regime = regimes[index]
    labels = [row.label for row in regime.rows if row.defense != "none"] or [row.label for row in regime.rows]
    picked = right.selectbox("Setting", labels, key=f"faces_row_{key}",
                             help="Its reconstructions, beside those of the undefended model.")
    shown = [row for row in regime.rows if row.defense == "none" and row.label != picked]
    shown += [row for row in regime.rows if row.label == picked]
    for column, row in zip(st.columns(len(shown)), shown, strict=True):
        with column:
            st.markdown(f"**{row.label}**")
            point = first_point(regime, row.label)
            if point is None:
                st.warning(f"The study file lists no model behind {row.label}: no faces to show.")
                continue
            image = loaders.grid_image(point.grid_path, folder, f"{point.label} (seed {point.seed})",
                                       "Rerunning the study's command")
            if image is not None:
                st.image(image, caption=caption(row, point), width="stretch")


def show_study(path: Path, results: StudyResults) -> None:
    factor, key = results.factor, results.config_hash
    st.header(f"Study of {factor}: {', '.join(level_text(level) for level in results.levels)}")
    lambdas = ", ".join(f"{value:g}" for value in results.lambdas)
    st.caption(f"Made {plain(results.created or '?')} · {plain(path.name)} · MID lambdas {lambdas} · "
               f"{len(results.seeds)} training seeds per point (seeds {', '.join(map(str, results.seeds))}) · "
               f"attacker: {attacker_label(results.config['base']['attack']['view'])}")
    memory = f" · peak memory {results.peak_memory_mb:.0f} MiB" if results.peak_memory_mb else ""
    computed = (f" · **from an empty store** {results.compute_s / 60:.0f} min of training and attacks (as "
                "recorded with each model)") if results.compute_s else ""
    st.markdown(f"**Ran on** {machine(results)} · **this run** {timings_text(results.timings)}{memory}"
                f"{computed}")
    command, exact = study_command(results)
    st.code(command, language="bash", wrap_lines=True)
    st.caption("It reruns exactly this study; with the same store, every model and attack is reused." if exact else
               "This study used settings no command-line option sets (it was made in code, for instance by a test "
               "with shrunken models): the command runs the nearest study, which gets a different hash.")
    with st.expander("The rule behind each verdict"):
        st.markdown(results.rule)
        st.markdown("Each regime is judged by this rule against two references. The status shown first is against "
                    "**the undefended model** (a plain linear head trained without the KL term). The second, "
                    "**the MID lambda=0 reference**, is the same MID architecture trained at lambda = 0 (the "
                    "bottleneck without its KL term): against it a verdict isolates what the KL term does, and its "
                    "test accuracy is within the MID models' reach.")
        st.markdown("The status says what the verdict means for the paper's claim that MID lowers attack accuracy "
                    f"at equal test accuracy: yes -> **{STATUS['yes']}**, no -> **{STATUS['no']}**, inconclusive -> "
                    f"**{STATUS['inconclusive']}**. Every status is shown alike: a claim that does not reproduce "
                    "is as much a finding as one that does.")
    for index, regime in enumerate(results.regimes):
        st.subheader(f"{factor} = {level_text(regime.level)}")
        # One neutral style for every outcome: the page takes no side.
        st.info(f"**{status(regime)}** · {regime.finding}")
        st.caption(f"Second reference · {mid_reference_line(regime)}")
        if regime.panel_verdicts:
            cells = " · ".join(f"{row.label} {panel_cell(row.panel)}" for row in regime.rows)
            st.caption(f"Judge panel · {panel_verdict_line(regime)} Attack top-1 by the panel: {cells} "
                       f"({PANEL_CELL_LEGEND}; {judges_line(regime.panel_judges)}).")
        st.plotly_chart(study_figure(regime, factor, regime_accuracy(results, regime.level)), width="stretch",
                        key=f"study_{key}_{index}")
        data, judge = regime.data, regime.evaluator
        details = [f"{data.dataset}: {data.identities} identities, {data.train_images} training / "
                   f"{data.test_images} test images" if data and None not in (data.train_images, data.test_images)
                   else None,
                   f"judge's held-out accuracy {format_estimate(judge.heldout_accuracy)}" if judge else None,
                   f"time {timings_text(regime.timings)}" if regime.timings else None]
        if any(details):
            st.caption(" · ".join(d for d in details if d))
    st.subheader("Show me the faces")
    faces(results, path.parent)
    st.caption("One reconstruction per person, in label order. The judge can be wrong both ways: look at the "
               "faces, not only at the numbers.")


def recipe_faces(fast, paper, lambdas: list[float], key: str) -> None:
    """The first people by name: the original, then each recipe's reconstruction at a chosen lambda."""
    mid_lambda = st.select_slider("lambda", lambdas, key=f"recipe_lambda_{key}", format_func=lambda v: f"{v:g}",
                                  help="Both recipes attacked the same target at this lambda.")
    people = range(min(8, len(paper.names)))
    originals, _ = loaders.sweep_originals(paper)
    shown = [("fast recipe", loaders.reconstructions(fast, mid_lambda)),
             ("paper recipe", loaders.reconstructions(paper, mid_lambda))]
    for column, label in zip(st.columns(len(people)), people, strict=True):
        with column:
            if len(originals):
                st.image(originals[label], caption=f"{plain(paper.names[label])} (private)", width="stretch")
            for name, faces in shown:
                st.image(faces[label], caption=name, width="stretch")


def recipe_comparisons(sweeps: list) -> list[tuple]:
    """(fast sweep, paper sweep, their comparison) for every pair of GMI recipes on the same targets."""
    by_results = {id(s.typed): s for s in sweeps}
    return [(by_results[id(fast)], by_results[id(paper)], compare_recipes(fast, paper))
            for fast, paper in recipe_pairs([s.typed for s in sweeps])]


def show_recipes(fast, paper, compared: dict) -> None:
    """GMI's fast and paper recipes on the same targets: per lambda, paired; each recipe's regime judged."""
    results = paper.typed
    st.header(f"Attack recipe: fast vs paper ({plain(results.data.dataset.upper())}, "
              f"{plain(results.config['attack']['view'])} view)")
    st.caption("GMI's fast recipe (MID Lab's: screened starts, 40 Adam steps) and the paper's (the official loop: "
               "5 random restarts, 1500 SGD steps) on the same targets, scored by the same judge. One training seed: "
               "the 95% intervals are over the people (attack) and the test photos (accuracy), not over seeds; each "
               "recipe is judged by the study's rule against its own lambda = 0 model.")
    table = ["| lambda | test accuracy | fast top-1 | paper top-1 | paper: any restart named | paper - fast "
             "(paired) |", "| --- | --- | --- | --- | --- | --- |"]
    for row in compared["per_lambda"]:
        change = row["paper_minus_fast"]
        reading = "within the noise" if within_noise(change) else f"p = {change['p_value']:.3f}"
        any_restart = format_estimate(row["paper_any_restart"]) if row["paper_any_restart"] else "not recorded"
        table.append(f"| {row['lambda']:g} | {format_estimate(row['test_accuracy'])} | "
                     f"{format_estimate(row['fast_top1'])} | {format_estimate(row['paper_top1'])} | {any_restart} | "
                     f"{interval_text(change)} ({reading}) |")
    st.markdown("\n".join(table))
    for regime in compared["regimes"]:
        st.info(f"**{verdict_status(regime['verdict']['verdict']) if regime['verdict'] else 'not judged'}** · "
                f"{regime['finding']}")
    recipe_faces(fast, paper, compared["lambdas"], results.config_hash)


def show_panel_effects(sweeps: list[SweepResults]) -> None:
    """What MID does to each attack in every sweep the judge panel scored, judge by judge, at the sweep's default
    lambda against lambda = 0, on the same people."""
    effects = panel_effects(sweeps)
    if not effects:
        return
    st.subheader("What MID does to each attack, by the judge panel")
    st.caption("Each sweep scored by a panel of judges of different families (core/panel.py), at the strongest "
               "lambda whose test accuracy stays within 0.1 of lambda = 0's, against lambda = 0 on the same people "
               "(paired 95% intervals). A claim holds when it holds for every judge; ! marks a judge the sink rule "
               "flags on these reconstructions (its figure is unreliable).")
    table = ["| Data | Attack (attacker's view) | lambda (test accuracy) | Each judge's top-1, from lambda = 0 | "
             "Every judge says |", "| --- | --- | --- | --- | --- |"]
    for results, effect in effects:
        base, row = results.summary[0], summary_row(results, effect.mid_lambda)
        judges = "; ".join(f"{judge.name}{'!' if judge.unreliable else ''} {judge.before:.2f} -> {judge.after:.2f} "
                           f"({interval_text(judge.change)})" for judge in effect.judges)
        recipe = ", paper recipe" if results.config["attack"].get("gmi", {}).get("recipe") == "paper" else ""
        table.append(f"| {plain(results.data.dataset.upper())} | {ATTACK_NAMES[attack_of(results)]}{recipe} "
                     f"({plain(results.config['attack']['view'])} view) | {effect.mid_lambda:g} "
                     f"({base.test_accuracy.value:.2f} -> {row.test_accuracy.value:.2f}) | {judges} | "
                     f"**{PANEL_VERDICTS[effect.verdict]}** |")
    st.markdown("\n".join(table))


st.title("Findings")
found = loaders.studies()
st.subheader("The paper's claims beside what MID Lab measured")
st.caption(f"The claims are paraphrased from {PAPER}; the measurements are this installation's stored studies "
           "and the newest defense comparison. A claim that holds in one regime may fail in another: read each "
           "regime below.")
table = ["| The paper's claim (paraphrased) | Measured here |", "| --- | --- |"]
sweeps = loaders.sweeps()
table += [f"| {row['claim']} | {row['measured']} |"
          for row in claims([results for _, results in found], [results for _, results in loaders.comparisons()],
                            [sweep.typed for sweep in sweeps])]
st.markdown("\n".join(table))
show_panel_effects([sweep.typed for sweep in sweeps])

recipes = recipe_comparisons(sweeps)
if found or recipes:
    st.subheader("Every regime at a glance")
    st.caption("One row per regime of every stored study and attack-recipe comparison, in the order below; each is "
               "explained, plotted and shown in faces further down.")
    glance = ["| Study | Regime | Status (vs undefended) | Finding | vs MID lambda=0 |",
              "| --- | --- | --- | --- | --- |"]
    glance += [f"| {results.factor} (`{results.config_hash}`) | {results.factor} = {level_text(r.level)} | "
               f"**{status(r)}** | {r.finding} | "
               f"{r.verdict_mid_reference.verdict if r.verdict_mid_reference else 'not computed'} |"
               for _, results in found for r in results.regimes]
    glance += [f"| attack recipe (`{paper.key}`) | attack recipe = {r['recipe']} | no undefended model swept | "
               f"{r['finding']} | {r['verdict']['verdict'] if r['verdict'] else 'not judged'} |"
               for _, paper, compared in recipes for r in compared["regimes"]]
    st.markdown("\n".join(glance))
if not found:
    st.info(f"No study to show: neither the shipped `assets/studies` nor {plain(results_root().resolve())} holds one. "
            f"Run `{STUDY_COMMAND}` (the default study: lambda swept with the attack, both controls and the "
            "bottleneck size, three seeds each; about 41 minutes on two CPU cores), or vary one factor, e.g. "
            "`python -m core study --factor images_per_identity --levels 4,10`; `MIDLAB_RESULTS=DIR` points the "
            "dashboard at another results folder.")
for study_path, study in found:
    st.divider()
    show_study(study_path, study)
for fast, paper, compared in recipes:
    st.divider()
    show_recipes(fast, paper, compared)
