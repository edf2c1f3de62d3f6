"""Results table: every lambda's figures with their intervals, a CSV download, and the reconstructions."""

import csv
import io

import streamlit as st
from PIL import Image

from core.errors import GalleryError
from core.images import tile
from core.result_types import JoinedRow
from core.results import SINK_MIN_SHARE, accuracy_axis, format_estimate, scores_sink, summary_labels, summary_table
from dashboard import loaders
from dashboard.text import plain

st.title("Results table")
st.caption(
    "Each row is one MID strength lambda: the target's test accuracy, and how well the model inversion attack "
    "recovers each person, judged by an independently trained evaluation classifier. Brackets are 95% "
    "intervals. Look at the faces too: a judge's verdict can be wrong."
)

sweep = loaders.sweep_selector("Sweep", "The shipped zoo first, then your own results, newest first.")
typed = sweep.typed
st.markdown(
    f"**{typed.data.dataset}**: {typed.data.identities} identities, {typed.data.train_images} training / "
    f"{typed.data.test_images} test images. The judge's own held-out accuracy: "
    f"**{typed.evaluator.heldout_accuracy.value:.2f}**. Sweep `{sweep.key}`. Test accuracy: "
    f"{accuracy_axis(typed.settings)}."
)

rows = summary_table(typed)
classes = typed.data.identities


def sink_flag(mid_lambda: float) -> str:
    """The sink rule (core.metrics.sink_check) on the sweep's judge, per lambda: flagged in any seed's attack?"""
    checks = [scores_sink(run.attack, classes) for run in typed.runs if run.lambda_ == mid_lambda]
    flagged = [check for check in checks if check.flagged]
    if not flagged:
        return "no"
    worst = max(flagged, key=lambda check: check.share)
    return f"UNRELIABLE: {worst.count} of {worst.n} to {typed.class_names[worst.class_]}"


def origin(row: JoinedRow) -> dict:
    """Where a joined sweep's point comes from (core.results.join_results); nothing for a sweep of one file."""
    if row.origin is None:
        return {}
    return {"origin": row.origin + (" · scored by another judge" if row.other_judge else "")}


st.dataframe(
    [{"lambda": f"{row.lambda_:g}", **origin(row),
      **{label: format_estimate(getattr(row, name), 1 if name == "feature_distance" else 2)
         for name, label in summary_labels(typed.settings).items() if getattr(row, name) is not None},
      "judge's sink check": sink_flag(row.lambda_)} for row in typed.summary],
    hide_index=True, width="stretch",
)
st.caption(f"Sink check: a judge that gives one person far more of the reconstructions than chance would "
           f"(one-sided binomial test against 1/{classes}, corrected for the {classes} people, at 1%, and at "
           f"least {SINK_MIN_SHARE:.0%} of them) says more about itself than about the images: its attack "
           "figures are marked unreliable.")

st.subheader("The judge panel")
if typed.panel_summary:
    held = ", ".join(f"{judge.name} {judge.heldout_accuracy.value:.2f}" for judge in typed.panel_judges)
    st.caption(f"Every reconstruction scored by judges of different families (held-out accuracy: {held}). A claim "
               "holds when it holds over the panel's range, not for one judge.")
    st.dataframe([{"lambda": f"{row.lambda_:g}",
                   **{f"{name} top-1": f"{value:.2f}" + (" (unreliable: sink)" if name in row.flagged else "")
                      for name, value in row.top1.items()},
                   "panel median": f"{row.median:.2f}", "panel range": f"{row.range[0]:.2f} to {row.range[1]:.2f}",
                   "named by every judge": f"{row.identified_by_all:g} of {row.n}"}
                  for row in typed.panel_summary], hide_index=True, width="stretch")
else:
    st.caption(f"This sweep has no panel figures yet: `python -m core panel --results sweep_{sweep.key}.json` adds "
               "them from the stored reconstructions (the sweep's judge, a residual net and PCA + LDA).")
buffer = io.StringIO()
writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
writer.writeheader()
writer.writerows(rows)
st.download_button("Download the table (CSV)", buffer.getvalue(), file_name=f"sweep_{sweep.key}.csv",
                   mime="text/csv", help="Every figure with its 95% interval bounds, one row per lambda.")

st.subheader("Reconstructions")
picked = st.select_slider("lambda", options=sweep.lambdas, format_func=lambda v: f"{v:g}",
                          help="The MID weight: larger squeezes more information out of the model's code z.")
run = sweep.run(picked)
try:
    grid = tile(loaders.reconstructions(sweep, picked))
except GalleryError as error:
    st.error(plain(error))
    st.stop()
st.image(grid, caption=f"One reconstruction per identity, in label order; attack top-1 "
                       f"{run.attack.top1.value:.2f}; model {run.target_key}", width="stretch")
png = io.BytesIO()
Image.fromarray(grid).save(png, format="PNG")
st.download_button("Download the reconstructions (PNG)", png.getvalue(),
                   file_name=f"reconstructions_{sweep.key}_lambda{picked:g}.png", mime="image/png")
