"""Results table: every lambda's figures with their intervals, a CSV download, and the reconstructions."""

import csv
import io

import streamlit as st
from PIL import Image

from core.gallery import GalleryError, tile
from core.results import FIGURE_LABELS, format_figure, summary_table
from dashboard import loaders
from dashboard.text import plain

st.title("Results table")
st.caption(
    "Each row is one MID strength lambda: the target's test accuracy, and how well the model inversion attack "
    "recovers each person, judged by an independently trained evaluation classifier. Brackets are 95% "
    "intervals. Look at the faces too: a judge's verdict can be wrong."
)

sweep = loaders.sweep_selector("Sweep", "The shipped zoo first, then your own results, newest first.")
results = sweep.results
st.markdown(
    f"**{results['data']['dataset']}**: {results['data']['identities']} identities, "
    f"{results['data']['train_images']} training / {results['data']['test_images']} test images. The judge's own "
    f"held-out accuracy: **{results['evaluator']['heldout_accuracy']['value']:.2f}**. Sweep `{sweep.key}`."
)

rows = summary_table(results)


def origin(row: dict) -> dict:
    """Where a joined sweep's point comes from (core.results.join_results); nothing for a sweep of one file."""
    if "origin" not in row:
        return {}
    return {"origin": row["origin"] + (" · scored by another judge" if row["other_judge"] else "")}


st.dataframe(
    [{"lambda": f"{row['lambda']:g}", **origin(row),
      **{label: format_figure(row[name], 1 if name == "feature_distance" else 2)
         for name, label in FIGURE_LABELS.items()}} for row in results["summary"]],
    hide_index=True, width="stretch",
)
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
                       f"{run['attack']['top1']['value']:.2f}; model {run['target_key']}", width="stretch")
png = io.BytesIO()
Image.fromarray(grid).save(png, format="PNG")
st.download_button("Download the reconstructions (PNG)", png.getvalue(),
                   file_name=f"reconstructions_{sweep.key}_lambda{picked:g}.png", mime="image/png")
