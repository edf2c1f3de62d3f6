"""Sweep results: the figures per lambda with their intervals, and the reconstructions behind them."""

from pathlib import Path

import streamlit as st

from core.config import RESULTS_ENV, results_root
from core.results import FIGURE_LABELS, list_sweeps, load_results, summary_table

st.title("MID Lab: sweep results")
st.caption(
    "Each row is one MID model strength lambda: the target's test accuracy, and how well the model inversion "
    "attack recovers each person, judged by an independently trained evaluation classifier. "
    "Brackets are 95% intervals. Look at the faces too: a judge's verdict can be wrong."
)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_results(path: str, modified: float) -> dict | None:
    return load_results(Path(path))


folder = results_root()
sweeps = list_sweeps(folder)
if not sweeps:
    st.info(
        f"No sweep results in `{folder.resolve()}` yet. Run `python -m core sweep` (about five minutes on two "
        f"CPU cores), or point the dashboard at a results folder with `{RESULTS_ENV}=DIR`."
    )
    st.stop()

chosen = st.selectbox("Sweep", sweeps, format_func=lambda p: p.name,
                      help="Results files in the results folder, newest first.")
results = cached_results(str(chosen), chosen.stat().st_mtime)
if results is None:
    st.error(f"`{chosen}` is unreadable or not a sweep results file; run the sweep again to rewrite it.")
    st.stop()

config = results["config"]
evaluator = results["evaluator"]
st.markdown(
    f"**{results['data']['dataset']}**: {results['data']['identities']} identities, "
    f"{results['data']['train_images']} training / {results['data']['test_images']} test images. "
    f"Attack **{config['attack']['attack']}** with the **{config['attack']['view']}** view. "
    f"The judge's own held-out accuracy: **{evaluator['heldout_accuracy']['value']:.2f}**. "
    f"Sweep `{results['config_hash']}`."
)

rows = summary_table(results)


def fmt(row: dict, label: str, digits: int = 2) -> str:
    value, low, high = row[label], row[f"{label} low"], row[f"{label} high"]
    if low is None or high is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


st.dataframe(
    [{"lambda": f"{row['lambda']:g}", **{label: fmt(row, label, 1 if label == "feature distance" else 2)
                                         for label in FIGURE_LABELS.values()}} for row in rows],
    hide_index=True, width="stretch",
)

st.subheader("Reconstructions")
lambdas = [row["lambda"] for row in rows]
picked = st.select_slider("lambda", options=lambdas, value=lambdas[0], format_func=lambda v: f"{v:g}",
                          help="The MID weight: larger squeezes more information out of the model's code z.")
for run in (r for r in results["runs"] if r["lambda"] == picked):
    grid = Path(run["grid_path"])
    caption = (f"seed {run['seed']}: one reconstruction per identity; attack top-1 "
               f"{run['attack']['top1']['value']:.2f}, model {run['target_key']}")
    if grid.exists():
        st.image(str(grid), caption=caption, width="stretch")
    else:
        st.warning(f"The reconstructions for seed {run['seed']} are not in the store any more ({grid}).")
