"""Compare defenses: MID, DP-SGD and output-side defenses against the same attacks, their frontiers and faces."""

from pathlib import Path

import streamlit as st

from core.figures import ATTACK_NAMES, comparison_figure, figure_png, png_export_available, spread_figure
from core.panel_claims import PANEL_CELL_LEGEND, judges_line, panel_cell
from core.paths import results_root
from core.report import csv_text, table_rows
from core.result_types import ComparisonPoint, ComparisonResults, ComparisonRow
from core.results import attacker_label, format_estimate
from core.study_figures import panel_frontier_text
from core.summaries import defense_setting
from dashboard import loaders, state
from dashboard.text import plain


def from_url(key: str, param: str, options: list[str]) -> None:
    """Start a control at the URL's value (first visit only), then keep it among the options."""
    state.settle_choice(key, None if key in st.session_state else st.query_params.get(param), options, param)


def to_url(param: str, value: str) -> None:
    if st.query_params.get(param) != value:
        st.query_params[param] = value


def describe(config_hash: str) -> str:
    path, results = by_hash[config_hash]
    origin = "shipped" if path.parent == loaders.COMPARISONS_DIR else "yours"
    return f"{origin} · {results.data.dataset} · {results.created or '?'} · {config_hash}"


def first_point(results: ComparisonResults, row: ComparisonRow, attack: str) -> ComparisonPoint:
    """The first seed's model behind a summary row: the first point of its defense setting."""
    wanted = defense_setting(row.defense, row.strength, row.label)
    return next(p for p in results.points
                if defense_setting(p.defense, p.strength, p.label) == wanted and attack in p.attacks)


def caption(row: ComparisonRow, point: ComparisonPoint, attack: str) -> str:
    scores = row.attacks[attack]
    epsilon = f" · epsilon {row.epsilon:.3g}" if row.epsilon is not None else ""
    panel = (f" · judge panel top-1 {panel_cell(scores.panel)}, every judge names "
             f"{scores.panel.identified_by_all:.3g} of {scores.panel.n}" if scores.panel is not None else "")
    return (f"{row.label}: test accuracy {format_estimate(row.test_accuracy)} · attack top-1 "
            f"{format_estimate(scores.top1)} · top-5 {format_estimate(scores.top5)}{epsilon}{panel} (95% intervals "
            f"over {row.seeds} seed(s); the panel's range of judges; faces of seed {point.seed})")


def formatted(row: dict) -> dict:
    """A table_rows row for reading: each estimate as 'value [low, high]', epsilon to 3 digits."""
    shown = {}
    for name, value in row.items():
        if name.endswith((" low", " high")):
            continue
        if f"{name} low" in row:
            estimate = {"value": value, "low": row[f"{name} low"], "high": row[f"{name} high"]}
            shown[name] = "-" if value is None else format_estimate(estimate)
        elif name == "epsilon":
            shown[name] = "-" if value is None else f"{value:.3g}"
        else:
            shown[name] = value
    return shown


st.title("Compare defenses")
found = loaders.comparisons()
if not found:
    st.info(f"No comparison to show: `assets/comparisons` and {plain(results_root().resolve())} hold none. Run "
            "`python -m core compare` to train and attack every defense on equal terms (slow: many models), then "
            "`python -m core report` for slides; `MIDLAB_RESULTS=DIR` points the dashboard at another results folder.")
    st.stop()

by_hash: dict[str, tuple[Path, ComparisonResults]] = {}
for file, found_results in found:  # the same comparison shipped and rerun here: the shipped one
    by_hash.setdefault(found_results.config_hash, (file, found_results))
from_url("compare_file", "comparison", list(by_hash))
path, results = by_hash[st.selectbox("Comparison", list(by_hash), key="compare_file", format_func=describe,
                                     help="The shipped comparisons first, then your results folder's, newest first.")]
to_url("comparison", results.config_hash)
data = results.data
held_out = ", ".join(f"{judge.name} {judge.heldout_accuracy.value:.2f}" for judge in results.panel_judges)
judged = (f"scored by a panel of {len(results.panel_judges)} judges (held-out accuracy {held_out}); the plots and "
          "top-1 columns are the first judge's" if results.panel_judges else
          f"scored by one judge (held-out accuracy {results.evaluator.heldout_accuracy.value:.2f})")
st.caption(f"**{data.dataset}**: {data.identities} identities, {data.train_images} training / "
           f"{data.test_images} test images; every model attacked by the same attacks and {judged}; the attacker "
           f"of a MID model: {attacker_label(results.settings.sweep.attack.view)}.")

controls, explanation = st.columns([3, 2])
with controls:
    from_url("compare_attack", "attack", results.attacks)
    attack = st.radio("Attack", results.attacks, key="compare_attack", horizontal=True,
                      format_func=lambda a: ATTACK_NAMES.get(a, a),
                      help="White-box attacks (MI-Face, GMI) read the model's gradients; the inversion network "
                           "sees only its outputs.")
    to_url("attack", attack)
    report = results.frontiers[attack]
    # One neutral colour whichever defense wins: the sentence says who, the page takes no side.
    st.info(f"**{ATTACK_NAMES.get(attack, attack)}.** {report.sentence} {panel_frontier_text(report)}".rstrip())
    if report.control:
        st.info(f"**Control.** {report.control}")
    tradeoff = comparison_figure(results, attack)
    st.plotly_chart(tradeoff, width="stretch")
    if png_export_available():  # drawn on the server only when clicked: it takes a few seconds
        st.download_button("Download the plot (PNG)", lambda: figure_png(tradeoff),
                           file_name=f"comparison_{results.config_hash}_{attack}.png", mime="image/png",
                           help="For slides; `python -m core report` writes every plot and table at once.")
with explanation, st.container(border=True, height=620):  # scrolls beside the plot
    st.markdown(f"""
**Reading the plot.** Each marker is one defended model: up is more useful (test accuracy), right is less private
(the share of people the attack recovers, as judged). The best place is top left.

**lambda (MID)** weighs a penalty on the information the model's internal code keeps about the photo: 0 is an
ordinary classifier, larger squeezes more out, for the attacker and eventually for recognition too.

**Noise multiplier (DP-SGD)**: every training step clips each photo's gradient and adds Gaussian noise this many
times the clipping bound. More noise, more privacy, slower learning.

**epsilon** is the guarantee that noise buys, counted by an accountant: how much any single training photo can
change what the model does. Smaller is a stronger promise. MID has no epsilon: its protection is measured here,
not proven.

**The frontier** of a defense is the best privacy it reaches at each level of usefulness: the lowest attack
accuracy among its models at least that accurate (the dashed staircases). Where one frontier lies left of the other
at every accuracy both reach, that defense does better against this attack; otherwise neither dominates.

**The control** (orange triangle) is DP-SGD's own model, narrower and with GroupNorm, trained on DP-SGD's
schedule but without clipping or noise. Where it resists the attacks as well as DP-SGD does, the credit belongs to
the model, not to the privacy mechanism.

**Output defenses** (label only, rounding, noise) change only what the undefended
model's API answers. The model itself still knows everything, so they only matter against the black-box inversion
network; a white-box attacker reads the model directly.

**Why DP-SGD struggles here.** With {data.train_images} training photos, each batch is a large share of the
data, so the accountant charges a lot per step, and the noise is large next to the few gradients it hides: a small
epsilon costs much accuracy. And DP protects each *photo*; model inversion recovers what a *person's* photos share.
""")

st.subheader("Show me the faces")
rows = [row for row in results.summary if attack in row.attacks]
defended = [row.label for row in rows if row.defense != "none"] or [row.label for row in rows]
picked = st.selectbox("Defense setting", defended, help="Its reconstructions, beside those of the undefended model.")
shown = [row for row in rows if row.defense == "none" and row.label != picked]
shown += [row for row in rows if row.label == picked]
for column, row in zip(st.columns(len(shown)), shown, strict=True):
    point = first_point(results, row, attack)
    with column:
        st.markdown(f"**{row.label}**")
        image = loaders.grid_image(point.attacks[attack].grid_path, path.parent, point.label,
                                   "Running `python -m core compare` again")
        if image is not None:
            st.image(image, caption=caption(row, point, attack), width="stretch")
st.caption("One reconstruction per person, ten to a row, in label order. The judge can be wrong both ways: look "
           "at the faces, not only at the numbers.")

st.subheader("How sure is each model?")
measure = st.radio("Measure", ["confidence", "entropy"], horizontal=True, key="compare_measure",
                   format_func=lambda m: {"confidence": "top-1 confidence", "entropy": "entropy"}[m],
                   help="Over the test images: MID and DP-SGD spread the predictions in different ways.")
st.plotly_chart(spread_figure(results, measure), width="stretch")

st.subheader("Every setting")
flat = table_rows(results)
# The judge panel's figures take one column per attack here (median [range]); the CSV has every judge's.
shown_rows = [formatted(row) | {f"{attack} panel": panel_cell(summary.attacks[attack].panel)
                                for attack in summary.attacks if results.panel_judges}
              for row, summary in zip(table_rows(results, panel=False), results.summary, strict=True)]
columns = list(dict.fromkeys(name for row in shown_rows for name in row))
st.dataframe([{name: row.get(name, "-") for name in columns} for row in shown_rows], hide_index=True,
             width="stretch")
if results.panel_judges:
    st.caption(f"{PANEL_CELL_LEGEND}. {judges_line(results.panel_judges)}.")
st.download_button("Download the table (CSV)", csv_text(flat), file_name=f"comparison_{results.config_hash}.csv",
                   mime="text/csv", help="Every figure with its 95% interval bounds, one row per defense setting.")
