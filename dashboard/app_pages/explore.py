"""Explore: move lambda and see what the attacker recovers, next to the real faces and the tradeoff curve."""

import plotly.graph_objects as go
import streamlit as st

from core.errors import DataError, GalleryError
from core.figures import ATTACK_NAMES, figure_png, png_export_available
from core.gallery import attack_siblings
from core.story import DEFAULT_PEOPLE, attack_of, short_names
from dashboard import loaders, state
from dashboard.charts import OTHER_JUDGE, TRAINED_HERE, spread_figure, sweep_tradeoff
from dashboard.lambda_cards import lambda_panels
from dashboard.live_chart import live_faces, live_plotly_chart
from dashboard.text import plain


@st.cache_resource(max_entries=64, show_spinner=False)
def figures(_sweep, sweep_version: str, _siblings, sibling_versions: tuple[str, ...],
            mid_lambda: float) -> tuple[go.Figure, str, str, go.Figure | None, str]:
    """The two figures (the tradeoff also as JSON and HTML, the spread as JSON), built once per lambda and shared,
    never copied: building a Plotly figure costs more than the rest of a rerun. Read-only: nothing may change
    them. The same models under other attacks are extra curves."""
    others = [(ATTACK_NAMES[attack_of(s.typed)], s.typed.summary) for s in _siblings]
    tradeoff = sweep_tradeoff(_sweep, mid_lambda, name=ATTACK_NAMES[attack_of(_sweep.typed)] + " (shown)",
                              others=others)
    spread = spread_figure(_sweep, mid_lambda)
    return (tradeoff, tradeoff.to_json(), tradeoff.to_html(include_plotlyjs="cdn"), spread,
            "" if spread is None else spread.to_json())


def caption(sweep, mid_lambda: float, label: int, names: list[str]) -> str:
    """A reconstruction's caption: its lambda, the judge's probability for the right person and its verdict (✓ it
    names the right person; ✗ and whom it names instead, by `names`), short enough for two lines in a projector's
    column. Plain text (the browser sets it as text): st.image gets it through dashboard.text.plain."""
    judged = sweep.run(mid_lambda).attack.per_identity[label]
    verdict = "✓" if judged.top1 else f"✗ {names[judged.predicted]}"
    return f"λ={state.lambda_text(mid_lambda)} · {judged.evaluator_confidence:.2f} {verdict}"


st.title("Explore: what can an attacker recover?")
sweeps = loaders.require_sweeps()

sweep = state.pick_sweep(sweeps)
attack_name = ATTACK_NAMES[attack_of(sweep.typed)]
st.caption(f"{attack_name} asks the trained model what makes it say *this person*, and paints the answer. MID's "
           "weight **lambda** trades accuracy for privacy.")
mid_lambda = state.pick_lambda(sweep)
identities = state.pick_identities(sweep)
state.write_url(sweep, mid_lambda, identities)

try:
    originals, names = loaders.sweep_originals(sweep)
except DataError as error:
    originals = None
    st.warning(f"Original faces are read from the dataset, which is not available here: {plain(error)}")

try:
    free = loaders.reconstructions(sweep, sweep.lambdas[0])
    chosen = loaders.reconstructions(sweep, mid_lambda)
except GalleryError as error:
    st.error(plain(error))
    st.stop()

labels = [sweep.names.index(name) for name in identities]
shown_names = short_names(sweep.names)  # for the captions: narrow columns
columns = st.container(key="explore-faces").columns(len(labels)) if labels else []
for index, (column, label) in enumerate(zip(columns, labels, strict=True)):
    with column:
        if originals is not None:
            st.image(originals[label], caption=plain(shown_names[label]), width="stretch")
        else:
            st.markdown(f"**{plain(shown_names[label])}**")
        st.image(free[label], caption=plain(caption(sweep, sweep.lambdas[0], label, shown_names)), width="stretch")
        with st.container(key=f"chosen-face-{index}"):  # swapped in the browser as the slider moves
            st.image(chosen[label], caption=plain(caption(sweep, mid_lambda, label, shown_names)), width="stretch")
row = sweep.row(mid_lambda)
# A point of a joined sweep carries its own origin; the judge that scored it is the sweep's unless marked.
origin = row.origin or sweep.origin
badges = [":green-badge[precomputed]" if origin == "precomputed" else f":orange-badge[{TRAINED_HERE}]"]
judge = row.evaluator or sweep.typed.evaluator
if row.other_judge:
    badges.append(f":red-badge[{OTHER_JUDGE}]")
if origin != "precomputed" or row.other_judge:
    st.markdown(" ".join(badges))
if row.other_judge:
    own = sweep.typed.evaluator
    st.warning(f"λ={mid_lambda:g} was scored by another judge than the rest of this sweep (held-out accuracy "
               f"{judge.heldout_accuracy.value:.2f}, a real photo at feature distance "
               f"{judge.real_image_distance.value:.2f}; the sweep's judge: "
               f"{own.heldout_accuracy.value:.2f} and {own.real_image_distance.value:.2f}; one judge "
               "config trained again on another machine gives another judge): its attack figures are not compared "
               "with λ=0's and it stays off the curve. The *Results* selector also lists the sweep as that judge "
               "scored it.")
try:
    sources = loaders.face_sources(sweep, tuple(labels))
except GalleryError as error:
    st.error(plain(error))
    st.stop()
# The cards, the sentence and the chosen faces of every lambda: the browser swaps them as the slider moves.
live_faces(state.LAMBDA_SLIDER, [f"chosen-face-{index}" for index in range(len(labels))], sources,
           {state.lambda_text(value): [caption(sweep, value, label, shown_names) for label in labels]
            for value in sweep.lambdas},
           lambda_panels(sweep), key="faces")
st.caption("Top row: a private training photo; below, the reconstructions at λ=0 and at the chosen λ, with the "
           "judge's probability for the right person and its verdict (✓ it names the right person; ✗ and the name "
           "it gives instead). A change whose 95% interval includes no change is within the noise. Judges make "
           "mistakes both ways: look at the faces.")
with st.expander("Details: which results these are"):
    st.markdown(f"{' '.join(badges)} sweep `{sweep.key}` · model `{sweep.run(mid_lambda).target_key}` · "
                f"judge `{judge.key}` held-out accuracy **{judge.heldout_accuracy.value:.2f}** · "
                f"people shown by default: the first {DEFAULT_PEOPLE} by name")

left, right = st.columns(2)
with left:
    siblings = attack_siblings(sweep, sweeps)
    tradeoff, tradeoff_json, tradeoff_html, spread, spread_json = figures(
        sweep, sweep.version, siblings, tuple(s.version for s in siblings), mid_lambda)
    # The highlight ring (the figure's last trace) follows the slider in the browser at once.
    ring = {"slider": state.LAMBDA_SLIDER, "trace": len(tradeoff.data) - 1, "shown": state.lambda_text(mid_lambda),
            "points": {state.lambda_text(r.lambda_): [r.attack_top1.value, r.test_accuracy.value]
                       for r in sweep.typed.summary}}
    live_plotly_chart(tradeoff, tradeoff_json, "tradeoff", state.lambda_from_chart, ring)
    html, png = st.columns(2)
    html.download_button("Plot as HTML", tradeoff_html,
                         file_name=f"tradeoff_{sweep.key}.html", mime="text/html",
                         help="For reports: opens in any browser, hover and zoom included.")
    if png_export_available():  # drawn on the server only when clicked: it takes a few seconds
        png.download_button("Plot as PNG", lambda: figure_png(tradeoff),
                            file_name=f"tradeoff_{sweep.key}_lambda{mid_lambda:g}.png", mime="image/png",
                            help="For slides: drawn on the server at twice the screen resolution.")
with right:
    if spread is None:
        st.info("This sweep's records predate the prediction-spread figures; run it again to add them.")
    else:
        live_plotly_chart(spread, spread_json, "spread")  # one plotly.js for the page, and no remount either
